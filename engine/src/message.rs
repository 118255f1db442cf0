//! `Message`: one complete WebSocket data message (RFC 6455 §5.6), text or binary.
//!
//! A payload of up to [`INLINE`] bytes is held inline, so receiving or sending a short message
//! allocates nothing; a longer one lives in a reference-counted buffer, cheap to clone, send to
//! many connections or keep past the handler call. Text messages are UTF-8 by construction: the
//! decoder validated what arrived, and the constructors only take `str`/`String`.

use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// A WebSocket data message: text (valid UTF-8) or binary.
///
/// ```
/// use imphnen_engine::Message;
/// let m = Message::from("hello");
/// assert!(m.is_text());
/// assert_eq!(m.as_text(), Some("hello"));
/// assert_eq!(m.to_string(), "hello");
/// let b = Message::from(vec![1u8, 2, 3]);
/// assert_eq!(b.as_bytes(), &[1, 2, 3]);
/// ```
#[derive(Clone)]
pub struct Message {
    kind: Kind,
    /// The sender's choice for permessage-deflate; `None`: by size.
    compress: Option<bool>,
    payload: Payload,
}

/// Payloads up to this many bytes are held inline (chat lines, commands, acknowledgements).
const INLINE: usize = 30;

/// Received payloads from this many bytes on are unmasked straight into a buffer the message
/// keeps (`DecoderConfig::buffer_payloads_from`); shorter ones are copied inline.
pub(crate) const KEPT_FROM: usize = INLINE + 1;

/// Where a message's bytes live.
#[derive(Clone)]
enum Payload {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Bytes),
}

impl Payload {
    /// A copy of `bytes`: inline when short enough.
    fn copy_of(bytes: &[u8]) -> Payload {
        if bytes.len() <= INLINE {
            let mut inline = [0; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Payload::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            Payload::Shared(Bytes::copy_from_slice(bytes))
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Inline { len, bytes } => &bytes[..*len as usize],
            Payload::Shared(b) => b,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Text,
    Binary,
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Message {
            kind: Kind::Text,
            compress: None,
            payload: Payload::Shared(Bytes::from(text.into().into_bytes())),
        }
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Message {
            kind: Kind::Binary,
            compress: None,
            payload: Payload::Shared(bytes.into()),
        }
    }

    /// A text message copied from a string slice.
    pub(crate) fn text_from_str(text: &str) -> Self {
        Message::copied(true, text.as_bytes())
    }

    /// A binary message copied from a slice.
    pub(crate) fn binary_from_slice(bytes: &[u8]) -> Self {
        Message::copied(false, bytes)
    }

    /// A message copied from `payload`: `text` only for UTF-8 (a `str`, or a payload the
    /// decoder unmasked in the received bytes and validated).
    #[inline]
    pub(crate) fn copied(text: bool, payload: &[u8]) -> Self {
        debug_assert!(!text || std::str::from_utf8(payload).is_ok());
        Message {
            kind: if text { Kind::Text } else { Kind::Binary },
            compress: None,
            payload: Payload::copy_of(payload),
        }
    }

    /// A message whose payload the decoder assembled in a buffer of its own and handed over
    /// (`Decoder::take_message`): kept as it is, not copied. `text` only for a payload the
    /// decoder validated as UTF-8.
    pub(crate) fn from_decoder_buffer(text: bool, payload: Vec<u8>) -> Self {
        let payload = if payload.len() <= INLINE {
            // A short message assembled from fragments (or cut by a receive) is held inline.
            Payload::copy_of(&payload)
        } else {
            Payload::Shared(Bytes::from(payload))
        };
        Message {
            kind: if text { Kind::Text } else { Kind::Binary },
            compress: None,
            payload,
        }
    }

    /// This message, to be compressed or not where permessage-deflate is negotiated, whatever
    /// its size (Bun's `ws.send(message, compress)`): `true` compresses it even when it is
    /// shorter than `compress_min_size`, `false` sends it as it is. Without this the engine
    /// compresses messages of at least `compress_min_size` bytes. Equality ignores the choice.
    ///
    /// ```
    /// use imphnen_engine::Message;
    /// let tiny = Message::from("ok").with_compression(true);
    /// assert_eq!(tiny, Message::from("ok"));
    /// ```
    pub fn with_compression(mut self, compress: bool) -> Message {
        self.compress = Some(compress);
        self
    }

    /// Whether this message is to be compressed on a connection that negotiated
    /// permessage-deflate, by the sender's choice or else by size.
    pub(crate) fn wants_compression(&self, min_size: usize) -> bool {
        self.compress.unwrap_or(self.len() >= min_size)
    }

    /// The opcode of this message's frame (RFC 6455 §5.6).
    pub(crate) fn opcode(&self) -> imphnen_protocol::ws::OpCode {
        match self.kind {
            Kind::Text => imphnen_protocol::ws::OpCode::Text,
            Kind::Binary => imphnen_protocol::ws::OpCode::Binary,
        }
    }

    /// `true` for a text message.
    pub fn is_text(&self) -> bool {
        self.kind == Kind::Text
    }

    /// `true` for a binary message.
    pub fn is_binary(&self) -> bool {
        self.kind == Kind::Binary
    }

    /// The text of a text message; `None` for a binary message.
    pub fn as_text(&self) -> Option<&str> {
        match self.kind {
            // SAFETY: text payloads are only ever built from `str`/`String` or from bytes the
            // RFC 6455 decoder validated as UTF-8 (see the constructors above, the callers of
            // `from_decoder_buffer`, and of `copied` with `text`: `core/input.rs` copies the
            // payload `proto/ws.rs` reports as validated from where it reports it).
            Kind::Text => Some(unsafe { std::str::from_utf8_unchecked(self.payload.as_slice()) }),
            Kind::Binary => None,
        }
    }

    /// The payload bytes, for either kind.
    pub fn as_bytes(&self) -> &[u8] {
        self.payload.as_slice()
    }

    /// The payload as a shared buffer (no copy, except for a short payload held inline).
    pub fn into_bytes(self) -> Bytes {
        match self.payload {
            Payload::Inline { .. } => Bytes::copy_from_slice(self.payload.as_slice()),
            Payload::Shared(b) => b,
        }
    }

    /// The payload's shared buffer; `None` for a short payload held inline.
    pub(crate) fn shared_payload(&self) -> Option<&Bytes> {
        match &self.payload {
            Payload::Inline { .. } => None,
            Payload::Shared(b) => Some(b),
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// `true` when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Equal when kind and bytes are, however the bytes are held.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Message {}

impl Hash for Message {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.as_bytes().hash(state);
    }
}

/// Text messages display as their text; binary ones as lossy UTF-8 (like `Buffer.toString()`).
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(t) => f.write_str(t),
            None => f.write_str(&String::from_utf8_lossy(self.as_bytes())),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(t) => f.debug_tuple("Text").field(&t).finish(),
            None => f.debug_tuple("Binary").field(&self.len()).finish(),
        }
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::text_from_str(s)
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::text(s)
    }
}

impl From<&String> for Message {
    fn from(s: &String) -> Self {
        Message::text_from_str(s)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::binary(b)
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::binary_from_slice(b)
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::binary(b)
    }
}

impl From<&Message> for Message {
    fn from(m: &Message) -> Self {
        m.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    use bytes::Bytes;

    use super::{INLINE, Message};

    fn hash(m: &Message) -> u64 {
        let mut h = DefaultHasher::new();
        m.hash(&mut h);
        h.finish()
    }

    #[test]
    fn inline_and_shared_payloads_are_the_same_message() {
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 4096] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let copied = Message::binary_from_slice(&bytes); // inline up to INLINE
            let shared = Message::binary(Bytes::from(bytes.clone())); // always shared
            assert_eq!(copied, shared, "len {len}");
            assert_eq!(hash(&copied), hash(&shared), "len {len}");
            assert_eq!(copied.as_bytes(), &bytes[..]);
            assert_eq!(copied.len(), len);
            assert_eq!(copied.clone().into_bytes(), Bytes::from(bytes));
        }
        let text = "héllo wörld";
        assert_eq!(Message::from(text), Message::text(text.to_owned()));
        assert_eq!(Message::from(text).as_text(), Some(text));
        assert_ne!(Message::from("ab"), Message::from(&b"ab"[..]));
    }
}
