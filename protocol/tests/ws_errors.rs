//! One test per rule the decoder enforces, each asserting the exact close code of the reaction.
//! Frames are written by hand (`ws_support::raw_frame`), independently of the codec's encoder.

mod ws_support;

use imphnen_protocol::ws::{CloseCode, Decoder, DecoderConfig, Event, ProtocolError, Role};
use ws_support::{Owned, b0, client, close_code_of, feed, feed_chunks, raw_frame, server};

const KEY: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(b0, Some(KEY), payload)
}

fn limited(max_payload_length: usize) -> DecoderConfig {
    DecoderConfig {
        role: Role::Server,
        max_payload_length,
        ..DecoderConfig::default()
    }
}

#[test]
fn rsv_bits_without_extension_close_with_1002() {
    for rsv in [0x40, 0x20, 0x10] {
        let frame = masked(0x80 | rsv | TEXT, b"hi");
        assert_eq!(close_code_of(server(), &frame), CloseCode::PROTOCOL_ERROR);
        assert_eq!(
            feed(server(), &frame).1,
            Err(ProtocolError::ReservedBitsSet)
        );
    }
}

fn deflate() -> DecoderConfig {
    DecoderConfig {
        permessage_deflate: true,
        ..server()
    }
}

/// RFC 7692 §7.2.3.1: "Hello" compressed, as the RFC writes it.
const HELLO_DEFLATED: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rsv1_marks_a_compressed_message_once_permessage_deflate_is_negotiated() {
    // RFC 7692 §7.2.3.1 frame `0xc1 0x07 …`, masked as a client sends it.
    let whole = masked(0xc1, &HELLO_DEFLATED);
    assert_eq!(
        feed(deflate(), &whole),
        (vec![Owned::CompressedText(HELLO_DEFLATED.to_vec())], Ok(()))
    );
    // The same split in two frames (§7.2.3.1, second example): RSV1 on the first only, and the
    // compressed bytes are not taken for text before they are inflated.
    let mut split = masked(0x41, &HELLO_DEFLATED[..3]);
    split.extend(masked(0x80, &HELLO_DEFLATED[3..]));
    assert_eq!(
        feed_chunks(deflate(), split.chunks(2)),
        (vec![Owned::CompressedText(HELLO_DEFLATED.to_vec())], Ok(()))
    );
    let binary = masked(0xc2, &HELLO_DEFLATED);
    assert_eq!(
        feed(deflate(), &binary).0,
        vec![Owned::CompressedBinary(HELLO_DEFLATED.to_vec())]
    );
    // Without RSV1 a message is plain, even when the extension is on.
    assert_eq!(
        feed(deflate(), &masked(0x81, b"hi")).0,
        vec![Owned::Text("hi".into())]
    );
}

#[test]
fn rsv1_on_a_continuation_or_control_frame_or_rsv2_closes_with_1002() {
    let mut continuation = masked(0x41, &HELLO_DEFLATED[..3]);
    continuation.extend(masked(0xc0, &HELLO_DEFLATED[3..]));
    let ping = masked(0xc9, b"");
    let rsv2 = masked(0xa1, b"hi");
    let rsv3 = masked(0x91, b"hi");
    for frame in [continuation, ping, rsv2, rsv3] {
        assert_eq!(close_code_of(deflate(), &frame), CloseCode::PROTOCOL_ERROR);
        assert_eq!(
            feed(deflate(), &frame).1,
            Err(ProtocolError::ReservedBitsSet)
        );
    }
}

#[test]
fn reserved_opcode_closes_with_1002_from_the_first_byte() {
    for op in (3..=7).chain(0xb..=0xf) {
        // Only the first byte has arrived: the error must not wait for the rest.
        let mut decoder = Decoder::new(server());
        let err = decoder.decode(&mut [0x80 | op]).unwrap_err();
        assert_eq!(err, ProtocolError::ReservedOpCode(op));
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn control_frame_over_125_bytes_closes_with_1002() {
    // A ping declaring 126 bytes (16-bit length), header only.
    let header = [0x89, 0x80 | 126, 0x00, 126, 1, 2, 3, 4];
    assert_eq!(close_code_of(server(), &header), CloseCode::PROTOCOL_ERROR);
    assert_eq!(
        feed(server(), &header).1,
        Err(ProtocolError::ControlFrameTooLong)
    );
}

#[test]
fn fragmented_control_frame_closes_with_1002() {
    let frame = masked(b0(false, PING), b"x");
    assert_eq!(close_code_of(server(), &frame), CloseCode::PROTOCOL_ERROR);
    assert_eq!(
        feed(server(), &frame).1,
        Err(ProtocolError::FragmentedControlFrame)
    );
}

#[test]
fn continuation_without_message_closes_with_1002() {
    let frame = masked(b0(true, CONT), b"lo");
    assert_eq!(close_code_of(server(), &frame), CloseCode::PROTOCOL_ERROR);
    assert_eq!(
        feed(server(), &frame).1,
        Err(ProtocolError::UnexpectedContinuation)
    );
}

#[test]
fn continuation_after_finished_message_closes_with_1002() {
    let wire = [
        masked(b0(true, TEXT), b"done"),
        masked(b0(true, CONT), b"more"),
    ]
    .concat();
    let (events, result) = feed(server(), &wire);
    assert_eq!(events, [Owned::Text("done".into())]);
    assert_eq!(result, Err(ProtocolError::UnexpectedContinuation));
}

#[test]
fn new_data_frame_during_fragmented_message_closes_with_1002() {
    for op in [TEXT, BINARY] {
        let wire = [masked(b0(false, TEXT), b"Hel"), masked(b0(true, op), b"lo")].concat();
        assert_eq!(close_code_of(server(), &wire), CloseCode::PROTOCOL_ERROR);
        assert_eq!(
            feed(server(), &wire).1,
            Err(ProtocolError::ExpectedContinuation)
        );
    }
}

#[test]
fn unmasked_client_frame_closes_with_1002() {
    let frame = raw_frame(b0(true, TEXT), None, b"Hello");
    assert_eq!(close_code_of(server(), &frame), CloseCode::PROTOCOL_ERROR);
    assert_eq!(feed(server(), &frame).1, Err(ProtocolError::UnmaskedFrame));
}

#[test]
fn masked_server_frame_closes_with_1002() {
    let frame = masked(b0(true, TEXT), b"Hello");
    assert_eq!(close_code_of(client(), &frame), CloseCode::PROTOCOL_ERROR);
    assert_eq!(feed(client(), &frame).1, Err(ProtocolError::MaskedFrame));
}

#[test]
fn payload_length_msb_set_closes_with_1002() {
    let header = [0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
    assert_eq!(close_code_of(server(), &header), CloseCode::PROTOCOL_ERROR);
    assert_eq!(
        feed(server(), &header).1,
        Err(ProtocolError::PayloadLengthMsbSet)
    );
}

#[test]
fn oversize_frame_closes_with_1009_before_payload_arrives() {
    // Header only: 1025 bytes declared against a 1024-byte limit.
    let header = [0x82, 0x80 | 126, 0x04, 0x01, 1, 2, 3, 4];
    assert_eq!(
        close_code_of(limited(1024), &header),
        CloseCode::MESSAGE_TOO_BIG
    );
    assert_eq!(
        feed(limited(1024), &header).1,
        Err(ProtocolError::MessageTooBig)
    );
}

#[test]
fn huge_64_bit_length_closes_with_1009_without_allocating() {
    // 2^62 bytes declared with the default 16 MiB limit.
    let header = [0x82, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(close_code_of(server(), &header), CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn message_of_exactly_max_payload_length_is_accepted() {
    let payload = vec![7u8; 1024];
    let frame = masked(b0(true, BINARY), &payload);
    assert_eq!(
        feed(limited(1024), &frame),
        (vec![Owned::Binary(payload)], Ok(()))
    );
}

#[test]
fn oversize_fragmented_message_closes_with_1009_at_the_fragment_that_crosses_the_limit() {
    let first = masked(b0(false, BINARY), &[1; 600]);
    // The second fragment's header alone is enough to refuse it: 600 + 500 > 1024.
    let second_header = &masked(b0(true, CONT), &[2; 500])[..8];
    let wire = [&first[..], second_header].concat();
    assert_eq!(
        close_code_of(limited(1024), &wire),
        CloseCode::MESSAGE_TOO_BIG
    );
    // 600 + 424 = 1024 fits.
    let fits = [first, masked(b0(true, CONT), &[2; 424])].concat();
    let (events, result) = feed(limited(1024), &fits);
    assert_eq!(result, Ok(()));
    assert!(matches!(&events[..], [Owned::Binary(b)] if b.len() == 1024));
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    let frame = masked(b0(true, TEXT), b"caf\xc3\x28");
    assert_eq!(close_code_of(server(), &frame), CloseCode::INVALID_PAYLOAD);
    assert_eq!(feed(server(), &frame).1, Err(ProtocolError::InvalidUtf8));
}

#[test]
fn invalid_utf8_fails_mid_frame_before_the_payload_completes() {
    // Autobahn 6.x: `F4 90` (above U+10FFFF) and `ED A0` (surrogate) must fail as soon as seen,
    // though the frame declares 1000 bytes and only 10 of them have arrived.
    for bad in [&b"\xf4\x90"[..], b"\xed\xa0"] {
        let mut payload = b"abcdefgh".to_vec();
        payload.extend_from_slice(bad);
        payload.resize(1000, b'z');
        let frame = masked(b0(true, TEXT), &payload);
        let partial = &frame[..8 + 10];
        assert_eq!(feed(server(), partial).1, Err(ProtocolError::InvalidUtf8));
    }
}

#[test]
fn invalid_utf8_split_across_fragments_closes_with_1007() {
    // `E2 82 AC` is '€'; `E2 82` then `28` is not UTF-8.
    let wire = [
        masked(b0(false, TEXT), b"x\xe2\x82"),
        masked(b0(true, CONT), b"("),
    ]
    .concat();
    assert_eq!(close_code_of(server(), &wire), CloseCode::INVALID_PAYLOAD);
    let valid = [
        masked(b0(false, TEXT), b"x\xe2\x82"),
        masked(b0(true, CONT), b"\xac"),
    ]
    .concat();
    assert_eq!(
        feed(server(), &valid),
        (vec![Owned::Text("x€".into())], Ok(()))
    );
}

#[test]
fn text_message_ending_mid_code_point_closes_with_1007() {
    let wire = [
        masked(b0(false, TEXT), b"x"),
        masked(b0(true, CONT), b"\xe2\x82"),
    ]
    .concat();
    assert_eq!(close_code_of(server(), &wire), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn one_byte_close_body_closes_with_1002() {
    let frame = masked(b0(true, CLOSE), &[0x03]);
    assert_eq!(close_code_of(server(), &frame), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn invalid_close_codes_close_with_1002() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let frame = masked(b0(true, CLOSE), &code.to_be_bytes());
        assert_eq!(
            feed(server(), &frame).1,
            Err(ProtocolError::InvalidCloseCode(code))
        );
        assert_eq!(close_code_of(server(), &frame), CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn valid_close_codes_are_delivered() {
    for code in [1000u16, 1003, 1007, 1014, 3000, 4999] {
        let body = [&code.to_be_bytes()[..], b"bye"].concat();
        let frame = masked(b0(true, CLOSE), &body);
        assert_eq!(
            feed(server(), &frame),
            (vec![Owned::Close(Some((code, "bye".into())))], Ok(()))
        );
    }
    let empty = masked(b0(true, CLOSE), &[]);
    assert_eq!(feed(server(), &empty), (vec![Owned::Close(None)], Ok(())));
}

#[test]
fn non_utf8_close_reason_closes_with_1007() {
    let frame = masked(b0(true, CLOSE), b"\x03\xe8\xce\xba\xff");
    assert_eq!(close_code_of(server(), &frame), CloseCode::INVALID_PAYLOAD);
    assert_eq!(
        feed(server(), &frame).1,
        Err(ProtocolError::InvalidCloseReason)
    );
}

#[test]
fn decoder_stays_failed_after_an_error() {
    let mut decoder = Decoder::new(server());
    let mut bad = raw_frame(b0(true, TEXT), None, b"x");
    assert_eq!(decoder.decode(&mut bad), Err(ProtocolError::UnmaskedFrame));
    let mut good = masked(b0(true, TEXT), b"fine");
    assert_eq!(decoder.decode(&mut good), Err(ProtocolError::UnmaskedFrame));
}

#[test]
fn control_frames_between_fragments_are_returned_right_away() {
    let wire = [
        masked(b0(false, TEXT), b"Hel"),
        masked(b0(true, PING), b"p1"),
        masked(b0(false, CONT), b""),
        masked(b0(true, 0xa), b"p2"),
        masked(b0(true, CONT), b"lo"),
    ]
    .concat();
    let expected = vec![
        Owned::Ping(b"p1".to_vec()),
        Owned::Pong(b"p2".to_vec()),
        Owned::Text("Hello".into()),
    ];
    assert_eq!(feed(server(), &wire), (expected.clone(), Ok(())));
    assert_eq!(feed_chunks(server(), wire.chunks(1)), (expected, Ok(())));
}

#[test]
fn partial_control_frame_stays_unconsumed_and_untouched() {
    let frame = masked(b0(true, PING), b"ping!");
    let mut partial = frame[..frame.len() - 1].to_vec();
    let before = partial.clone();
    let mut decoder = Decoder::new(server());
    let decoded = decoder.decode(&mut partial).unwrap();
    assert_eq!((decoded.consumed, decoded.event), (0, None));
    assert_eq!(
        partial, before,
        "a partial control frame must not be unmasked"
    );
    let mut whole = frame.clone();
    let decoded = decoder.decode(&mut whole).unwrap();
    assert_eq!(decoded.consumed, frame.len());
    assert_eq!(decoded.event, Some(Event::Ping(b"ping!")));
}

#[test]
fn partial_data_frame_payload_is_consumed_into_the_message_buffer() {
    let frame = masked(b0(true, BINARY), &[5; 100]);
    let mut decoder = Decoder::new(server());
    let mut first = frame[..50].to_vec();
    let decoded = decoder.decode(&mut first).unwrap();
    assert_eq!((decoded.consumed, decoded.event), (50, None));
    assert!(decoder.is_mid_message());
    let mut rest = frame[50..].to_vec();
    let decoded = decoder.decode(&mut rest).unwrap();
    assert_eq!(decoded.consumed, frame.len() - 50);
    assert_eq!(decoded.event, Some(Event::Binary(&[5; 100])));
    assert!(!decoder.is_mid_message());
}
