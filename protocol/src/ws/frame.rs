//! The frame header (RFC 6455 §5.2): parsing it from bytes and writing it into bytes.
//!
//! ```text
//!  0               1               2               3
//!  0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! This module owns the header only, as pure functions: [`FrameHeader::parse`] enforces the rules
//! that hold for every frame regardless of context (defined opcode, control frame size and FIN,
//! 64-bit length MSB). Rules that depend on the connection (RSV bits without an extension,
//! masking by role, fragmentation order, size limits) are the decoder's.

use super::error::ProtocolError;
use super::opcode::OpCode;

/// The longest header: 2 bytes, 8 bytes of 64-bit length, 4 bytes of masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// RFC 6455 §5.5: all control frames MUST have a payload length of 125 bytes or less.
pub const MAX_CONTROL_PAYLOAD_LEN: usize = 125;

/// A parsed frame header (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 in the low three bits (RSV1 = `0b100`); zero without extensions.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present iff the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

/// The encoded length of a header for a payload of `payload_len` bytes, using the minimal length
/// encoding (7-bit up to 125, 16-bit up to 65535, else 64-bit), plus 4 bytes if `masked`.
pub const fn header_len(payload_len: u64, masked: bool) -> usize {
    let len_bytes = if payload_len <= 125 {
        0
    } else if payload_len <= 0xffff {
        2
    } else {
        8
    };
    2 + len_bytes + if masked { 4 } else { 0 }
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(Some((header, header_len)))` once the whole header is present, `Ok(None)` if
    /// more bytes are needed, or the rule the header breaks. Errors are reported as soon as the
    /// offending byte is present (an opcode error with only one byte in `buf`). Lengths need not
    /// use the minimal encoding (RFC 6455 §5.2 requires senders to, but receivers need not check).
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = OpCode::from_u8(b0 & 0x0f)?;
        // RFC 6455 §5.5: control frames MUST NOT be fragmented.
        if opcode.is_control() && !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut pos) = match b1 & 0x7f {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
            }
            127 => {
                // RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0. Checked
                // on the first length byte, before the rest arrives.
                if buf.get(2).is_some_and(|b| b & 0x80 != 0) {
                    return Err(ProtocolError::PayloadLengthMsbSet);
                }
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                (u64::from_be_bytes(be), 10)
            }
            len => (u64::from(len), 2),
        };
        // RFC 6455 §5.5: control frames MUST have a payload length of 125 bytes or less.
        if opcode.is_control() && payload_len > MAX_CONTROL_PAYLOAD_LEN as u64 {
            return Err(ProtocolError::ControlFrameTooLong);
        }
        let mask = if masked {
            let Some(bytes) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        } else {
            None
        };
        Ok(Some((
            Self {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// The header's first byte: FIN, RSV1-3 and the opcode (RFC 6455 §5.2).
    pub(crate) fn first_byte(&self) -> u8 {
        (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | u8::from(self.opcode)
    }

    /// The length of this header when written by [`write`](Self::write) (minimal encoding).
    pub const fn encoded_len(&self) -> usize {
        header_len(self.payload_len, self.mask.is_some())
    }

    /// Writes this header at the start of `out` with the minimal length encoding and returns the
    /// number of bytes written ([`encoded_len`](Self::encoded_len)).
    ///
    /// # Panics
    /// If `out` is shorter than [`encoded_len`](Self::encoded_len); [`MAX_HEADER_LEN`] always
    /// suffices.
    pub fn write(&self, out: &mut [u8]) -> usize {
        let len = self.encoded_len();
        let out = &mut out[..len];
        out[0] = self.first_byte();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = 2;
        if self.payload_len <= 125 {
            out[1] = mask_bit | self.payload_len as u8;
        } else if self.payload_len <= 0xffff {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            pos = 4;
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            pos = 10;
        }
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
        }
        len
    }

    /// Writes this header right-aligned into `gap`, the space a caller reserved directly in front
    /// of a payload it has already written, and returns the offset in `gap` where the frame now
    /// starts. Header and payload are then contiguous without moving the payload.
    ///
    /// The usual gap is [`MAX_HEADER_LEN`] bytes: `&mut buf[payload_start - MAX_HEADER_LEN..payload_start]`.
    ///
    /// # Panics
    /// If `gap` is shorter than [`encoded_len`](Self::encoded_len).
    pub fn write_before_payload(&self, gap: &mut [u8]) -> usize {
        let start = gap.len() - self.encoded_len();
        self.write(&mut gap[start..]);
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, payload_len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        }
    }

    #[test]
    fn header_len_switches_encoding_at_126_and_65536() {
        assert_eq!(header_len(0, false), 2);
        assert_eq!(header_len(125, false), 2);
        assert_eq!(header_len(126, false), 4);
        assert_eq!(header_len(65535, false), 4);
        assert_eq!(header_len(65536, false), 10);
        assert_eq!(header_len(u64::MAX >> 1, true), MAX_HEADER_LEN);
    }

    #[test]
    fn every_prefix_of_a_header_needs_more_bytes() {
        let h = header(OpCode::Binary, 70_000, Some([1, 2, 3, 4]));
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.write(&mut buf);
        for cut in 0..n {
            assert_eq!(FrameHeader::parse(&buf[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(FrameHeader::parse(&buf[..n]), Ok(Some((h, n))));
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        // 5 bytes declared with the 16-bit and the 64-bit encoding.
        assert_eq!(
            FrameHeader::parse(&[0x82, 126, 0, 5]),
            Ok(Some((header(OpCode::Binary, 5, None), 4)))
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5]),
            Ok(Some((header(OpCode::Binary, 5, None), 10)))
        );
    }

    #[test]
    fn length_msb_is_rejected_from_its_first_byte() {
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0x80]),
            Err(ProtocolError::PayloadLengthMsbSet)
        );
    }

    #[test]
    fn write_before_payload_right_aligns_the_header() {
        for (len, masked) in [(5u64, false), (300, true), (70_000, false)] {
            let mask = masked.then_some([9, 8, 7, 6]);
            let h = header(OpCode::Text, len, mask);
            let mut gap = [0xaau8; MAX_HEADER_LEN];
            let start = h.write_before_payload(&mut gap);
            assert_eq!(start, MAX_HEADER_LEN - h.encoded_len());
            assert!(gap[..start].iter().all(|&b| b == 0xaa));
            assert_eq!(
                FrameHeader::parse(&gap[start..]),
                Ok(Some((h, h.encoded_len())))
            );
        }
    }
}
