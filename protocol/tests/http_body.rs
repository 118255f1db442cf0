//! Body decoding against raw bytes (RFC 9112 §6.2, §7.1), one test per refusal with its status.

use imphnen_protocol::http::{
    BodyDecoder, BodyFraming, ChunkedDecoder, HttpError, LengthDecoder, Limits, MAX_CHUNK_LINE,
};

/// Decode a whole chunked body in one call: (body, consumed).
fn chunked(input: &[u8]) -> Result<(Vec<u8>, usize), HttpError> {
    chunked_with(input, &Limits::default())
}

fn chunked_with(input: &[u8], limits: &Limits) -> Result<(Vec<u8>, usize), HttpError> {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut out = Vec::new();
    let progress = decoder.decode(input, &mut out)?;
    assert!(
        progress.done,
        "body not finished: {:?}",
        String::from_utf8_lossy(input)
    );
    Ok((out, progress.consumed))
}

/// Feed a chunked body one byte at a time.
fn chunked_bytewise(input: &[u8]) -> Result<(Vec<u8>, usize), HttpError> {
    let mut decoder = ChunkedDecoder::new(&Limits::default());
    let mut out = Vec::new();
    let mut consumed = 0;
    for byte in input.chunks(1) {
        let progress = decoder.decode(byte, &mut out)?;
        consumed += progress.consumed;
        if progress.done {
            break;
        }
    }
    Ok((out, consumed))
}

fn status(input: &[u8]) -> u16 {
    match ChunkedDecoder::new(&Limits::default()).decode(input, &mut Vec::new()) {
        Err(e) => e.status().as_u16(),
        Ok(p) => panic!("expected an error, got {p:?}"),
    }
}

#[test]
fn wikipedia_example() {
    let input = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
    assert_eq!(chunked(input), Ok((b"Wikipedia".to_vec(), input.len())));
    assert_eq!(
        chunked_bytewise(input),
        Ok((b"Wikipedia".to_vec(), input.len()))
    );
}

#[test]
fn hex_sizes_any_case_with_leading_zeros() {
    let input = b"00A\r\n0123456789\r\n1f\r\n0123456789012345678901234567890\r\n0000\r\n\r\n";
    let (body, _) = chunked(input).unwrap();
    assert_eq!(body.len(), 10 + 31);
}

#[test]
fn chunk_extensions_are_ignored() {
    let input =
        b"4;name=value\r\nWiki\r\n5 ; a ; b = \"q \\\" s;\" ;c=d\r\npedia\r\n0;last\r\n\r\n";
    assert_eq!(chunked(input), Ok((b"Wikipedia".to_vec(), input.len())));
    assert_eq!(
        chunked_bytewise(input),
        Ok((b"Wikipedia".to_vec(), input.len()))
    );
}

#[test]
fn trailers_are_discarded() {
    let input = b"4\r\nWiki\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum:\tabc \r\n\r\n";
    assert_eq!(chunked(input), Ok((b"Wiki".to_vec(), input.len())));
    assert_eq!(chunked_bytewise(input), Ok((b"Wiki".to_vec(), input.len())));
}

#[test]
fn bytes_after_the_body_are_not_consumed() {
    let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    assert_eq!(chunked(input), Ok((b"abc".to_vec(), 13)));
}

#[test]
fn decoder_after_done_consumes_nothing() {
    let mut decoder = ChunkedDecoder::new(&Limits::default());
    let mut out = Vec::new();
    decoder.decode(b"0\r\n\r\n", &mut out).unwrap();
    let progress = decoder.decode(b"more", &mut out).unwrap();
    assert_eq!((progress.consumed, progress.done), (0, true));
}

#[test]
fn bad_chunk_size_is_400() {
    assert_eq!(status(b"x\r\nWiki\r\n0\r\n\r\n"), 400);
    assert_eq!(status(b"4x\r\nWiki\r\n0\r\n\r\n"), 400);
    assert_eq!(status(b"-4\r\nWiki\r\n0\r\n\r\n"), 400);
    assert_eq!(status(b"0x4\r\nWiki\r\n0\r\n\r\n"), 400);
}

#[test]
fn empty_chunk_size_is_400() {
    assert_eq!(status(b"\r\nWiki\r\n0\r\n\r\n"), 400);
    assert_eq!(status(b";ext\r\nWiki\r\n"), 400);
}

#[test]
fn chunk_size_overflow_is_400() {
    assert_eq!(status(b"10000000000000000\r\n"), 400);
    assert_eq!(
        ChunkedDecoder::new(&Limits::default()).decode(b"10000000000000000\r\n", &mut Vec::new()),
        Err(HttpError::ChunkSizeOverflow)
    );
}

#[test]
fn bare_lf_in_chunk_line_is_400() {
    assert_eq!(status(b"4\nWiki\r\n0\r\n\r\n"), 400);
    assert_eq!(status(b"4;a=b\nWiki\r\n0\r\n\r\n"), 400);
    assert_eq!(status(b"4\r\nWiki\r\n0\n\r\n"), 400);
}

#[test]
fn bare_lf_after_chunk_data_is_400() {
    assert_eq!(status(b"4\r\nWiki\n0\r\n\r\n"), 400);
}

#[test]
fn missing_crlf_after_chunk_data_is_400() {
    assert_eq!(status(b"4\r\nWikipedia\r\n0\r\n\r\n"), 400);
}

#[test]
fn bare_lf_in_trailer_is_400() {
    assert_eq!(status(b"0\r\nX: y\n\r\n"), 400);
    assert_eq!(status(b"0\r\n\n"), 400);
}

#[test]
fn malformed_chunk_extension_is_400() {
    for input in [
        &b"4;\r\nWiki\r\n"[..],
        b"4;=v\r\nWiki\r\n",
        b"4;a=\r\nWiki\r\n",
        b"4;a=\"open\r\nWiki\r\n",
        b"4;a b\r\nWiki\r\n",
        b"4;a=b c\r\nWiki\r\n",
        b"4;a\x00\r\nWiki\r\n",
    ] {
        assert_eq!(status(input), 400, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn overlong_chunk_line_is_400() {
    let mut input = b"4;a=".to_vec();
    input.resize(MAX_CHUNK_LINE + 10, b'b');
    assert_eq!(status(&input), 400);
    // endless leading zeros are bounded too
    assert_eq!(status(&vec![b'0'; MAX_CHUNK_LINE + 1]), 400);
}

#[test]
fn malformed_trailer_is_400() {
    assert_eq!(status(b"0\r\nNo colon here\r\n\r\n"), 400);
    assert_eq!(status(b"0\r\n: empty name\r\n\r\n"), 400);
    // obs-fold in the trailer section
    assert_eq!(status(b"0\r\nX: a\r\n b\r\n\r\n"), 400);
}

#[test]
fn oversize_trailer_is_431() {
    let limits = Limits {
        max_head_size: 32,
        ..Limits::default()
    };
    let mut input = b"0\r\nX: ".to_vec();
    input.extend_from_slice(&[b'a'; 40]);
    input.extend_from_slice(b"\r\n\r\n");
    let result = ChunkedDecoder::new(&limits).decode(&input, &mut Vec::new());
    assert_eq!(result.map_err(|e| e.status().as_u16()), Err(431));
}

#[test]
fn chunked_body_over_limit_is_413_before_the_data() {
    let limits = Limits {
        max_body_size: 8,
        ..Limits::default()
    };
    assert_eq!(
        chunked_with(b"4\r\nWiki\r\n4\r\nWiki\r\n0\r\n\r\n", &limits).map(|r| r.0),
        Ok(b"WikiWiki".to_vec())
    );
    let mut decoder = ChunkedDecoder::new(&limits);
    let mut out = Vec::new();
    // The size line alone triggers the refusal; no data of the oversize chunk is buffered.
    let result = decoder.decode(b"4\r\nWiki\r\n5\r\n", &mut out);
    assert_eq!(result.map_err(|e| e.status().as_u16()), Err(413));
    assert_eq!(out, b"Wiki");
}

#[test]
fn errors_are_sticky() {
    let mut decoder = ChunkedDecoder::new(&Limits::default());
    assert!(decoder.decode(b"z", &mut Vec::new()).is_err());
    assert_eq!(
        decoder.decode(b"0\r\n\r\n", &mut Vec::new()),
        Err(HttpError::InvalidChunkSize)
    );
}

#[test]
fn length_decoder_takes_exactly_its_length() {
    let mut decoder = LengthDecoder::new(5);
    let (data, progress) = decoder.take(b"hel");
    assert_eq!(
        (data, progress.consumed, progress.done),
        (&b"hel"[..], 3, false)
    );
    let (data, progress) = decoder.take(b"loGET");
    assert_eq!(
        (data, progress.consumed, progress.done),
        (&b"lo"[..], 2, true)
    );
}

#[test]
fn body_decoder_for_no_body_is_done_at_once() {
    let mut decoder = BodyDecoder::new(BodyFraming::None, &Limits::default());
    assert!(decoder.is_done());
    let progress = decoder.decode(b"GET", &mut Vec::new()).unwrap();
    assert_eq!((progress.consumed, progress.done), (0, true));
}
