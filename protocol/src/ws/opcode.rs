//! Frame opcodes (RFC 6455 §5.2, §11.8): the six defined values and the data/control split.
//!
//! This module owns the 4-bit opcode field only; which opcode may follow which is the decoder's
//! concern.

use super::error::ProtocolError;

/// The opcode of a frame (RFC 6455 §5.2). Reserved values are not representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// `%x0`: a continuation frame of a fragmented message.
    Continuation = 0x0,
    /// `%x1`: the first frame of a text message (UTF-8 payload).
    Text = 0x1,
    /// `%x2`: the first frame of a binary message.
    Binary = 0x2,
    /// `%x8`: a connection close (RFC 6455 §5.5.1).
    Close = 0x8,
    /// `%x9`: a ping (RFC 6455 §5.5.2).
    Ping = 0x9,
    /// `%xA`: a pong (RFC 6455 §5.5.3).
    Pong = 0xA,
}

impl OpCode {
    /// Whether this is a control frame opcode (RFC 6455 §5.5: the most significant opcode bit
    /// is set).
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// Whether this is a data frame opcode: Continuation, Text or Binary (RFC 6455 §5.6).
    pub const fn is_data(self) -> bool {
        !self.is_control()
    }

    /// Parses the low 4 bits of `value`; reserved opcodes are a protocol error (close 1002).
    pub const fn from_u8(value: u8) -> Result<Self, ProtocolError> {
        Ok(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            // RFC 6455 §5.2: %x3-7 and %xB-F are reserved; receiving one fails the connection.
            other => return Err(ProtocolError::ReservedOpCode(other)),
        })
    }
}

impl TryFrom<u8> for OpCode {
    type Error = ProtocolError;

    fn try_from(value: u8) -> Result<Self, ProtocolError> {
        Self::from_u8(value)
    }
}

impl From<OpCode> for u8 {
    fn from(op: OpCode) -> u8 {
        op as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_4_bit_value_is_defined_or_reserved() {
        for v in 0u8..16 {
            let defined = matches!(v, 0 | 1 | 2 | 8 | 9 | 10);
            match OpCode::try_from(v) {
                Ok(op) => {
                    assert!(defined);
                    assert_eq!(u8::from(op), v);
                    assert_eq!(op.is_control(), v >= 8);
                }
                Err(e) => {
                    assert!(!defined);
                    assert_eq!(e, ProtocolError::ReservedOpCode(v));
                }
            }
        }
    }
}
