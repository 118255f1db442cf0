//! RFC 6455 §5.7 examples, byte for byte: decoding (in every role the example applies to) and
//! encoding must match the bytes printed in the RFC.

mod ws_support;

use imphnen_protocol::ws::{
    Decoder, Event, OpCode, encode_binary, encode_frame, encode_ping, encode_pong, encode_text,
};
use ws_support::{Owned, client, feed, feed_chunks, server};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Decodes `bytes` whole and one byte at a time; both must give exactly `expected`.
fn assert_decodes(config: imphnen_protocol::ws::DecoderConfig, bytes: &[u8], expected: &[Owned]) {
    assert_eq!(feed(config, bytes), (expected.to_vec(), Ok(())));
    let bytewise = feed_chunks(config, bytes.chunks(1));
    assert_eq!(bytewise, (expected.to_vec(), Ok(())));
}

#[test]
fn single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_decodes(client(), &wire, &[Owned::Text("Hello".into())]);
    let mut out = Vec::new();
    encode_text(&mut out, None, "Hello");
    assert_eq!(out, wire);
}

#[test]
fn single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_decodes(server(), &wire, &[Owned::Text("Hello".into())]);
    let mut out = Vec::new();
    encode_text(&mut out, Some(KEY), "Hello");
    assert_eq!(out, wire);
}

#[test]
fn single_frame_text_is_returned_zero_copy_and_unmasked_in_place() {
    let mut wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let range = wire.as_ptr_range();
    let mut decoder = Decoder::new(server());
    let decoded = decoder.decode(&mut wire).unwrap();
    assert_eq!(decoded.consumed, 11);
    let Some(Event::Text(text)) = decoded.event else {
        panic!("expected text")
    };
    assert!(range.contains(&text.as_ptr()), "text must borrow the input");
    assert_eq!(&wire[6..], b"Hello");
}

#[test]
fn fragmented_unmasked_text() {
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let second = [0x80, 0x02, 0x6c, 0x6f];
    let wire = [&first[..], &second[..]].concat();
    assert_decodes(client(), &wire, &[Owned::Text("Hello".into())]);
    // Split exactly between the two frames: the first yields no event, only consumption.
    let (events, result) = feed_chunks(client(), [&first[..], &second[..]]);
    assert_eq!(
        (events, result),
        (vec![Owned::Text("Hello".into())], Ok(()))
    );

    let mut out = Vec::new();
    encode_frame(&mut out, false, OpCode::Text, None, b"Hel");
    assert_eq!(out, first);
    out.clear();
    encode_frame(&mut out, true, OpCode::Continuation, None, b"lo");
    assert_eq!(out, second);
}

#[test]
fn unmasked_ping() {
    let wire = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_decodes(client(), &wire, &[Owned::Ping(b"Hello".to_vec())]);
    let mut out = Vec::new();
    encode_ping(&mut out, None, b"Hello").unwrap();
    assert_eq!(out, wire);
}

#[test]
fn masked_pong() {
    let wire = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_decodes(server(), &wire, &[Owned::Pong(b"Hello".to_vec())]);
    let mut out = Vec::new();
    encode_pong(&mut out, Some(KEY), b"Hello").unwrap();
    assert_eq!(out, wire);
}

#[test]
fn binary_256_bytes_uses_16_bit_length() {
    let payload: Vec<u8> = (0..=255u8).collect();
    let wire = [&[0x82, 0x7e, 0x01, 0x00][..], &payload].concat();
    assert_decodes(client(), &wire, &[Owned::Binary(payload.clone())]);
    let mut out = Vec::new();
    encode_binary(&mut out, None, &payload);
    assert_eq!(out, wire);
}

#[test]
fn binary_64_kib_uses_64_bit_length() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let header = [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    let wire = [&header[..], &payload].concat();
    assert_eq!(
        feed(client(), &wire),
        (vec![Owned::Binary(payload.clone())], Ok(()))
    );
    // In 1000-byte reads: the payload is assembled in the decoder's buffer.
    assert_eq!(
        feed_chunks(client(), wire.chunks(1000)),
        (vec![Owned::Binary(payload.clone())], Ok(()))
    );
    let mut out = Vec::new();
    encode_binary(&mut out, None, &payload);
    assert_eq!(out, wire);
}

#[test]
fn masked_binary_64_kib_in_odd_reads() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i * 31 % 256) as u8).collect();
    let wire = ws_support::raw_frame(0x82, Some(KEY), &payload);
    let mut out = Vec::new();
    encode_binary(&mut out, Some(KEY), &payload);
    assert_eq!(out, wire);
    for size in [1usize, 3, 13, 4097] {
        assert_eq!(
            feed_chunks(server(), wire.chunks(size)),
            (vec![Owned::Binary(payload.clone())], Ok(()))
        );
    }
}
