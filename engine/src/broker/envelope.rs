//! The envelope around a message that crosses the broker: which node published it, its place in
//! that node's sequence for the topic, and whether it is text or binary. The topic itself is the
//! broker channel's name.
//!
//! Layout, integers big-endian:
//!
//! ```text
//! 0      4        5      6         14        22
//! | \0IMP | version | kind | node id | sequence | payload ...
//! ```
//!
//! `kind` is 1 for text, 2 for binary. A payload without this header was published by something
//! that is not an imphnen node (a backend's `PUBLISH` from redis-cli, say); it is delivered as it
//! is, as text when it is UTF-8 and as binary otherwise.

/// The first bytes of every envelope.
const MAGIC: &[u8; 4] = b"\0IMP";
/// The layout this node writes and reads.
const VERSION: u8 = 1;
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 22;

const TEXT: u8 = 1;
const BINARY: u8 = 2;

/// What a node's header says about the payload behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The publishing node.
    pub(crate) node: u64,
    /// The message's place among that node's messages to this topic, from 1.
    pub(crate) seq: u64,
    /// Text (a WebSocket text message) rather than binary.
    pub(crate) text: bool,
}

impl Header {
    /// Appends the header's bytes to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(if self.text { TEXT } else { BINARY });
        out.extend_from_slice(&self.node.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
    }
}

/// How a payload read from the broker is to be taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// A node's envelope: the header, and the payload from [`HEADER_LEN`] on.
    Node(Header),
    /// No envelope: the whole payload is the message.
    Foreign,
    /// An envelope of a layout this node does not know, or a kind it does not know.
    Unknown,
}

/// Reads the envelope at the start of `bytes`, if there is one.
pub(crate) fn read(bytes: &[u8]) -> Received {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Received::Foreign;
    }
    let text = match (bytes[4], bytes[5]) {
        (VERSION, TEXT) => true,
        (VERSION, BINARY) => false,
        _ => return Received::Unknown,
    };
    let node = u64::from_be_bytes(bytes[6..14].try_into().expect("eight bytes"));
    let seq = u64::from_be_bytes(bytes[14..22].try_into().expect("eight bytes"));
    Received::Node(Header { node, seq, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_the_documented_layout() {
        let mut out = Vec::new();
        Header {
            node: 0x0102_0304_0506_0708,
            seq: 9,
            text: true,
        }
        .write(&mut out);
        out.extend_from_slice(b"hi");
        assert_eq!(
            out,
            b"\0IMP\x01\x01\x01\x02\x03\x04\x05\x06\x07\x08\0\0\0\0\0\0\0\x09hi"
        );
        assert_eq!(
            read(&out),
            Received::Node(Header {
                node: 0x0102_0304_0506_0708,
                seq: 9,
                text: true
            })
        );
    }

    #[test]
    fn payloads_without_the_magic_are_foreign() {
        assert_eq!(read(b"hello from redis-cli"), Received::Foreign);
        assert_eq!(read(b"\0IMP"), Received::Foreign);
        let mut future = b"\0IMP\x02\x01".to_vec();
        future.extend_from_slice(&[0; 16]);
        assert_eq!(read(&future), Received::Unknown);
        let mut odd_kind = b"\0IMP\x01\x07".to_vec();
        odd_kind.extend_from_slice(&[0; 16]);
        assert_eq!(read(&odd_kind), Received::Unknown);
    }
}
