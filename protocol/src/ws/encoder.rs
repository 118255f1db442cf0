//! Frame encoders (RFC 6455 §5.2, §5.3): whole frames appended to a `Vec<u8>`, and a frame
//! finished in place around a payload the caller already wrote.
//!
//! Every function takes `mask: Option<[u8; 4]>`: `None` for frames a server sends (RFC 6455 §5.1:
//! a server MUST NOT mask), `Some(key)` for frames a client sends (a client MUST mask every frame
//! with a fresh, unpredictable key; choosing the key is the caller's job, this module has no
//! randomness). This module owns the byte layout of outgoing frames; when to send them is the
//! engine's concern.

use core::fmt;

use super::close::{CloseFrame, MAX_REASON_LEN};
use super::frame::{FrameHeader, MAX_CONTROL_PAYLOAD_LEN, MAX_HEADER_LEN};
use super::mask::apply_mask;
use super::opcode::OpCode;

/// A Ping, Pong or Close payload longer than the 125 bytes RFC 6455 §5.5 allows. Nothing was
/// written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPayloadTooLong;

impl fmt::Display for ControlPayloadTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("control frame payload longer than 125 bytes")
    }
}

impl std::error::Error for ControlPayloadTooLong {}

/// Appends one frame: header, then `payload` (masked with `mask` if given).
///
/// The caller keeps the rules the decoder checks on the other side: control frames must have
/// `fin` set and at most 125 bytes (use [`encode_ping`], [`encode_pong`], [`encode_close`] to
/// have that checked), and a fragmented message is one Text/Binary frame with `fin == false`
/// followed by Continuation frames, the last with `fin == true`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    write_frame(out, fin, 0, opcode, mask, payload);
}

/// Appends an unfragmented compressed message (RFC 7692 §6): a Text or Binary frame with FIN and
/// RSV1 set, whose payload is the DEFLATE data (tail removed) that
/// [`Deflater::deflate`](super::deflate::Deflater::deflate) wrote.
pub fn encode_compressed(
    out: &mut Vec<u8>,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    deflated: &[u8],
) {
    write_frame(out, true, 0b100, opcode, mask, deflated);
}

fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.reserve(header.encoded_len() + payload.len());
    if header.encoded_len() == 2 {
        // Most frames a server sends (unmasked, at most 125 bytes): the two header bytes are
        // appended as they are, with no zero-fill first.
        out.extend_from_slice(&[header.first_byte(), payload.len() as u8]);
    } else {
        let start = out.len();
        out.resize(start + header.encoded_len(), 0);
        header.write(&mut out[start..]);
    }
    let payload_start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[payload_start..], key, 0);
    }
}

/// Appends an unfragmented Text frame (opcode `%x1`, FIN set).
pub fn encode_text(out: &mut Vec<u8>, mask: Option<[u8; 4]>, text: &str) {
    encode_frame(out, true, OpCode::Text, mask, text.as_bytes());
}

/// Appends an unfragmented Binary frame (opcode `%x2`, FIN set).
pub fn encode_binary(out: &mut Vec<u8>, mask: Option<[u8; 4]>, data: &[u8]) {
    encode_frame(out, true, OpCode::Binary, mask, data);
}

/// Appends a Ping frame (RFC 6455 §5.5.2) carrying `payload` (at most 125 bytes).
pub fn encode_ping(
    out: &mut Vec<u8>,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<(), ControlPayloadTooLong> {
    encode_control(out, OpCode::Ping, mask, payload)
}

/// Appends a Pong frame (RFC 6455 §5.5.3) carrying `payload` (at most 125 bytes); the answer to a
/// Ping echoes the Ping's payload.
pub fn encode_pong(
    out: &mut Vec<u8>,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<(), ControlPayloadTooLong> {
    encode_control(out, OpCode::Pong, mask, payload)
}

/// Appends a Close frame (RFC 6455 §5.5.1): an empty body for `None`, else the status code in
/// network byte order followed by the UTF-8 reason (at most 123 bytes).
///
/// The code is written as given; send only codes for which
/// [`CloseCode::is_sendable`](super::close::CloseCode::is_sendable) holds (to say "no status",
/// pass `None`).
pub fn encode_close(
    out: &mut Vec<u8>,
    mask: Option<[u8; 4]>,
    close: Option<CloseFrame<'_>>,
) -> Result<(), ControlPayloadTooLong> {
    let mut body = [0u8; MAX_CONTROL_PAYLOAD_LEN];
    let len = match close {
        None => 0,
        Some(CloseFrame { code, reason }) => {
            if reason.len() > MAX_REASON_LEN {
                return Err(ControlPayloadTooLong);
            }
            body[..2].copy_from_slice(&code.0.to_be_bytes());
            body[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
            2 + reason.len()
        }
    };
    encode_control(out, OpCode::Close, mask, &body[..len])
}

fn encode_control(
    out: &mut Vec<u8>,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<(), ControlPayloadTooLong> {
    // RFC 6455 §5.5: control frames MUST have a payload length of 125 bytes or less.
    if payload.len() > MAX_CONTROL_PAYLOAD_LEN {
        return Err(ControlPayloadTooLong);
    }
    encode_frame(out, true, opcode, mask, payload);
    Ok(())
}

/// Turns `buf` into a contiguous frame without moving the payload: `buf[..MAX_HEADER_LEN]` is a
/// gap the caller reserved, `buf[MAX_HEADER_LEN..]` the payload it already wrote. Masks the
/// payload in place if `mask` is given, writes the header right-aligned into the gap, and returns
/// the offset where the frame starts: send `buf[start..]`.
///
/// The same caller rules as [`encode_frame`] apply to control frames.
///
/// # Panics
/// If `buf` is shorter than [`MAX_HEADER_LEN`].
pub fn encode_frame_in_place(
    buf: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
) -> usize {
    let (gap, payload) = buf.split_at_mut(MAX_HEADER_LEN);
    if let Some(key) = mask {
        apply_mask(payload, key, 0);
    }
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    header.write_before_payload(gap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::close::CloseCode;

    #[test]
    fn in_place_frame_equals_appended_frame() {
        for len in [0usize, 125, 126, 65535, 65536] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut expected = Vec::new();
                encode_frame(&mut expected, true, OpCode::Binary, mask, &payload);
                let mut buf = vec![0u8; MAX_HEADER_LEN];
                buf.extend_from_slice(&payload);
                let start = encode_frame_in_place(&mut buf, true, OpCode::Binary, mask);
                assert_eq!(buf[start..], expected[..], "len {len} mask {mask:?}");
            }
        }
    }

    #[test]
    fn compressed_hello_is_the_rfc_frame() {
        // RFC 7692 §7.2.3.1.
        let mut out = Vec::new();
        encode_compressed(
            &mut out,
            OpCode::Text,
            None,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        );
        assert_eq!(out, [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    }

    #[test]
    fn oversize_control_payloads_write_nothing() {
        let mut out = Vec::new();
        assert_eq!(
            encode_ping(&mut out, None, &[0; 126]),
            Err(ControlPayloadTooLong)
        );
        let reason = "x".repeat(124);
        let close = CloseFrame {
            code: CloseCode::NORMAL,
            reason: &reason,
        };
        assert_eq!(
            encode_close(&mut out, None, Some(close)),
            Err(ControlPayloadTooLong)
        );
        assert!(out.is_empty());
        encode_pong(&mut out, None, &[0; 125]).unwrap();
        assert_eq!(out.len(), 127);
    }

    #[test]
    fn close_with_code_and_reason() {
        let mut out = Vec::new();
        let close = CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: "bye",
        };
        encode_close(&mut out, None, Some(close)).unwrap();
        assert_eq!(out, [0x88, 0x05, 0x03, 0xe9, b'b', b'y', b'e']);
        out.clear();
        encode_close(&mut out, None, None).unwrap();
        assert_eq!(out, [0x88, 0x00]);
    }
}
