//! TLS against hostile and heavy clients, with raw bytes and rustls' client side: handshake
//! garbage (exact alerts), a ClientHello one byte at a time, a handshake that stops halfway,
//! plain HTTP on the TLS port, a client over the connection limit, a thousand handshakes at
//! once, a client that never reads. Runs on each network driver and on the memory driver.

mod engine_support;
mod tls_support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::Stream;
use futures_util::{SinkExt, StreamExt};
use imphnen::{
    App, Config, HttpConfig, Message, SendStatus, Server, WebSocket, WsCallbacks, WsConfig,
};
use tls_support::{
    Pki, T, client_hello, config, next, read_to_close, rt, start, start_with, tls_connect, wss,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message as TMessage;

/// The flood test's backpressure limit and message size.
const LIMIT: usize = 64 << 10;
const CHUNK: usize = 16 << 10;

#[test]
fn plain_http_to_the_tls_port_is_answered_400_and_closed() {
    let pki = Pki::new("plain");
    let (server, _) = start(&pki);
    let mut stream = Stream::to(&server);
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer:?}"
    );
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer:?}");
    assert_eq!(server.metrics().tls_failures, 1);
    server.shutdown();
}

#[test]
fn handshake_garbage_is_answered_with_a_fatal_alert() {
    let pki = Pki::new("garbage");
    let (server, _) = start(&pki);
    // Each answered with one fatal alert record (RFC 8446 §6: level 2, then the description),
    // then closed.
    let cases: [(&[u8], u8); 3] = [
        // A handshake record carrying a message of no known type: unexpected_message.
        (&[0x16, 0x03, 0x01, 0x00, 0x04, 0xff, 0x00, 0x00, 0x00], 10),
        // A record of no known content type: decode_error.
        (&[0x99, 0x03, 0x03, 0x00, 0x01, 0x00], 50),
        // Zeros: decode_error.
        (&[0x00; 64], 50),
    ];
    for (garbage, description) in cases {
        let mut stream = Stream::to(&server);
        stream.write_all(garbage).unwrap();
        let answer = read_to_close(&mut stream);
        assert_eq!(
            answer,
            [21, 3, 3, 0, 2, 2, description],
            "one fatal alert record for {garbage:?}"
        );
    }
    assert_eq!(server.metrics().tls_failures, 3);
    server.shutdown();
}

#[test]
fn a_client_hello_sent_one_byte_at_a_time_completes_the_handshake() {
    let pki = Pki::new("bytewise");
    let (server, _) = start(&pki);
    let name = rustls::pki_types::ServerName::try_from(tls_support::SERVER_NAME).unwrap();
    let mut client = rustls::ClientConnection::new(pki.client(), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    assert_eq!(hello[0], 22, "a handshake record");
    let mut stream = Stream::to(&server);
    if let Stream::Tcp(tcp) = &stream {
        tcp.set_nodelay(true).unwrap();
    }
    for byte in &hello {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    stream.set_read_timeout(Some(T));
    let mut tls = rustls::Stream::new(&mut client, &mut stream);
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello over TLS"), "{answer}");
    server.shutdown();
}

#[test]
fn a_handshake_that_stops_halfway_is_closed_at_the_request_timeout() {
    let pki = Pki::new("halfway");
    let timeout_ms = 400;
    let (server, _) = start_with(
        &pki,
        Config {
            http: HttpConfig {
                request_timeout: Duration::from_millis(timeout_ms),
                ..Default::default()
            },
            ..config()
        },
    );
    let hello = client_hello(&pki);
    let mut stream = Stream::to(&server);
    let started = Instant::now();
    stream.write_all(&hello[..hello.len() / 2]).unwrap();
    let answer = read_to_close(&mut stream);
    let waited = started.elapsed();
    assert!(
        answer.is_empty(),
        "nothing to say to half a ClientHello: {answer:?}"
    );
    assert!(
        waited >= Duration::from_millis(timeout_ms - 50),
        "closed before the deadline: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "closed late: {waited:?}");
    assert_eq!(server.metrics().tls_failures, 1);
    server.shutdown();
}

#[test]
fn a_thousand_parallel_handshakes_all_complete() {
    let pki = Pki::new("thousand");
    let (server, _) = start(&pki);
    let server = Arc::new(server);
    let started = Instant::now();
    let ok = rt().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            tasks.spawn(handshake_and_get(server.clone(), pki.client()));
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            if done.unwrap() {
                ok += 1;
            }
        }
        ok
    });
    eprintln!("1000 TLS handshakes + requests in {:?}", started.elapsed());
    assert_eq!(ok, 1000);
    assert_eq!(server.metrics().tls_failures, 0);
    server.shutdown();
}

/// One handshake and one request; `true` if the answer came.
async fn handshake_and_get(server: Arc<Server>, client: Arc<rustls::ClientConfig>) -> bool {
    let attempt = async {
        let mut tls = tls_connect(&server, client).await?;
        tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer.ends_with(b"hello over TLS"))
    };
    matches!(
        timeout(Duration::from_secs(60), attempt).await,
        Ok(Ok(true))
    )
}

#[derive(Default)]
struct Flood {
    statuses: Vec<SendStatus>,
    max_buffered: usize,
    done: bool,
}

/// Sends numbered messages to `ws` until 20 in a row are dropped.
fn flood(ws: &WebSocket, record: &Mutex<Flood>) {
    let mut dropped_in_a_row = 0;
    let mut seq: u32 = 0;
    while dropped_in_a_row < 20 && seq < 100_000 {
        let mut payload = vec![0u8; CHUNK];
        payload[..4].copy_from_slice(&seq.to_be_bytes());
        let status = ws.send(Message::binary(payload));
        let mut r = record.lock().unwrap();
        r.statuses.push(status);
        r.max_buffered = r.max_buffered.max(ws.buffered_amount());
        if status == SendStatus::Dropped {
            dropped_in_a_row += 1;
        } else {
            dropped_in_a_row = 0;
            seq += 1;
        }
    }
    record.lock().unwrap().done = true;
}

#[test]
fn a_client_that_never_reads_is_held_at_the_backpressure_limit() {
    let pki = Pki::new("flood");
    let record = Arc::new(Mutex::new(Flood::default()));
    let mut app = App::new(Config {
        workers: 1,
        websocket: WsConfig {
            backpressure_limit: LIMIT,
            ..Default::default()
        },
        ..Default::default()
    });
    let r = record.clone();
    app.ws(
        "/flood",
        WsCallbacks::new().on_message(move |ctx, _| {
            flood(&ctx.ws, &r);
            Ok(())
        }),
    );
    let server = app.listen_tls("127.0.0.1:0", pki.server_config()).unwrap();
    rt().block_on(async {
        let mut ws = wss(&server, pki.client(), "/flood").await;
        ws.send(TMessage::text("go")).await.unwrap();
        let deadline = Instant::now() + T;
        while !record.lock().unwrap().done {
            assert!(Instant::now() < deadline, "the flood did not finish");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sent = {
            let r = record.lock().unwrap();
            let first_not_sent = r
                .statuses
                .iter()
                .position(|s| !matches!(s, SendStatus::Sent(_)))
                .expect("the queue filled up");
            assert!(first_not_sent > 0, "nothing sent before backpressure");
            assert_eq!(r.statuses[first_not_sent], SendStatus::Backpressure);
            assert!(
                r.statuses[first_not_sent + 1..]
                    .iter()
                    .all(|s| *s == SendStatus::Dropped),
                "{:?}",
                &r.statuses[first_not_sent..]
            );
            // The count covers the plaintext until the kernel took its records: bounded.
            assert!(
                r.max_buffered <= LIMIT + CHUNK + 14,
                "queue grew to {} bytes",
                r.max_buffered
            );
            first_not_sent + 1
        };
        // Everything reported queued arrives, in order, and nothing after it.
        for expected in 0..sent as u32 {
            match next(&mut ws).await {
                TMessage::Binary(payload) => {
                    assert_eq!(payload.len(), CHUNK);
                    assert_eq!(
                        u32::from_be_bytes(payload[..4].try_into().unwrap()),
                        expected
                    );
                }
                other => panic!("expected message {expected}, got {other:?}"),
            }
        }
        let extra = timeout(Duration::from_millis(300), ws.next()).await;
        assert!(extra.is_err(), "a dropped message arrived: {extra:?}");
    });
    server.shutdown();
}

#[test]
fn over_the_connection_limit_a_tls_connection_is_closed_unanswered() {
    // A refused plain connection gets a 503; a TLS client could read it only after a
    // handshake, so it is closed at once instead.
    let pki = Pki::new("limit");
    let (server, _) = start_with(
        &pki,
        Config {
            max_connections: Some(1),
            ..config()
        },
    );
    rt().block_on(async {
        let mut first = wss(&server, pki.client(), "/echo").await;
        let hello = client_hello(&pki);
        let mut stream = Stream::to(&server);
        let _ = stream.write_all(&hello); // the server may have closed already
        assert_eq!(
            read_to_close(&mut stream),
            b"",
            "nothing is sent to a refused client"
        );
        assert_eq!(server.metrics().refused_server_limit, 1);
        // The admitted connection is unaffected.
        first.send(TMessage::text("still here")).await.unwrap();
        assert_eq!(next(&mut first).await, TMessage::text("still here"));
    });
    server.shutdown();
}

#[test]
fn a_client_that_sends_close_notify_after_its_request_gets_the_response_and_close_notify() {
    // RFC 8446 §6.1: a party closing its write side sends `close_notify` first, whoever closed
    // first; a client that half-closes after its request reads the answer to its end.
    let pki = Pki::new("half-close");
    let (server, _) = start(&pki);
    let name = rustls::pki_types::ServerName::try_from(tls_support::SERVER_NAME).unwrap();
    let mut client = rustls::ClientConnection::new(pki.client(), name).unwrap();
    let mut stream = Stream::to(&server);
    stream.set_read_timeout(Some(T));
    rustls::Stream::new(&mut client, &mut stream)
        .write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    client.send_close_notify();
    while client.wants_write() {
        client.write_tls(&mut stream).unwrap();
    }
    let mut answer = Vec::new();
    let end = rustls::Stream::new(&mut client, &mut stream).read_to_end(&mut answer);
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello over TLS"), "{answer}");
    end.expect("the server's close_notify ends the stream, not a bare FIN");
    server.shutdown();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_with_close_notify() {
    // The keep-alive timeout closes the connection; RFC 8446 §6.1 wants `close_notify` before
    // our FIN, which a client otherwise takes for a truncation attack.
    let pki = Pki::new("idle-close");
    let (server, _) = start_with(
        &pki,
        Config {
            http: HttpConfig {
                keep_alive_timeout: Duration::from_millis(300),
                ..Default::default()
            },
            ..config()
        },
    );
    let name = rustls::pki_types::ServerName::try_from(tls_support::SERVER_NAME).unwrap();
    let mut client = rustls::ClientConnection::new(pki.client(), name).unwrap();
    let mut stream = Stream::to(&server);
    stream.set_read_timeout(Some(T));
    let mut tls = rustls::Stream::new(&mut client, &mut stream);
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"hello over TLS") {
        let mut buf = [0u8; 4096];
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the response");
        answer.extend_from_slice(&buf[..n]);
    }
    let started = Instant::now();
    let mut rest = Vec::new();
    let end = tls.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    end.expect("close_notify before the close, not a bare FIN");
    server.shutdown();
}
