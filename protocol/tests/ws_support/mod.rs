//! Shared helpers of the `ws_*` integration tests: an independent frame writer (written from
//! RFC 6455 §5.2/§5.3 directly, sharing no code with the codec) and a caller loop that drives a
//! `Decoder` the way the engine does.
#![allow(dead_code)]

use imphnen_protocol::ws::{CloseCode, Decoder, DecoderConfig, Event, ProtocolError, Role};

/// An event with owned data, for comparing sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    CompressedText(Vec<u8>),
    CompressedBinary(Vec<u8>),
}

impl Owned {
    /// The bytes a data event carries (what `Decoder::take_message` hands over).
    fn data(&self) -> Option<&[u8]> {
        match self {
            Owned::Text(t) => Some(t.as_bytes()),
            Owned::Binary(d) | Owned::CompressedText(d) | Owned::CompressedBinary(d) => Some(d),
            _ => None,
        }
    }
}

impl From<Event<'_>> for Owned {
    fn from(event: Event<'_>) -> Self {
        match event {
            Event::Text(t) => Owned::Text(t.to_owned()),
            Event::Binary(b) => Owned::Binary(b.to_vec()),
            Event::Ping(p) => Owned::Ping(p.to_vec()),
            Event::Pong(p) => Owned::Pong(p.to_vec()),
            Event::Close(c) => Owned::Close(c.map(|c| (c.code.0, c.reason.to_owned()))),
            Event::CompressedText(d) => Owned::CompressedText(d.to_vec()),
            Event::CompressedBinary(d) => Owned::CompressedBinary(d.to_vec()),
        }
    }
}

/// Writes a frame byte by byte as RFC 6455 §5.2 draws it, always with the minimal length
/// encoding, masking with the naive §5.3 loop. `b0` is the first byte (FIN, RSV, opcode).
pub fn raw_frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len <= 125 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.push((len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(mask_bit | 127);
        for shift in (0..8).rev() {
            out.push((len as u64 >> (8 * shift)) as u8);
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// The first byte of a frame: FIN flag and opcode.
pub fn b0(fin: bool, opcode: u8) -> u8 {
    (if fin { 0x80 } else { 0 }) | opcode
}

pub fn server() -> DecoderConfig {
    DecoderConfig {
        role: Role::Server,
        ..DecoderConfig::default()
    }
}

/// A server that takes every data payload through the message buffer, as the engine does for
/// payloads it keeps.
pub fn buffering_server() -> DecoderConfig {
    DecoderConfig {
        buffer_payloads_from: 0,
        ..server()
    }
}

pub fn client() -> DecoderConfig {
    DecoderConfig {
        role: Role::Client,
        ..DecoderConfig::default()
    }
}

/// Drives a decoder over `chunks` exactly as the engine's read loop does: append the chunk to
/// the buffer, decode until no event, keep the unconsumed tail. Checks the contract's invariants
/// on the way. Returns the events, or the first error (with the events before it).
pub fn feed_chunks<'c>(
    config: DecoderConfig,
    chunks: impl IntoIterator<Item = &'c [u8]>,
) -> (Vec<Owned>, Result<(), ProtocolError>) {
    let mut decoder = Decoder::new(config);
    let mut events = Vec::new();
    let mut buf = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            let len = buf.len() - pos;
            match decoder.decode(&mut buf[pos..]) {
                Err(err) => {
                    // A failed decoder stays failed.
                    assert_eq!(decoder.decode(&mut [0x81, 0x80, 0, 0, 0, 0]), Err(err));
                    return (events, Err(err));
                }
                Ok(decoded) => {
                    assert!(decoded.consumed <= len);
                    let consumed = decoded.consumed;
                    let buffered = decoded.buffered;
                    let event = decoded.event.map(Owned::from);
                    pos += consumed;
                    // Every other event, a buffered event's buffer is handed over whole, as
                    // the engine takes it; in between it is left to the next call to drop, as
                    // every other caller does (a message must not run into the next).
                    if events.len() % 2 == 1 {
                        let taken = decoder.take_message();
                        assert_eq!(taken.is_some(), buffered);
                        if let (Some(taken), Some(event)) = (taken, &event) {
                            assert_eq!(Some(&taken[..]), event.data(), "the buffer handed over");
                        }
                    }
                    match event {
                        Some(event) => events.push(event),
                        None => break,
                    }
                }
            }
        }
        buf.drain(..pos);
        // Only a partial header (< 14 bytes) or a partial control frame (< 2 + 4 + 125 bytes)
        // is ever left over.
        assert!(
            buf.len() < 2 + 4 + 125,
            "{} bytes left unconsumed",
            buf.len()
        );
    }
    (events, Ok(()))
}

/// Feeds `bytes` as one chunk.
pub fn feed(config: DecoderConfig, bytes: &[u8]) -> (Vec<Owned>, Result<(), ProtocolError>) {
    feed_chunks(config, [bytes])
}

/// Feeds `bytes` and expects an error; returns its close code.
pub fn close_code_of(config: DecoderConfig, bytes: &[u8]) -> CloseCode {
    match feed(config, bytes).1 {
        Err(err) => err.close_code(),
        Ok(()) => panic!("expected an error"),
    }
}
