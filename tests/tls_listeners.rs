//! One server, two ports: plain ws:// and http:// on one, wss:// and https:// on the other
//! (`App::listen_with_tls`), every core accepting on both. Checked against independent peers:
//! tokio-tungstenite over plain TCP and over rustls' client side, rustls' client alone, curl,
//! and raw bytes. Runs on each network driver and on the memory driver (where the clients
//! reach the two listeners through `MemoryNet::connect_to`; curl and the bind errors skip there).

mod engine_support;
mod tls_support;

use std::io::ErrorKind;
use std::rc::Rc;

use engine_support::{Raw, on_memory, tungstenite};
use futures_util::{SinkExt, StreamExt};
use imphnen::{Listen, Server};
use tls_support::{
    Closes, Pki, T, app, client_hello, config, next, read_to_close, rt, tls_connect_to,
    tls_listener, wss,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as TMessage;

/// The listeners' order `listen_with_tls` gives: plain first, TLS second.
const PLAIN: usize = 0;
const TLS: usize = 1;

fn start_both(pki: &Pki) -> (Server, Closes) {
    let closes = Closes::default();
    let server = app(config(), &closes)
        .listen_with_tls("127.0.0.1:0", "127.0.0.1:0", pki.server_config())
        .expect("listen_with_tls");
    (server, closes)
}

/// The next message of a plain client, within the test's patience.
async fn next_plain(ws: &mut engine_support::Ws) -> TMessage {
    timeout(T, ws.next())
        .await
        .expect("receive timed out")
        .expect("stream ended")
        .expect("receive")
}

#[test]
fn both_ports_are_bound_and_reported() {
    let pki = Pki::new("ports");
    let (server, _) = start_both(&pki);
    let listeners = server.listeners();
    assert_eq!(listeners.len(), 2);
    assert!(!listeners[PLAIN].tls);
    assert!(listeners[TLS].tls);
    assert_eq!(tls_listener(&server), TLS);
    assert_eq!(server.local_addr(), listeners[PLAIN].addr);
    assert_eq!(server.tls_addr(), Some(listeners[TLS].addr));
    if !on_memory(&server) {
        // Port 0 twice: two real, different ports.
        assert_ne!(server.local_addr().port(), 0);
        assert_ne!(server.tls_addr().unwrap().port(), 0);
        assert_ne!(
            server.local_addr().port(),
            server.tls_addr().unwrap().port()
        );
    }
    server.shutdown();

    // One listener each: `listen` has no TLS address, `listen_tls`'s only one is TLS.
    let closes = Closes::default();
    let plain = app(config(), &closes).listen("127.0.0.1:0").unwrap();
    assert_eq!(plain.tls_addr(), None);
    plain.shutdown();
    let tls = app(config(), &closes)
        .listen_tls("127.0.0.1:0", pki.server_config())
        .unwrap();
    assert_eq!(tls.tls_addr(), Some(tls.local_addr()));
    tls.shutdown();
}

#[test]
fn ws_and_wss_clients_share_one_hub() {
    let pki = Pki::new("hub");
    let (server, _) = start_both(&pki);
    rt().block_on(async {
        let (mut plain, resp) = tungstenite(&server, "/echo")
            .await
            .expect("ws:// handshake");
        assert_eq!(resp.status(), 101);
        let mut secure = wss(&server, pki.client(), "/echo").await;
        for _ in 0..2 {
            plain.send(TMessage::text("sub room")).await.unwrap();
            assert_eq!(next_plain(&mut plain).await, TMessage::text("subscribed"));
            secure.send(TMessage::text("sub room")).await.unwrap();
            assert_eq!(next(&mut secure).await, TMessage::text("subscribed"));
        }
        // One topic registry: both connections are its subscribers.
        assert_eq!(server.subscriber_count("room"), 2);

        // ws:// → wss:// (the sender is skipped, so each sees only the other's message).
        plain
            .send(TMessage::text("pub room from ws"))
            .await
            .unwrap();
        assert_eq!(next(&mut secure).await, TMessage::text("from ws"));
        // wss:// → ws://.
        secure
            .send(TMessage::text("pub room from wss"))
            .await
            .unwrap();
        assert_eq!(next_plain(&mut plain).await, TMessage::text("from wss"));
        // Nothing else was queued for either: the next thing each reads is its own echo.
        plain.send(TMessage::text("echo plain")).await.unwrap();
        assert_eq!(next_plain(&mut plain).await, TMessage::text("echo plain"));
        secure.send(TMessage::text("echo secure")).await.unwrap();
        assert_eq!(next(&mut secure).await, TMessage::text("echo secure"));

        // A publish from outside any handler reaches both.
        assert_eq!(server.publish("room", "to everyone"), 2);
        assert_eq!(next_plain(&mut plain).await, TMessage::text("to everyone"));
        assert_eq!(next(&mut secure).await, TMessage::text("to everyone"));

        // One set of metrics: both upgrades are the one server's.
        let metrics = server.metrics();
        assert_eq!(metrics.upgrades_total, 2);
        assert_eq!(metrics.websockets_open, 2);
    });
    server.shutdown();
}

#[test]
fn plain_get_and_https_get_are_both_answered() {
    let pki = Pki::new("get");
    let (server, _) = start_both(&pki);
    let mut raw = Raw::to_listener(&server, PLAIN);
    raw.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = raw.response(false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello over TLS");

    rt().block_on(async {
        let mut tls = tls_connect_to(&server, TLS, pki.client())
            .await
            .expect("TLS handshake on the TLS port");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        timeout(T, tls.read_to_end(&mut answer))
            .await
            .expect("no end")
            .expect("a clean end of TLS");
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nhello over TLS"), "{answer}");
    });

    if !on_memory(&server) {
        let ca = pki.ca_file();
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "--cacert",
                ca.to_str().unwrap(),
                "-w",
                " %{http_code}\n",
                &format!("http://127.0.0.1:{}/hello", server.local_addr().port()),
                &format!(
                    "https://127.0.0.1:{}/hello",
                    server.tls_addr().unwrap().port()
                ),
            ])
            .output()
            .expect("curl must be installed (scripts/test.sh does)");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello over TLS 200\nhello over TLS 200\n"
        );
    }
    server.shutdown();
}

#[test]
fn the_plain_port_does_not_speak_tls_and_the_tls_port_answers_plain_http_400() {
    let pki = Pki::new("cross");
    let (server, _) = start_both(&pki);
    // A rustls client on the plain port: the server reads its ClientHello as HTTP and refuses
    // it in plain text, which no TLS client accepts.
    rt().block_on(async {
        let handshake = timeout(T, tls_connect_to(&server, PLAIN, pki.client()))
            .await
            .expect("the handshake neither finished nor failed");
        assert!(handshake.is_err(), "TLS was spoken on the plain port");
    });
    let mut raw = Raw::to_listener(&server, PLAIN);
    raw.send(&client_hello(&pki));
    assert_eq!(raw.response(false).status, 400);
    drop(raw); // the server waits for our end before it lets the connection go

    // Plain HTTP on the TLS port: 400 in plain text, then the close, as on a TLS-only server.
    let failures = server.metrics().tls_failures;
    let mut raw = Raw::to_listener(&server, TLS);
    raw.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = read_to_close(&mut raw.stream);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert_eq!(server.metrics().tls_failures, failures + 1);
    drop(raw);
    server.shutdown();
}

#[test]
fn reload_tls_and_graceful_shutdown_cover_both_ports() {
    let pki = Pki::new("reload-old");
    let (server, closes) = start_both(&pki);
    let fresh = Pki::new("reload-new");
    server.reload_tls(fresh.server_config()).unwrap();
    rt().block_on(async {
        // New handshakes on the TLS port use the new certificate; the plain port is as it was.
        let old = tls_connect_to(&server, TLS, pki.client()).await;
        assert!(old.is_err(), "the old CA still verified the server");
        let mut secure = wss(&server, fresh.client(), "/echo").await;
        let (mut plain, _) = tungstenite(&server, "/echo").await.unwrap();

        // One shutdown closes both kinds of connection with 1001.
        let handle = server.handle();
        std::thread::spawn(move || handle.shutdown());
        for got in [next(&mut secure).await, next_plain(&mut plain).await] {
            match got {
                TMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
                other => panic!("expected close 1001, got {other:?}"),
            }
        }
    });
    server.wait();
    assert_eq!(*closes.lock().unwrap(), [1001, 1001]);
    if !on_memory(&server) {
        for addr in [server.local_addr(), server.tls_addr().unwrap()] {
            let refused = std::net::TcpStream::connect(addr).unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{addr}");
        }
    }
}

#[test]
fn start_refuses_a_busy_tls_port_and_a_tls_listener_without_tls() {
    let pki = Pki::new("errors");
    let closes = Closes::default();
    let app = app(config(), &closes);
    if engine_support::memory_suite() {
        // No ports on the memory driver: only the missing configuration can be refused.
    } else {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let error = app
            .listen_with_tls(
                "127.0.0.1:0",
                taken.local_addr().unwrap(),
                pki.server_config(),
            )
            .err()
            .expect("started on a busy port");
        assert_eq!(error.kind(), ErrorKind::AddrInUse);
    }
    // A TLS listener with no TLS configuration to start its sessions with.
    let error = Server::start_on(
        config(),
        &[
            Listen::plain("127.0.0.1:0".parse().unwrap()),
            Listen::tls("127.0.0.1:0".parse().unwrap()),
        ],
        |_| -> Rc<dyn imphnen_engine::Service> { unreachable!("no core may start") },
    )
    .err()
    .expect("started without a TLS configuration");
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("Config::tls"), "{error}");
}

#[test]
fn over_the_limit_the_plain_port_answers_503_and_the_tls_port_closes_unanswered() {
    let pki = Pki::new("limit");
    let closes = Closes::default();
    let server = app(
        imphnen::Config {
            max_connections: Some(1),
            ..config()
        },
        &closes,
    )
    .listen_with_tls("127.0.0.1:0", "127.0.0.1:0", pki.server_config())
    .unwrap();
    rt().block_on(async {
        // The one connection the limit allows, on the TLS port: the limit is the server's.
        let mut first = wss(&server, pki.client(), "/echo").await;

        // Over the limit on the plain port: a 503 the client can read.
        let mut raw = Raw::to_listener(&server, PLAIN);
        raw.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        let resp = raw.response(false);
        assert_eq!(resp.status, 503);
        assert_eq!(resp.header("retry-after"), Some("1"));
        drop(raw);

        // Over the limit on the TLS port: closed with nothing sent (a 503 would need a
        // handshake first).
        let mut stream = engine_support::Stream::to_listener(&server, TLS);
        let _ = std::io::Write::write_all(&mut stream, &client_hello(&pki));
        assert_eq!(
            read_to_close(&mut stream),
            b"",
            "a refused TLS client got bytes"
        );
        assert_eq!(server.metrics().refused_server_limit, 2);

        first.send(TMessage::text("still here")).await.unwrap();
        assert_eq!(next(&mut first).await, TMessage::text("still here"));
    });
    server.shutdown();
}
