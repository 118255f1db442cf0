//! WebSocket framing (RFC 6455): frames, masking, message assembly, close codes.
//!
//! Sans-io: every item here is a pure function or a small state machine over byte buffers.
//!
//! - [`opcode`]: the opcode field and the data/control split (§5.2).
//! - [`close`]: close status codes and the Close frame body (§5.5.1, §7.4).
//! - [`mask`]: payload masking (§5.3).
//! - [`frame`]: the frame header, parsed and written (§5.2).
//! - [`encoder`]: outgoing frames, appended to a buffer or finished in place.
//! - [`utf8`]: incremental, fail-fast UTF-8 validation for text messages (§8.1).
//! - [`decoder`]: the incremental message decoder the engine drives (§5.4, §6.2).
//! - [`error`]: [`ProtocolError`], each variant naming its close code.
//! - [`handshake`]: the opening handshake (§4.2).
//! - [`deflate`]: the permessage-deflate extension (RFC 7692).

pub mod close;
pub mod decoder;
pub mod deflate;
pub mod encoder;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod opcode;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use decoder::{Decoded, Decoder, DecoderConfig, Event, Role};
pub use encoder::{
    ControlPayloadTooLong, encode_binary, encode_close, encode_compressed, encode_frame,
    encode_frame_in_place, encode_ping, encode_pong, encode_text,
};
pub use error::ProtocolError;
pub use frame::{FrameHeader, MAX_CONTROL_PAYLOAD_LEN, MAX_HEADER_LEN, header_len};
pub use mask::apply_mask;
pub use opcode::OpCode;
pub use utf8::Utf8Validator;
