//! The permessage-deflate extension (RFC 7692): negotiated in the opening handshake, then each
//! data message may be sent compressed, marked by RSV1 on its first frame.
//!
//! - [`mod@negotiate`]: offers in, the agreed parameters and the response header out.
//! - [`codec`]: compressing and decompressing one message, with the output bounded.
//!
//! The framing rules (RSV1 only on the first frame of a data message) are the decoder's
//! ([`DecoderConfig::permessage_deflate`](super::DecoderConfig::permessage_deflate)).

pub mod codec;
pub mod negotiate;

pub use codec::{Deflater, InflateError, Inflater, TAIL};
pub use negotiate::{Agreement, DeflateOffer, DeflatePolicy, negotiate};
