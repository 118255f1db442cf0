//! The engine's HTTP/1.1 behaviour against a raw TCP client: keep-alive, pipelining, bodies,
//! error statuses, connection management.

mod engine_support;

use std::time::Duration;

use engine_support::{Raw, get};
use imphnen::{App, Config, Ctx, HttpLimits, Response, Server};

fn app() -> App {
    let mut app = App::new(Config {
        workers: 1,
        ..Default::default()
    });
    app.get("/a", |_: Ctx| "A");
    app.get("/b", |_: Ctx| "B");
    app.get("/c", |_: Ctx| "C");
    app.get("/slow", |_: Ctx| async {
        monoio::time::sleep(Duration::from_millis(80)).await;
        "slow"
    });
    app.post("/echo", |ctx: Ctx| {
        Response::new(200).with_body(ctx.body().bytes().clone())
    });
    app.get("/fail", |_: Ctx| -> Result<&'static str, imphnen::Error> {
        Err(std::io::Error::other("boom"))?
    });
    app.get("/panic", |_: Ctx| -> &'static str {
        panic!("handler panic on purpose")
    });
    app.ws("/ws", imphnen::WsCallbacks::new().on_message(|_, _| Ok(())));
    app
}

fn start() -> Server {
    app().listen("127.0.0.1:0").expect("listen")
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start();
    let mut c = Raw::to(&server);
    for (path, body) in [("/a", "A"), ("/b", "B"), ("/c", "C")] {
        c.send(&get(path));
        let r = c.response(false);
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), body);
        assert_ne!(r.header("connection"), Some("close"));
    }
    drop(c);
    server.shutdown();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start();
    let mut c = Raw::to(&server);
    let mut all = Vec::new();
    for path in ["/c", "/a", "/b", "/a"] {
        all.extend_from_slice(&get(path));
    }
    c.send(&all);
    for body in ["C", "A", "B", "A"] {
        let r = c.response(false);
        assert_eq!(r.text(), body);
    }
    drop(c);
    server.shutdown();
}

#[test]
fn async_handler_keeps_pipelined_responses_in_order() {
    let server = start();
    let mut c = Raw::to(&server);
    let mut all = Vec::new();
    for path in ["/slow", "/a", "/slow", "/b"] {
        all.extend_from_slice(&get(path));
    }
    c.send(&all);
    for body in ["slow", "A", "slow", "B"] {
        assert_eq!(c.response(false).text(), body);
    }
    drop(c);
    server.shutdown();
}

#[test]
fn chunked_post_body_reaches_the_handler_intact() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    // Chunks in separate writes, one split inside its size line, one with an extension.
    c.send(b"5\r\nhello\r\n");
    std::thread::sleep(Duration::from_millis(20));
    c.send(b"1");
    std::thread::sleep(Duration::from_millis(20));
    c.send(b"0;ext=1\r\n, chunked world!\r\n");
    c.send(b"0\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello, chunked world!");
    // The connection stays usable.
    c.send(&get("/a"));
    assert_eq!(c.response(false).text(), "A");
    drop(c);
    server.shutdown();
}

#[test]
fn content_length_body_split_across_writes_reaches_the_handler() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
    std::thread::sleep(Duration::from_millis(20));
    c.send(b"56789");
    assert_eq!(c.response(false).text(), "0123456789");
    drop(c);
    server.shutdown();
}

#[test]
fn unknown_path_is_404() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(&get("/nowhere"));
    assert_eq!(c.response(false).status, 404);
    drop(c);
    server.shutdown();
}

#[test]
fn wrong_method_is_405_with_allow() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(b"DELETE /a HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 405);
    let allow = r.header("allow").expect("Allow header");
    assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow}");
    drop(c);
    server.shutdown();
}

#[test]
fn oversized_request_head_is_431() {
    let server = start();
    let mut c = Raw::to(&server);
    let big = "x".repeat(HttpLimits::DEFAULT_MAX_HEAD_SIZE + 1024);
    c.send(format!("GET /a HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes());
    assert_eq!(c.response(false).status, 431);
    assert!(c.closed_by_server());
    drop(c);
    server.shutdown();
}

#[test]
fn http11_request_without_host_is_400() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(b"GET /a HTTP/1.1\r\n\r\n");
    assert_eq!(c.response(false).status, 400);
    drop(c);
    server.shutdown();
}

#[test]
fn websocket_route_without_upgrade_is_426() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(&get("/ws"));
    assert_eq!(c.response(false).status, 426);
    drop(c);
    server.shutdown();
}

#[test]
fn http10_without_keep_alive_closes_after_the_response() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(b"GET /a HTTP/1.0\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "A");
    // The last answer announces the close that follows.
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());
    drop(c);
    server.shutdown();
}

#[test]
fn half_closed_clients_last_answer_announces_the_close() {
    // `printf 'GET /slow ...' | nc -N`: the answer is written after the FIN.
    let server = start();
    let mut c = Raw::to(&server);
    c.send(&get("/slow"));
    c.stream.shutdown_write();
    let r = c.response(false);
    assert_eq!(r.text(), "slow");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());
    server.shutdown();
}

#[test]
fn an_upgrade_decided_after_the_clients_fin_ends_after_its_101() {
    // The upgrade waits behind a slow request; the client's FIN comes before it is decided.
    // The 101 goes out, and then the connection must end, not sit open as a WebSocket that
    // can never receive.
    let server = start();
    let mut c = Raw::to(&server);
    let mut bytes = get("/slow");
    bytes.extend_from_slice(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    c.send(&bytes);
    c.stream.shutdown_write();
    assert_eq!(c.response(false).text(), "slow");
    assert_eq!(c.response(true).status, 101);
    assert!(
        c.closed_by_server(),
        "the WebSocket stayed open after the client's FIN"
    );
    server.shutdown();
}

#[test]
fn connection_close_is_honoured() {
    let server = start();
    let mut c = Raw::to(&server);
    // A second pipelined request after `Connection: close` must not be answered.
    let mut both = b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec();
    both.extend_from_slice(&get("/b"));
    c.send(&both);
    let r = c.response(false);
    assert_eq!(r.text(), "A");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());
    drop(c);
    server.shutdown();
}

#[test]
fn head_gets_headers_only() {
    let server = start();
    let mut c = Raw::to(&server);
    let mut both = b"HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    both.extend_from_slice(&get("/b"));
    c.send(&both);
    let head = c.response(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1"));
    // If the HEAD response carried a body, this would parse garbage.
    let next = c.response(false);
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), "B");
    drop(c);
    server.shutdown();
}

#[test]
fn expect_100_continue_gets_the_interim_response_before_the_body() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.response(true);
    assert_eq!(interim.status, 100);
    c.send(b"body");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "body");
    drop(c);
    server.shutdown();
}

#[test]
fn handler_returning_err_is_500() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(&get("/fail"));
    assert_eq!(c.response(false).status, 500);
    // The connection is still usable.
    c.send(&get("/a"));
    assert_eq!(c.response(false).text(), "A");
    drop(c);
    server.shutdown();
}

#[test]
fn panicking_handler_is_500_and_the_server_keeps_serving() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(&get("/panic"));
    assert_eq!(c.response(false).status, 500);
    let mut other = Raw::to(&server);
    other.send(&get("/b"));
    assert_eq!(other.response(false).text(), "B");
    drop((c, other));
    server.shutdown();
}

#[test]
fn half_closed_client_still_gets_its_response() {
    let server = start();
    let mut c = Raw::to(&server);
    c.send(&get("/slow"));
    c.stream.shutdown_write();
    let r = c.response(false);
    assert_eq!(r.text(), "slow");
    assert!(c.closed_by_server());
    drop(c);
    server.shutdown();
}

#[test]
fn half_closed_client_gets_every_pipelined_response() {
    // `printf 'GET /slow ...GET /a ...' | nc -N`: both requests, then FIN. The second waits
    // behind the first's handler; the FIN must not discard it.
    let server = start();
    let mut c = Raw::to(&server);
    let mut both = get("/slow");
    both.extend_from_slice(&get("/a"));
    c.send(&both);
    c.stream.shutdown_write();
    assert_eq!(c.response(false).text(), "slow");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "A");
    assert!(c.closed_by_server());
    drop(c);
    server.shutdown();
}

#[test]
fn half_closed_client_with_an_unfinished_request_is_closed() {
    let server = start();
    for unfinished in [
        &b"GET /a HTTP/1.1\r\nHost: t\r\n"[..],
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
    ] {
        let mut c = Raw::to(&server);
        let mut bytes = get("/a");
        bytes.extend_from_slice(unfinished);
        c.send(&bytes);
        c.stream.shutdown_write();
        assert_eq!(c.response(false).text(), "A");
        assert!(c.closed_by_server());
    }
    server.shutdown();
}

#[test]
fn keep_alive_idle_time_starts_when_the_response_is_sent() {
    // A handler slower than the keep-alive timeout (a long poll): the connection is idle only
    // once the answer went out, and a request sent soon after it is served on it.
    let mut config = Config {
        workers: 1,
        ..Default::default()
    };
    config.http.keep_alive_timeout = Duration::from_millis(400);
    let mut app = App::new(config);
    app.get("/poll", |_: Ctx| async {
        monoio::time::sleep(Duration::from_millis(700)).await;
        "poll"
    });
    app.get("/a", |_: Ctx| "A");
    let server = app.listen("127.0.0.1:0").expect("listen");
    let mut c = Raw::to(&server);
    c.send(&get("/poll"));
    assert_eq!(c.response(false).text(), "poll");
    std::thread::sleep(Duration::from_millis(100));
    c.send(&get("/a"));
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "A");
    drop(c);
    server.shutdown();
}

#[test]
fn a_response_with_its_own_connection_field_still_announces_the_close() {
    // The 426 of a WebSocket route names `Connection: Upgrade`; when the server closes after
    // it (the client asked to), the field must list `close` too (RFC 9112 §9.6).
    let server = start();
    let mut c = Raw::to(&server);
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 426);
    let connection = r.header("connection").unwrap_or("").to_ascii_lowercase();
    assert!(
        connection.split(',').any(|o| o.trim() == "close"),
        "Connection: {connection}"
    );
    assert!(c.closed_by_server());
    drop(c);
    server.shutdown();
}

#[test]
fn a_reset_while_a_half_closed_clients_handler_waits_leaves_the_core_idle() {
    // After the client's FIN the connection neither receives nor (while its handler waits)
    // sends; a reset then must not keep the core busy on the dead socket until the handler
    // is done.
    let mut app = App::new(Config {
        workers: 1,
        ..Default::default()
    });
    app.get("/poll", |_: Ctx| async {
        monoio::time::sleep(Duration::from_millis(900)).await;
        "poll"
    });
    let server = app.listen("127.0.0.1:0").expect("listen");
    if engine_support::on_memory(&server) {
        return server.shutdown(); // a reset is TCP's
    }
    let mut c = Raw::to(&server);
    c.send(&get("/poll"));
    c.stream.shutdown_write();
    std::thread::sleep(Duration::from_millis(100));
    socket2::SockRef::from(c.stream.tcp())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c); // RST
    std::thread::sleep(Duration::from_millis(50));
    let before = server.metrics().turns;
    std::thread::sleep(Duration::from_millis(400));
    let turns = server.metrics().turns - before;
    assert!(
        turns < 100,
        "{turns} loop turns in 400 ms with nothing to do"
    );
    server.shutdown();
}
