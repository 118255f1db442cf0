//! Response serialization, checked by parsing the output with `httparse::Response`, an
//! independent parser.

use std::time::{Duration, UNIX_EPOCH};

use imphnen_protocol::http::{
    DateCache, HeaderError, HttpError, ResponseWriter, StatusCode, write_chunk, write_continue,
    write_error, write_last_chunk, write_upgrade_required,
};

fn date() -> DateCache {
    DateCache::new(UNIX_EPOCH + Duration::from_secs(784_111_777))
}

/// Parsed response: (code, reason, headers as (lowercase name, value), body after the head).
type Parsed = (u16, String, Vec<(String, String)>, Vec<u8>);

fn parse(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes).expect("valid response") {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => {
            panic!("incomplete response {:?}", String::from_utf8_lossy(bytes))
        }
    };
    let fields = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    (
        response.code.unwrap(),
        response.reason.unwrap().to_owned(),
        fields,
        bytes[len..].to_vec(),
    )
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn small_200_with_date_and_body() {
    let mut out = Vec::new();
    let mut response = ResponseWriter::new(&mut out, StatusCode::OK, &date());
    response.header("Content-Type", b"text/plain").unwrap();
    response.body(b"Hello, World!");
    let (code, reason, fields, body) = parse(&out);
    assert_eq!((code, reason.as_str()), (200, "OK"));
    assert_eq!(
        field(&fields, "date"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(field(&fields, "content-length"), Some("13"));
    assert_eq!(field(&fields, "content-type"), Some("text/plain"));
    assert_eq!(field(&fields, "connection"), None);
    assert_eq!(body, b"Hello, World!");
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn closing_response_says_connection_close_once() {
    let mut out = Vec::new();
    let mut response = ResponseWriter::new(&mut out, StatusCode::NOT_FOUND, &date());
    response.close().close();
    response.body(b"nope");
    let (code, reason, fields, body) = parse(&out);
    assert_eq!((code, reason.as_str()), (404, "Not Found"));
    assert_eq!(fields.iter().filter(|(n, _)| n == "connection").count(), 1);
    assert_eq!(field(&fields, "connection"), Some("close"));
    assert_eq!(body, b"nope");
}

#[test]
fn head_response_has_length_but_no_body() {
    let mut out = Vec::new();
    ResponseWriter::new(&mut out, StatusCode::OK, &date()).head_only(1234);
    let (code, _, fields, body) = parse(&out);
    assert_eq!(code, 200);
    assert_eq!(field(&fields, "content-length"), Some("1234"));
    assert!(body.is_empty());
}

#[test]
fn no_content_has_no_content_length() {
    let mut out = Vec::new();
    ResponseWriter::new(&mut out, StatusCode::NO_CONTENT, &date()).body(b"");
    let (code, _, fields, body) = parse(&out);
    assert_eq!(code, 204);
    assert_eq!(field(&fields, "content-length"), None);
    assert!(body.is_empty());
}

#[test]
fn chunked_response_round_trips_through_our_decoder() {
    let mut out = Vec::new();
    ResponseWriter::new(&mut out, StatusCode::OK, &date()).chunked();
    write_chunk(&mut out, b"Wiki");
    write_chunk(&mut out, b"");
    write_chunk(&mut out, &[b'x'; 300]);
    write_last_chunk(&mut out);
    let (_, _, fields, body) = parse(&out);
    assert_eq!(field(&fields, "transfer-encoding"), Some("chunked"));
    assert!(body.starts_with(b"4\r\nWiki\r\n12c\r\n"));
    assert!(body.ends_with(b"\r\n0\r\n\r\n"));
    let mut decoded = Vec::new();
    let limits = imphnen_protocol::http::Limits::default();
    let progress = imphnen_protocol::http::ChunkedDecoder::new(&limits)
        .decode(&body, &mut decoded)
        .unwrap();
    assert!(progress.done);
    assert_eq!(progress.consumed, body.len());
    assert_eq!(decoded.len(), 304);
}

#[test]
fn header_value_with_crlf_is_refused_and_nothing_written() {
    let mut out = b"previous response".to_vec();
    let mut response = ResponseWriter::new(&mut out, StatusCode::OK, &date());
    assert_eq!(
        response.header("X-Evil", b"a\r\nSet-Cookie: owned").err(),
        Some(HeaderError::InvalidValue)
    );
    assert_eq!(
        response.header("X-Evil", b"a\nb").err(),
        Some(HeaderError::InvalidValue)
    );
    assert_eq!(
        response.header("X-Evil", b"a\0b").err(),
        Some(HeaderError::InvalidValue)
    );
    assert_eq!(
        response.header("Bad Name", b"v").err(),
        Some(HeaderError::InvalidName)
    );
    assert_eq!(
        response.header("X\r\nY", b"v").err(),
        Some(HeaderError::InvalidName)
    );
    assert_eq!(
        response.header("content-length", b"5").err(),
        Some(HeaderError::FramingHeader)
    );
    assert_eq!(
        response.header("Transfer-Encoding", b"chunked").err(),
        Some(HeaderError::FramingHeader)
    );
    response
        .header("X-Fine", b"tab\tand obs-text \xff")
        .unwrap();
    response.body(b"ok");
    let (_, _, fields, body) = parse(&out[b"previous response".len()..]);
    assert_eq!(fields.len(), 3, "{fields:?}");
    assert_eq!(body, b"ok");
}

#[test]
fn abandoned_writer_leaves_buffer_unchanged() {
    let mut out = b"earlier".to_vec();
    {
        let mut response = ResponseWriter::new(&mut out, StatusCode::OK, &date());
        response.header("X", b"y").unwrap();
    }
    assert_eq!(out, b"earlier");
}

#[test]
fn continue_interim_response() {
    let mut out = Vec::new();
    write_continue(&mut out);
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (code, reason, fields, _) = parse(&out);
    assert_eq!((code, reason.as_str(), fields.len()), (100, "Continue", 0));
}

#[test]
fn error_response_for_each_status() {
    for (error, code) in [
        (HttpError::ContentLengthWithTransferEncoding, 400),
        (HttpError::ContentTooLarge, 413),
        (HttpError::UriTooLong, 414),
        (HttpError::TooManyHeaders, 431),
        (HttpError::UnsupportedTransferCoding, 501),
        (HttpError::UnsupportedVersion, 505),
    ] {
        let mut out = Vec::new();
        write_error(&mut out, error, &date());
        let (parsed_code, reason, fields, body) = parse(&out);
        assert_eq!(parsed_code, code);
        assert_eq!(reason, error.status().reason());
        assert_eq!(field(&fields, "content-length"), Some("0"));
        assert_eq!(field(&fields, "connection"), Some("close"));
        assert!(body.is_empty());
    }
}

#[test]
fn upgrade_required_names_version_13() {
    let mut out = Vec::new();
    write_upgrade_required(&mut out, &date());
    let (code, reason, fields, _) = parse(&out);
    assert_eq!((code, reason.as_str()), (426, "Upgrade Required"));
    assert_eq!(field(&fields, "sec-websocket-version"), Some("13"));
    assert_eq!(field(&fields, "upgrade"), Some("websocket"));
    assert_eq!(field(&fields, "content-length"), Some("0"));
}

#[test]
fn out_of_range_status_is_written_as_500() {
    let mut out = Vec::new();
    ResponseWriter::new(&mut out, StatusCode(42), &date()).body(b"");
    assert_eq!(parse(&out).0, 500);
}

#[test]
fn unknown_status_has_empty_reason() {
    let mut out = Vec::new();
    ResponseWriter::new(&mut out, StatusCode(299), &date()).body(b"");
    assert!(out.starts_with(b"HTTP/1.1 299 \r\n"));
    assert_eq!(parse(&out).0, 299);
}
