//! Hostile HTTP/1.1 input over raw TCP: slow heads, oversized heads, ambiguous framing and
//! malformed chunks each get their status (408, 431, 414, 400) and cost only the sender's
//! connection; pipelined and chunked requests from well-behaved peers still work.

mod abuse_support;

use std::io::Write;
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use abuse_support::{Served, small_config};
use imphnen::{App, Config, Ctx};

fn app(config: Config) -> App {
    let mut app = App::new(config);
    app.get("/", |_ctx: Ctx| "root");
    app.get("/n/:n", |ctx: Ctx| {
        format!("n={}", ctx.param("n").unwrap_or_default())
    });
    app.post("/len", |ctx: Ctx| format!("{}", ctx.body().bytes().len()));
    app
}

fn served() -> Served {
    Served::start(app(small_config()))
}

/// The server still answers a fresh, well-formed request (the abuse cost nothing else).
fn still_serves(server: &Served) {
    let mut raw = server.raw();
    raw.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (status, _, body) = raw.response().expect("a response to a normal request");
    assert_eq!((status, body.as_slice()), (200, &b"root"[..]));
}

fn refused_with(server: &Served, request: &[u8], expected: u16) {
    let mut raw = server.raw();
    // The server may answer before the whole request is written; a failed write is fine.
    let _ = raw.send(request);
    let (status, head, _) = raw.response().expect("an error response");
    assert_eq!(status, expected, "{head}");
    raw.expect_closed(Duration::from_secs(3));
    still_serves(server);
}

#[test]
fn head_trickled_byte_by_byte_is_cut_off_after_the_request_timeout() {
    let mut config = small_config();
    config.http.request_timeout = Duration::from_millis(600);
    config.http.keep_alive_timeout = Duration::from_secs(30);
    let server = Served::start(app(config));
    let mut raw = server.raw();
    let mut writer = raw.stream.try_clone().unwrap();
    let start = Instant::now();
    // One byte every 50 ms of a head that never ends, for at most 5 s.
    let trickler = thread::spawn(move || {
        let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ";
        let bytes = head.iter().copied().chain(std::iter::repeat(b'a'));
        for b in bytes {
            if writer.write_all(&[b]).is_err() || start.elapsed() > Duration::from_secs(5) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    // Either a 408 arrives and the connection closes, or the connection just closes.
    if let Ok((status, head, _)) = raw.response() {
        assert_eq!(status, 408, "{head}");
    }
    raw.expect_closed(Duration::from_secs(3));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(4500),
        "cut off after {took:?}, request_timeout is 600 ms"
    );
    let _ = raw.stream.shutdown(Shutdown::Both);
    trickler.join().unwrap();
    still_serves(&server);
}

#[test]
fn body_trickled_byte_by_byte_is_cut_off_after_the_request_timeout() {
    let mut config = small_config();
    config.http.request_timeout = Duration::from_millis(600);
    let server = Served::start(app(config));
    let mut raw = server.raw();
    raw.send(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    let mut writer = raw.stream.try_clone().unwrap();
    let start = Instant::now();
    let trickler = thread::spawn(move || {
        for _ in 0..100 {
            if writer.write_all(b"x").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    if let Ok((status, head, _)) = raw.response() {
        assert_eq!(status, 408, "{head}");
    }
    raw.expect_closed(Duration::from_secs(3));
    let took = start.elapsed();
    assert!(took < Duration::from_millis(4500), "cut off after {took:?}");
    let _ = raw.stream.shutdown(Shutdown::Both);
    trickler.join().unwrap();
    still_serves(&server);
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let mut config = small_config();
    config.http.keep_alive_timeout = Duration::from_millis(400);
    let server = Served::start(app(config));
    let mut raw = server.raw();
    raw.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(raw.response().unwrap().0, 200);
    let took = raw.expect_closed(Duration::from_secs(3));
    assert!(took < Duration::from_millis(1500), "closed after {took:?}");
}

#[test]
fn connection_that_never_sends_a_byte_is_closed_after_the_keep_alive_timeout() {
    let mut config = small_config();
    config.http.keep_alive_timeout = Duration::from_millis(400);
    let server = Served::start(app(config));
    let mut silent: Vec<_> = (0..50).map(|_| server.raw()).collect();
    for raw in &mut silent {
        let took = raw.expect_closed(Duration::from_secs(3));
        assert!(took < Duration::from_millis(2500), "closed after {took:?}");
    }
    still_serves(&server);
}

#[test]
fn header_flood_gets_431() {
    let server = served();
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..500 {
        req.extend_from_slice(format!("X-Flood-{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    refused_with(&server, &req, 431);
}

#[test]
fn header_line_longer_than_the_head_limit_gets_431() {
    let server = served();
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ".to_vec();
    req.resize(req.len() + 64 * 1024, b'a');
    req.extend_from_slice(b"\r\n\r\n");
    refused_with(&server, &req, 431);
}

#[test]
fn endless_header_line_without_newline_gets_431() {
    let server = served();
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ".to_vec();
    req.resize(req.len() + 40 * 1024, b'b');
    refused_with(&server, &req, 431);
}

#[test]
fn request_target_longer_than_the_limit_gets_414() {
    let server = served();
    let req = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "p".repeat(9000));
    refused_with(&server, req.as_bytes(), 414);
}

#[test]
fn content_length_with_transfer_encoding_gets_400() {
    let server = served();
    refused_with(
        &server,
        b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn two_different_content_lengths_get_400() {
    let server = served();
    refused_with(
        &server,
        b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn non_hex_chunk_size_gets_400() {
    let server = served();
    refused_with(
        &server,
        b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn negative_chunk_size_gets_400() {
    let server = served();
    refused_with(
        &server,
        b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn overflowing_chunk_size_is_refused() {
    let server = served();
    let mut raw = server.raw();
    let _ = raw.send(
        b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    );
    let (status, head, _) = raw.response().expect("an error response");
    // Too large to represent (400) or over the body limit (413): both refuse before buffering.
    assert!(status == 400 || status == 413, "{head}");
    raw.expect_closed(Duration::from_secs(3));
    still_serves(&server);
}

#[test]
fn chunk_data_longer_than_its_size_gets_400() {
    let server = served();
    refused_with(
        &server,
        b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn content_length_over_the_body_limit_gets_413_before_the_body() {
    let server = served();
    refused_with(
        &server,
        b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n\r\n",
        413,
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = served();
    let mut raw = server.raw();
    let mut req = Vec::new();
    for i in 0..20 {
        req.extend_from_slice(format!("GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    req.extend_from_slice(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    req.extend_from_slice(b"GET /n/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    raw.send(&req).unwrap();
    for i in 0..20 {
        let (status, _, body) = raw.response().unwrap();
        assert_eq!(
            (status, String::from_utf8(body).unwrap()),
            (200, format!("n={i}"))
        );
    }
    assert_eq!(raw.response().unwrap().2, b"3");
    let (_, head, body) = raw.response().unwrap();
    assert_eq!(body, b"n=last");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    raw.expect_closed(Duration::from_secs(3));
}

#[test]
fn pipelined_requests_split_at_every_byte_are_answered() {
    let server = served();
    let mut raw = server.raw();
    let req = b"GET /n/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /n/2 HTTP/1.1\r\nHost: t\r\n\r\n";
    for b in req {
        raw.send(&[*b]).unwrap();
    }
    assert_eq!(raw.response().unwrap().2, b"n=1");
    assert_eq!(raw.response().unwrap().2, b"n=2");
}

#[test]
fn chunked_upload_in_small_writes_reaches_the_handler_whole() {
    let server = served();
    let mut raw = server.raw();
    raw.send(b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let mut total = 0;
    for size in [1usize, 10, 100, 1000, 10_000, 100_000] {
        raw.send(format!("{size:x}\r\n").as_bytes()).unwrap();
        raw.send(&vec![b'x'; size]).unwrap();
        raw.send(b"\r\n").unwrap();
        total += size;
    }
    raw.send(b"0\r\nX-Trailer: yes\r\n\r\n").unwrap();
    let (status, _, body) = raw.response().unwrap();
    assert_eq!(
        (status, String::from_utf8(body).unwrap()),
        (200, total.to_string())
    );
}

/// Framing shapes used for request smuggling and header injection: each is refused with its
/// status and the connection closed, before any handler runs.
#[test]
fn ambiguous_or_malformed_framing_is_refused_with_its_status() {
    let server = served();
    let cases: [(&str, &[u8], u16); 11] = [
        ("chunked not last", b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
        ("unknown coding", b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        ("chunked twice", b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("signed length", b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello", 400),
        ("hex length", b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello", 400),
        ("space before colon", b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400),
        ("NUL in a value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400),
        ("no Host", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ];
    for (name, request, expected) in cases {
        let mut raw = server.raw();
        let _ = raw.send(request);
        let (status, head, _) = raw.response().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status, expected, "{name}: {head}");
        raw.expect_closed(Duration::from_secs(3));
    }
    still_serves(&server);
}

/// RFC 9112 §3.2.2: a server MUST accept the absolute-form, whose path may be empty
/// (`http://t` is the path `/`). With a body or without, each such request gets its answer and
/// costs nothing else.
#[test]
fn absolute_form_target_without_a_path_is_answered() {
    let server = served();
    for (request, expected) in [
        (
            &b"GET http://t HTTP/1.1\r\nHost: t\r\n\r\n"[..],
            &b"root"[..],
        ),
        (b"GET http://t?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", b"root"),
    ] {
        let mut raw = server.raw();
        raw.send(request).unwrap();
        let (status, head, body) = raw.response().expect("a response");
        assert_eq!((status, body.as_slice()), (200, expected), "{head}");
    }
    let mut raw = server.raw();
    raw.send(b"POST http://t HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    let (status, head, _) = raw.response().expect("a response to a POST");
    assert_eq!(status, 405, "{head}");
    // An upgrade (to a path without a WebSocket route).
    let mut raw = server.raw();
    raw.send(
        b"GET http://t HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let (status, head, _) = raw.response().expect("a response to an upgrade");
    assert_eq!(status, 404, "{head}");
    still_serves(&server);
}
