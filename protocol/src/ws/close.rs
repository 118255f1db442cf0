//! Close status codes and the Close frame body (RFC 6455 §5.5.1, §7.4).
//!
//! This module owns which status codes may travel on the wire and how a Close body is parsed and
//! laid out. It does not own the closing handshake itself (who answers what, and when): that is
//! the engine's duty.

use core::fmt;

use super::error::ProtocolError;

/// A close status code (RFC 6455 §7.4). Any `u16` is representable; [`is_sendable`]
/// says whether it may appear in a Close frame.
///
/// [`is_sendable`]: CloseCode::is_sendable
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure; the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, browser navigating away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the endpoint cannot accept this type of data (e.g. text-only endpoint got binary).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: reserved; stands for "no status code was present". Never sent on the wire.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: reserved; stands for "closed without a Close frame". Never sent on the wire.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a message's data is inconsistent with its type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message is too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: (client) the server did not negotiate an extension the client requires.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: (server) an unexpected condition prevented the server from fulfilling the request.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later; temporary overload (IANA registry).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway or proxy received an invalid response from upstream (IANA registry).
    pub const BAD_GATEWAY: Self = Self(1014);

    /// Whether this code may appear in a Close frame, sent or received (RFC 6455 §7.4).
    ///
    /// Valid: 1000–1003, 1007–1014 (defined or IANA-registered), 3000–3999 (libraries and
    /// frameworks) and 4000–4999 (private use). Invalid: below 1000, 1004 (reserved), 1005, 1006
    /// and 1015 (reserved for local use, never on the wire), 1016–2999 (reserved for future
    /// protocol revisions) and 5000 and above. Receiving an invalid one is a protocol error (1002).
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The body of a Close frame that carries a status code (RFC 6455 §5.5.1).
///
/// A Close frame with an empty body has no `CloseFrame`; see [`CloseFrame::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code: the first two bytes of the body, in network byte order.
    pub code: CloseCode,
    /// The reason: the rest of the body, UTF-8, possibly empty, at most 123 bytes on the wire.
    pub reason: &'a str,
}

/// RFC 6455 §5.5: a control frame payload is at most 125 bytes; the code takes 2 of them.
pub const MAX_REASON_LEN: usize = 123;

impl<'a> CloseFrame<'a> {
    /// Parses the (unmasked) payload of a Close frame.
    ///
    /// An empty body is allowed and yields `Ok(None)` (the peer gave no status code, which the
    /// application sees as [`CloseCode::NO_STATUS`]). A body of one byte is a protocol error
    /// (1002), as is a code that [`is_sendable`](CloseCode::is_sendable) rejects; a reason that is
    /// not UTF-8 is an invalid payload (1007).
    pub fn parse(payload: &'a [u8]) -> Result<Option<Self>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::CloseFrameTooShort),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(Some(Self { code, reason }))
            }
        }
    }

    /// The length of this body on the wire: 2 bytes of code plus the reason.
    pub fn encoded_len(&self) -> usize {
        2 + self.reason.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_codes_match_rfc_6455_section_7_4() {
        // Ground truth written out as the RFC and the IANA registry list them.
        let valid: Vec<u16> = [1000, 1001, 1002, 1003]
            .into_iter()
            .chain(1007..=1014)
            .chain(3000..=4999)
            .collect();
        for code in 0..=u16::MAX {
            assert_eq!(
                CloseCode(code).is_sendable(),
                valid.contains(&code),
                "code {code}"
            );
        }
    }

    #[test]
    fn empty_close_body_has_no_status() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
    }

    #[test]
    fn one_byte_close_body_is_1002() {
        assert_eq!(
            CloseFrame::parse(&[0x03]),
            Err(ProtocolError::CloseFrameTooShort)
        );
    }

    #[test]
    fn close_body_with_code_and_reason() {
        assert_eq!(
            CloseFrame::parse(b"\x03\xe8bye"),
            Ok(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "bye"
            }))
        );
    }

    #[test]
    fn reserved_close_codes_are_1002() {
        for code in [
            0u16,
            999,
            1004,
            1005,
            1006,
            1015,
            1016,
            2999,
            5000,
            u16::MAX,
        ] {
            let body = code.to_be_bytes();
            assert_eq!(
                CloseFrame::parse(&body),
                Err(ProtocolError::InvalidCloseCode(code))
            );
        }
    }

    #[test]
    fn non_utf8_close_reason_is_1007() {
        let err = CloseFrame::parse(b"\x03\xe8\xff").unwrap_err();
        assert_eq!(err, ProtocolError::InvalidCloseReason);
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }
}
