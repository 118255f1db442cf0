//! wss:// and https:// against independent TLS peers: rustls' client side under
//! tokio-tungstenite, curl and `openssl s_client` (TLS 1.3 and 1.2), and hostile raw bytes —
//! handshake garbage, a ClientHello one byte at a time, a handshake that stops halfway, plain
//! HTTP on the TLS port, a thousand handshakes at once, a client that never reads. Runs on
//! each network driver and on the memory driver (the tests that run a program against a TCP
//! port skip there).

mod engine_support;
mod tls_support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::{Stream, on_memory};
use futures_util::{SinkExt, StreamExt};
use imphnen::{
    App, Config, Ctx, HttpConfig, Message, SendStatus, Server, WebSocket, WsConfig, WsHandler,
};
use tls_support::{Pki, Wss, tls_connect, wss};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;

const T: Duration = Duration::from_secs(10);
/// The flood test's backpressure limit and message size.
const LIMIT: usize = 64 << 10;
const CHUNK: usize = 16 << 10;

/// Close codes the server's `close` handler saw.
type Closes = Arc<Mutex<Vec<u16>>>;

fn app(config: Config, closes: &Closes) -> App {
    let mut app = App::new(config);
    let closes = closes.clone();
    app.get("/hello", |_: Ctx| "hello over TLS");
    app.post("/echo", |ctx: Ctx| {
        ctx.body().text().unwrap_or_default().to_owned()
    });
    app.ws(
        "/echo",
        WsHandler::new()
            .on_message(|ctx, msg| {
                match msg.as_text() {
                    Some("bye") => ctx.ws.close(4000, "bye to you"),
                    Some(topic) if topic.starts_with("sub ") => {
                        ctx.ws.subscribe(&topic[4..]);
                        ctx.ws.send("subscribed");
                    }
                    Some(text) if text.starts_with("pub ") => {
                        let (topic, body) = text[4..].split_once(' ').unwrap();
                        ctx.ws.publish(topic, body);
                    }
                    _ => {
                        ctx.ws.send(msg);
                    }
                }
                Ok(())
            })
            .on_close(move |_, code, _| {
                closes.lock().unwrap().push(code);
                Ok(())
            }),
    );
    app
}

fn config() -> Config {
    Config {
        workers: 2,
        websocket: WsConfig {
            max_payload_length: 2 << 20,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn start(pki: &Pki) -> (Server, Closes) {
    start_with(pki, config())
}

fn start_with(pki: &Pki, config: Config) -> (Server, Closes) {
    let closes = Closes::default();
    let server = app(config, &closes)
        .listen_tls("127.0.0.1:0", pki.server_config())
        .expect("listen_tls");
    (server, closes)
}

async fn next(ws: &mut Wss) -> TMessage {
    timeout(T, ws.next())
        .await
        .expect("receive timed out")
        .expect("stream ended")
        .expect("receive")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn wss_echoes_text_and_binary() {
    let pki = Pki::new("echo");
    let (server, _) = start(&pki);
    rt().block_on(async {
        let mut ws = wss(&server, pki.client(), "/echo").await;
        ws.send(TMessage::text("héllo wss")).await.unwrap();
        assert_eq!(next(&mut ws).await, TMessage::text("héllo wss"));
        let binary: Vec<u8> = (0..=255).collect();
        ws.send(TMessage::binary(binary.clone())).await.unwrap();
        assert_eq!(next(&mut ws).await, TMessage::binary(binary));
    });
    server.shutdown();
}

#[test]
fn wss_carries_a_one_mebibyte_message_both_ways() {
    let pki = Pki::new("large");
    let (server, _) = start(&pki);
    rt().block_on(async {
        let mut ws = wss(&server, pki.client(), "/echo").await;
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
        ws.send(TMessage::binary(big.clone())).await.unwrap();
        assert_eq!(next(&mut ws).await, TMessage::binary(big));
    });
    server.shutdown();
}

#[test]
fn close_codes_cross_tls_and_the_server_ends_with_close_notify() {
    let pki = Pki::new("close");
    let (server, closes) = start(&pki);
    rt().block_on(async {
        // The server closes with an application code.
        let mut ws = wss(&server, pki.client(), "/echo").await;
        ws.send(TMessage::text("bye")).await.unwrap();
        match next(&mut ws).await {
            TMessage::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4000);
                assert_eq!(frame.reason, "bye to you");
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
        // tungstenite answered the close; the server then sends close_notify before its FIN:
        // rustls' client reads a clean end (a FIN without close_notify is `UnexpectedEof`).
        let _ = timeout(T, ws.next()).await;
        let tls = ws.get_mut();
        let mut rest = Vec::new();
        let read = timeout(T, tls.read_to_end(&mut rest))
            .await
            .expect("no end");
        assert!(read.is_ok(), "unclean end of TLS: {read:?}");

        // The client closes: the server's handler sees the client's code.
        let mut ws = wss(&server, pki.client(), "/echo").await;
        ws.close(Some(CloseFrame {
            code: TCloseCode::Library(4321),
            reason: "client done".into(),
        }))
        .await
        .unwrap();
        let deadline = Instant::now() + T;
        while !closes.lock().unwrap().contains(&4321) {
            assert!(Instant::now() < deadline, "close not seen: {:?}", closes);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert!(closes.lock().unwrap().contains(&4000));
    server.shutdown();
}

#[test]
fn pubsub_reaches_wss_subscribers_on_every_core() {
    let pki = Pki::new("pubsub");
    let (server, _) = start(&pki);
    rt().block_on(async {
        let mut subscribers = Vec::new();
        for _ in 0..4 {
            let mut ws = wss(&server, pki.client(), "/echo").await;
            ws.send(TMessage::text("sub news")).await.unwrap();
            assert_eq!(next(&mut ws).await, TMessage::text("subscribed"));
            subscribers.push(ws);
        }
        let mut publisher = wss(&server, pki.client(), "/echo").await;
        publisher
            .send(TMessage::text("pub news extra!"))
            .await
            .unwrap();
        for ws in &mut subscribers {
            assert_eq!(next(ws).await, TMessage::text("extra!"));
        }
        // And from outside any handler, a 20 KiB message (shared, not copied, per core).
        let big = "x".repeat(20 << 10);
        assert_eq!(server.publish("news", big.as_str()), 4);
        for ws in &mut subscribers {
            assert_eq!(next(ws).await, TMessage::text(big.clone()));
        }
    });
    server.shutdown();
}

/// Runs `program` with `args` and `stdin`, returning its standard output (it must succeed).
fn run(program: &str, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test.sh does): {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn https_routes_answer_curl_trusting_the_test_ca() {
    let pki = Pki::new("curl");
    let (server, _) = start(&pki);
    if on_memory(&server) {
        return server.shutdown();
    }
    let base = format!("https://127.0.0.1:{}", server.local_addr().port());
    let ca = pki.ca_file();
    let ca = ca.to_str().unwrap();
    let out = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            ca,
            "-w",
            " %{http_code} %{http_version}",
            &format!("{base}/hello"),
        ],
        b"",
    );
    assert_eq!(out, "hello over TLS 200 1.1");
    let body = "a body of some length ".repeat(5000);
    let out = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            ca,
            "--data-binary",
            "@-",
            &format!("{base}/echo"),
        ],
        body.as_bytes(),
    );
    assert_eq!(out, body);
    // Three requests on one kept-alive connection.
    let hello = format!("{base}/hello");
    let out = run(
        "curl",
        &["-sS", "--cacert", ca, &hello, &hello, &hello],
        b"",
    );
    assert_eq!(out, "hello over TLS".repeat(3));
    server.shutdown();
}

/// `openssl s_client` with `version_flag`, sending one request: its report and the response.
fn s_client(server: &Server, pki: &Pki, version_flag: &str) -> String {
    let connect = format!("127.0.0.1:{}", server.local_addr().port());
    let ca = pki.ca_file();
    run(
        "openssl",
        &[
            "s_client",
            "-connect",
            &connect,
            "-servername",
            tls_support::SERVER_NAME,
            "-CAfile",
            ca.to_str().unwrap(),
            "-verify_return_error",
            "-alpn",
            "http/1.1",
            version_flag,
            "-ign_eof",
        ],
        b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
}

#[test]
fn openssl_s_client_negotiates_tls13_and_http11() {
    let pki = Pki::new("openssl13");
    let (server, _) = start(&pki);
    if on_memory(&server) {
        return server.shutdown();
    }
    let out = s_client(&server, &pki, "-tls1_3");
    assert!(out.contains("New, TLSv1.3, Cipher is TLS_"), "{out}");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.ends_with("hello over TLS") || out.contains("\r\n\r\nhello over TLS"),
        "{out}"
    );
    server.shutdown();
}

#[test]
fn openssl_s_client_negotiates_tls12_too() {
    let pki = Pki::new("openssl12");
    let (server, _) = start(&pki);
    if on_memory(&server) {
        return server.shutdown();
    }
    let out = s_client(&server, &pki, "-tls1_2");
    assert!(out.contains("New, TLSv1.2, Cipher is ECDHE-"), "{out}");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    assert!(out.contains("HTTP/1.1 200 OK\r\n"), "{out}");
    server.shutdown();
}

/// Reads until the server closes; what it sent.
fn read_to_close(stream: &mut Stream) -> Vec<u8> {
    stream.set_read_timeout(Some(T));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close: {e} (got {got:?})"),
        }
    }
}

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
    let name = rustls::pki_types::ServerName::try_from(tls_support::SERVER_NAME).unwrap();
    let mut client = rustls::ClientConnection::new(pki.client(), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
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
        WsHandler::new().on_message(move |ctx, _| {
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
fn reload_tls_serves_the_new_certificate_to_new_handshakes_only() {
    let (old, new) = (Pki::new("old"), Pki::new("new"));
    let (server, _) = start(&old);
    rt().block_on(async {
        let mut kept = wss(&server, old.client(), "/echo").await;
        server.reload_tls(new.server_config()).unwrap();
        // A client trusting only the old CA now fails; one trusting the new CA succeeds.
        let refused = tls_connect(&server, old.client()).await;
        assert!(
            refused.is_err(),
            "the old certificate was served after the reload"
        );
        let mut fresh = wss(&server, new.client(), "/echo").await;
        fresh.send(TMessage::text("new")).await.unwrap();
        assert_eq!(next(&mut fresh).await, TMessage::text("new"));
        // The connection opened before the reload goes on with its session.
        kept.send(TMessage::text("old")).await.unwrap();
        assert_eq!(next(&mut kept).await, TMessage::text("old"));
    });
    server.shutdown();
}

#[test]
fn reload_tls_on_a_plain_server_is_an_error() {
    let closes = Closes::default();
    let server = app(config(), &closes).listen("127.0.0.1:0").unwrap();
    let pki = Pki::new("plain-server");
    let error = server.reload_tls(pki.server_config()).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    server.shutdown();
}

#[test]
fn bad_pem_is_refused_with_a_message_naming_the_part() {
    let pki = Pki::new("pem");
    let no_cert = imphnen::TlsConfig::from_pem(b"", pki.key_pem.as_bytes()).unwrap_err();
    assert!(
        no_cert.to_string().contains("certificate chain"),
        "{no_cert}"
    );
    let no_key = imphnen::TlsConfig::from_pem(pki.cert_pem.as_bytes(), b"nothing").unwrap_err();
    assert!(no_key.to_string().contains("private key"), "{no_key}");
    // The key of another certificate.
    let other = Pki::new("other");
    let mismatch = imphnen::TlsConfig::from_pem(pki.cert_pem.as_bytes(), other.key_pem.as_bytes());
    assert!(
        mismatch.is_err(),
        "a key that does not match the certificate was accepted"
    );
    let missing =
        imphnen::TlsConfig::from_pem_files("/nonexistent/cert.pem", pki.key_file()).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/cert.pem"),
        "{missing}"
    );
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
        let name = rustls::pki_types::ServerName::try_from(tls_support::SERVER_NAME).unwrap();
        let mut client = rustls::ClientConnection::new(pki.client(), name).unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
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
fn a_client_offering_only_h2_gets_the_no_application_protocol_alert() {
    // ALPN is `http/1.1` alone (RFC 7301 §3.2): a client that cannot speak it is refused
    // during the handshake rather than handed an HTTP/1.1 server it would misread.
    let pki = Pki::new("alpn");
    let (server, _) = start(&pki);
    let mut client = (*pki.client()).clone();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let refused = rt().block_on(tls_connect(&server, Arc::new(client)));
    let error = refused.expect_err("the handshake succeeded without a common protocol");
    let alert = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .cloned();
    assert_eq!(
        alert,
        Some(rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol
        )),
        "{error}"
    );
    assert_eq!(server.metrics().tls_failures, 1);
    // A client offering http/1.1 next to h2 gets http/1.1.
    let mut client = (*pki.client()).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = rt()
        .block_on(tls_connect(&server, Arc::new(client)))
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    server.shutdown();
}
