//! Pipelined requests (RFC 9112 §9.3.2): several requests back to back, decoded one after another
//! using the consumed counts, whatever way the bytes are split on arrival.

use imphnen_protocol::http::{BodyDecoder, HeaderSlots, HttpError, Limits, Parsed, parse_request};
use proptest::prelude::*;

/// What the test keeps of each request: method, target, keep-alive, body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    method: String,
    target: String,
    keep_alive: bool,
    body: Vec<u8>,
}

/// Drive the parser as the engine does: bytes arrive in `pieces`, are appended to a read buffer,
/// and heads and bodies are taken off its front.
fn drive<'p>(pieces: impl IntoIterator<Item = &'p [u8]>) -> Result<Vec<Request>, HttpError> {
    let limits = Limits::default();
    let mut buf = Vec::new();
    let mut requests = Vec::new();
    let mut in_body: Option<(Request, BodyDecoder)> = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            if let Some((request, decoder)) = in_body.as_mut() {
                let progress = decoder.decode(&buf, &mut request.body)?;
                buf.drain(..progress.consumed);
                if !progress.done {
                    break;
                }
                requests.push(in_body.take().unwrap().0);
                continue;
            }
            let mut slots = HeaderSlots::<64>::new();
            let (request, decoder, head_len) = match parse_request(&buf, &mut slots, &limits)? {
                Parsed::Partial => break,
                Parsed::Complete(head, len) => (
                    Request {
                        method: head.method().as_str().to_owned(),
                        target: head.target().to_owned(),
                        keep_alive: head.keep_alive(),
                        body: Vec::new(),
                    },
                    BodyDecoder::new(head.body_framing(), &limits),
                    len,
                ),
            };
            buf.drain(..head_len);
            in_body = Some((request, decoder));
        }
    }
    assert!(
        buf.is_empty() && in_body.is_none(),
        "leftover bytes: {buf:?}"
    );
    Ok(requests)
}

const THREE: &[u8] = b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n\
POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nT: v\r\n\r\n";

fn three_expected() -> Vec<Request> {
    let r = |method: &str, target: &str, keep_alive, body: &[u8]| Request {
        method: method.into(),
        target: target.into(),
        keep_alive,
        body: body.to_vec(),
    };
    vec![
        r("GET", "/one", true, b""),
        r("POST", "/two", true, b"hello"),
        r("POST", "/three", false, b"Wikipedia"),
    ]
}

#[test]
fn three_pipelined_requests_in_one_buffer() {
    assert_eq!(drive([THREE]), Ok(three_expected()));
}

#[test]
fn three_pipelined_requests_byte_by_byte() {
    assert_eq!(drive(THREE.chunks(1)), Ok(three_expected()));
}

/// One generated request and its wire form.
#[derive(Debug, Clone)]
struct Generated {
    expected: Request,
    wire: Vec<u8>,
}

fn request_strategy() -> impl Strategy<Value = Generated> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("PATCH")],
        "/[a-z0-9]{0,12}(\\?[a-z]=[0-9]{1,3})?",
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..200),
        0u8..3, // 0: no body framing (body empty), 1: Content-Length, 2: chunked
        prop::collection::vec(1usize..40, 0..8),
        any::<bool>(),
    )
        .prop_map(
            |(method, target, close, body, framing, chunk_sizes, extras)| {
                let mut wire =
                    format!("{method} {target} HTTP/1.1\r\nHost: example.com\r\n").into_bytes();
                if close {
                    wire.extend_from_slice(b"Connection: close\r\n");
                }
                let body = if framing == 0 { Vec::new() } else { body };
                match framing {
                    0 => wire.extend_from_slice(b"\r\n"),
                    1 => {
                        wire.extend_from_slice(
                            format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                        );
                        wire.extend_from_slice(&body);
                    }
                    _ => {
                        wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                        let mut rest = &body[..];
                        let mut sizes = chunk_sizes.iter().cycle();
                        while !rest.is_empty() {
                            let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
                            let ext = if extras { ";ext=\"v\"" } else { "" };
                            wire.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
                            wire.extend_from_slice(&rest[..n]);
                            wire.extend_from_slice(b"\r\n");
                            rest = &rest[n..];
                        }
                        wire.extend_from_slice(if extras {
                            b"0\r\nX-Trailer: t\r\n\r\n"
                        } else {
                            b"0\r\n\r\n"
                        });
                    }
                }
                Generated {
                    expected: Request {
                        method: method.into(),
                        target,
                        keep_alive: !close,
                        body,
                    },
                    wire,
                }
            },
        )
}

proptest! {
    #[test]
    fn any_split_parses_like_the_whole_buffer(
        requests in prop::collection::vec(request_strategy(), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let stream: Vec<u8> = requests.iter().flat_map(|r| r.wire.iter().copied()).collect();
        let expected: Vec<Request> = requests.into_iter().map(|r| r.expected).collect();
        let whole = drive([&stream[..]]).unwrap();
        prop_assert_eq!(&whole, &expected);

        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let pieces = points.windows(2).map(|w| &stream[w[0]..w[1]]);
        prop_assert_eq!(drive(pieces).unwrap(), expected);
    }
}
