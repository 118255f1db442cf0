//! `Message`: one complete WebSocket data message (RFC 6455 §5.6), text or binary.
//!
//! Owns its payload in a reference-counted buffer so a message is cheap to clone and can be sent to
//! many connections or kept past the handler call. Text messages are UTF-8 by construction: the
//! decoder validated what arrived, and the constructors only take `str`/`String`.

use std::fmt;

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
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Message {
    kind: Kind,
    payload: Bytes,
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
            payload: Bytes::from(text.into().into_bytes()),
        }
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Message {
            kind: Kind::Binary,
            payload: bytes.into(),
        }
    }

    /// A text message copied from a string slice the decoder already validated.
    pub(crate) fn text_from_str(text: &str) -> Self {
        Message {
            kind: Kind::Text,
            payload: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    /// A binary message copied from a slice.
    pub(crate) fn binary_from_slice(bytes: &[u8]) -> Self {
        Message {
            kind: Kind::Binary,
            payload: Bytes::copy_from_slice(bytes),
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
            // RFC 6455 decoder validated as UTF-8 (see the constructors above).
            Kind::Text => Some(unsafe { std::str::from_utf8_unchecked(&self.payload) }),
            Kind::Binary => None,
        }
    }

    /// The payload bytes, for either kind.
    pub fn as_bytes(&self) -> &[u8] {
        &self.payload
    }

    /// The payload as a shared buffer (no copy).
    pub fn into_bytes(self) -> Bytes {
        self.payload
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// `true` when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }
}

/// Text messages display as their text; binary ones as lossy UTF-8 (like `Buffer.toString()`).
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(t) => f.write_str(t),
            None => f.write_str(&String::from_utf8_lossy(&self.payload)),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(t) => f.debug_tuple("Text").field(&t).finish(),
            None => f.debug_tuple("Binary").field(&self.payload.len()).finish(),
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
