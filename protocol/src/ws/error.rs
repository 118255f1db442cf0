//! Errors of the RFC 6455 codec, one variant per rule a peer can break.
//!
//! Every variant names the wire reaction: [`ProtocolError::close_code`] is the status code the
//! endpoint sends in its Close frame before failing the connection (RFC 6455 §7.1.7, §7.4.1).
//! This module owns the error type only; the rules themselves live where they are checked
//! (`frame.rs`, `close.rs`, `decoder.rs`).

use core::fmt;

use super::close::CloseCode;

/// A violation of RFC 6455 by the peer, detected while decoding its frames.
///
/// The decoder that returned it stays failed: the only correct reaction is to send a Close frame
/// with [`close_code`](Self::close_code) and close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// RFC 6455 §5.2: an RSV bit is set that no negotiated extension defines for this frame (RFC
    /// 7692 §6: RSV1 only on the first frame of a data message, once permessage-deflate is
    /// negotiated). Close 1002.
    ReservedBitsSet,
    /// RFC 6455 §5.2: the opcode is one of the reserved values 0x3–0x7 or 0xB–0xF. Close 1002.
    ReservedOpCode(u8),
    /// RFC 6455 §5.5: a control frame declares a payload longer than 125 bytes. Close 1002.
    ControlFrameTooLong,
    /// RFC 6455 §5.5: a control frame has FIN clear (control frames MUST NOT be fragmented).
    /// Close 1002.
    FragmentedControlFrame,
    /// RFC 6455 §5.4: a continuation frame arrived while no fragmented message was in progress.
    /// Close 1002.
    UnexpectedContinuation,
    /// RFC 6455 §5.4: a new Text or Binary frame arrived while a fragmented message was still
    /// waiting for its continuation frames. Close 1002.
    ExpectedContinuation,
    /// RFC 6455 §5.1: a server received a frame from its client without a masking key. Close 1002.
    UnmaskedFrame,
    /// RFC 6455 §5.1: a client received a masked frame from its server. Close 1002.
    MaskedFrame,
    /// RFC 6455 §5.2: the most significant bit of a 64-bit payload length is set. Close 1002.
    PayloadLengthMsbSet,
    /// RFC 6455 §7.4.1: a frame, or the message it belongs to, is longer than the configured
    /// `max_payload_length`. Decided from the frame header, before its payload is buffered.
    /// Close 1009.
    MessageTooBig,
    /// RFC 6455 §8.1: a text message is not valid UTF-8 (detected at the first byte that cannot
    /// begin or continue a valid sequence). Close 1007.
    InvalidUtf8,
    /// RFC 6455 §5.5.1: a Close frame body of exactly one byte (too short for a status code).
    /// Close 1002.
    CloseFrameTooShort,
    /// RFC 6455 §7.4: a Close frame carries a status code that may not appear on the wire.
    /// Close 1002.
    InvalidCloseCode(u16),
    /// RFC 6455 §5.5.1: the reason in a Close frame is not valid UTF-8. Close 1007.
    InvalidCloseReason,
}

impl ProtocolError {
    /// The status code to send in the Close frame that answers this error (RFC 6455 §7.4.1).
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            Self::InvalidUtf8 | Self::InvalidCloseReason => CloseCode::INVALID_PAYLOAD,
            Self::ReservedBitsSet
            | Self::ReservedOpCode(_)
            | Self::ControlFrameTooLong
            | Self::FragmentedControlFrame
            | Self::UnexpectedContinuation
            | Self::ExpectedContinuation
            | Self::UnmaskedFrame
            | Self::MaskedFrame
            | Self::PayloadLengthMsbSet
            | Self::CloseFrameTooShort
            | Self::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedBitsSet => {
                f.write_str("RSV bits set that no negotiated extension defines")?
            }
            Self::ReservedOpCode(op) => write!(f, "reserved opcode {op:#x}")?,
            Self::ControlFrameTooLong => {
                f.write_str("control frame payload longer than 125 bytes")?
            }
            Self::FragmentedControlFrame => f.write_str("fragmented control frame")?,
            Self::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")?
            }
            Self::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is in progress")?
            }
            Self::UnmaskedFrame => f.write_str("unmasked frame from a client")?,
            Self::MaskedFrame => f.write_str("masked frame from a server")?,
            Self::PayloadLengthMsbSet => {
                f.write_str("most significant bit of the 64-bit payload length is set")?
            }
            Self::MessageTooBig => f.write_str("message longer than max_payload_length")?,
            Self::InvalidUtf8 => f.write_str("text message is not valid UTF-8")?,
            Self::CloseFrameTooShort => f.write_str("close frame body of one byte")?,
            Self::InvalidCloseCode(code) => {
                write!(f, "close code {code} is not allowed on the wire")?
            }
            Self::InvalidCloseReason => f.write_str("close reason is not valid UTF-8")?,
        }
        write!(f, " (close {})", self.close_code().0)
    }
}

impl std::error::Error for ProtocolError {}
