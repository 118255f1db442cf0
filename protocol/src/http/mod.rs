//! HTTP/1.1 message layer (RFC 9112, semantics from RFC 9110), sans-io.
//!
//! The engine drives it like this, for each request on a connection:
//! 1. [`parse_request`] on the read buffer with fresh [`HeaderSlots`] and the [`Limits`]:
//!    `Partial` → read more; `Err(e)` → [`write_error`] and close; `Complete(head, len)` → go on.
//! 2. If [`RequestHead::expects_continue`], [`write_continue`] before reading the body.
//! 3. A [`BodyDecoder`] for [`RequestHead::body_framing`] consumes the body from the bytes after
//!    the head; what it leaves unconsumed is the next pipelined request.
//! 4. A [`ResponseWriter`] writes the response into the write buffer, with the `Date` from a
//!    [`DateCache`] updated once per loop turn; `Connection: close` when
//!    [`RequestHead::keep_alive`] is false.
//!
//! Every [`HttpError`] means: answer with its status, then close the connection.
//!
//! Files: `limits.rs` (bounds), `status.rs` (codes), `error.rs` (refusals), `headers.rs` (field
//! access), `request.rs` (head parsing), `framing.rs` (body length and smuggling defences),
//! `body.rs` (body decoders), `date.rs` (`Date` value), `response.rs` (serialization). The
//! WebSocket opening handshake built on top lives in [`crate::ws::handshake`].

mod body;
mod date;
mod error;
mod framing;
mod headers;
mod limits;
mod request;
mod response;
mod status;

pub use body::{BodyDecoder, BodyProgress, ChunkedDecoder, LengthDecoder, MAX_CHUNK_LINE};
pub use date::{DateCache, IMF_FIXDATE_LEN, imf_fixdate};
pub use error::HttpError;
pub use framing::BodyFraming;
pub use headers::{HeaderField, HeaderSlots, Headers};
pub use limits::Limits;
pub use request::{Method, Parsed, RequestHead, Version, parse_request};
pub use response::{
    HeaderError, ResponseWriter, write_chunk, write_continue, write_empty_closing, write_error,
    write_last_chunk, write_service_unavailable, write_upgrade_required,
};
pub use status::StatusCode;
