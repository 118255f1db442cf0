//! Fuzzes the RFC 6455 frame decoder (`imphnen_protocol::ws`).
//!
//! Input layout: byte 0 chooses how many chunk sizes follow (0-7) and, in bit 3, whether
//! permessage-deflate was negotiated; the next bytes are those sizes, the rest is the byte
//! stream a client sent. Compressed messages are inflated with the output capped, as the engine
//! does: the output never passes the cap by more than one chunk, and an error is an error. The stream is fed to a server-role `Decoder` once
//! whole and once in those chunks, through the same read loop the engine uses. Invariants:
//! no panic; `consumed <= input.len()`; only a partial header or a partial control frame is ever
//! left unconsumed; both feeds yield the same events and the same error; and every header that
//! `FrameHeader::parse` accepts writes back to the same bytes when its length used the minimal
//! encoding (else to a header that parses back equal).
#![no_main]

use imphnen_protocol::ws::deflate::{InflateError, Inflater};
use imphnen_protocol::ws::{
    Decoder, DecoderConfig, Event, FrameHeader, MAX_HEADER_LEN, ProtocolError, Role,
};
use libfuzzer_sys::fuzz_target;

const MAX_PAYLOAD: usize = 64 << 10;

#[derive(Debug, PartialEq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Inflated(bool, Result<Vec<u8>, InflateError>),
}

fn owned(event: Event<'_>, inflater: &mut Inflater) -> Owned {
    let mut inflate = |text: bool, data: &[u8]| {
        let mut out = Vec::new();
        let result = inflater.inflate(data, MAX_PAYLOAD, &mut out);
        assert!(out.len() <= MAX_PAYLOAD + 16 * 1024 + 1, "inflated past the cap");
        Owned::Inflated(text, result.map(|()| out))
    };
    match event {
        Event::CompressedText(d) => inflate(true, d),
        Event::CompressedBinary(d) => inflate(false, d),
        Event::Text(t) => Owned::Text(t.to_owned()),
        Event::Binary(b) => Owned::Binary(b.to_vec()),
        Event::Ping(p) => Owned::Ping(p.to_vec()),
        Event::Pong(p) => Owned::Pong(p.to_vec()),
        Event::Close(c) => Owned::Close(c.map(|c| (c.code.0, c.reason.to_owned()))),
    }
}

/// Drives a decoder over `chunks` like the engine's read loop; returns the events and whether
/// it ended in an error (and which).
fn run<'c>(
    chunks: impl Iterator<Item = &'c [u8]>,
    permessage_deflate: bool,
) -> (Vec<Owned>, Option<ProtocolError>) {
    let config = DecoderConfig {
        role: Role::Server,
        max_payload_length: MAX_PAYLOAD,
        permessage_deflate,
        // As the engine sets it: payloads past a short one go through the message buffer.
        buffer_payloads_from: 31,
    };
    let mut decoder = Decoder::new(config);
    // Context kept between messages, as the dedicated mode does.
    let mut inflater = Inflater::new(15, false);
    let mut events = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            let len = buf.len() - pos;
            match decoder.decode(&mut buf[pos..]) {
                Err(err) => {
                    assert_eq!(
                        decoder.decode(&mut buf[pos..]),
                        Err(err),
                        "a failed decoder stays failed"
                    );
                    return (events, Some(err));
                }
                Ok(decoded) => {
                    assert!(decoded.consumed <= len, "consumed past the input");
                    pos += decoded.consumed;
                    let buffered = decoded.buffered;
                    match decoded.event {
                        Some(event) => {
                            events.push(owned(event, &mut inflater));
                        }
                        None => break,
                    }
                    assert_eq!(
                        decoder.take_message().is_some(),
                        buffered,
                        "a buffered event's buffer, and only its, is handed over"
                    );
                }
            }
        }
        buf.drain(..pos);
        check_leftover(&buf);
    }
    (events, None)
}

/// Unconsumed bytes are only ever a partial header or a partial control frame.
fn check_leftover(left: &[u8]) {
    if left.is_empty() {
        return;
    }
    match FrameHeader::parse(left) {
        Ok(None) => assert!(left.len() < MAX_HEADER_LEN),
        Ok(Some((header, header_len))) => {
            assert!(
                header.opcode.is_control(),
                "a data frame was left unconsumed"
            );
            assert!((left.len() as u64) < header_len as u64 + header.payload_len);
            assert!(left.len() < MAX_HEADER_LEN + 125);
        }
        Err(err) => panic!("left bytes that do not parse: {err}"),
    }
}

/// Writing a parsed header gives back its bytes (minimal length encoding) or an equal header.
fn check_header_round_trip(bytes: &[u8]) {
    let Ok(Some((header, header_len))) = FrameHeader::parse(bytes) else {
        return;
    };
    let mut out = [0u8; MAX_HEADER_LEN];
    let n = header.write(&mut out);
    assert_eq!(n, header.encoded_len());
    if n == header_len {
        assert_eq!(
            &out[..n],
            &bytes[..header_len],
            "minimal header must re-encode identically"
        );
    } else {
        assert!(n < header_len, "only a non-minimal header can be longer");
        assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((header, n))));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(first % 8).min(rest.len());
    let deflate = first & 8 != 0;
    let (sizes, stream) = rest.split_at(n);

    for start in 0..stream.len().min(64) {
        check_header_round_trip(&stream[start..]);
    }

    let whole = run(std::iter::once(stream), deflate);

    let mut chunks = Vec::new();
    let mut remaining = stream;
    for &size in sizes {
        let (chunk, tail) = remaining.split_at(usize::from(size).min(remaining.len()));
        chunks.push(chunk);
        remaining = tail;
    }
    chunks.push(remaining);
    let split = run(chunks.into_iter(), deflate);

    assert_eq!(whole, split, "splitting the stream changed the outcome");
});
