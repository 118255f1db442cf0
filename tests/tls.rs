//! wss:// and https:// against independent TLS peers: rustls' client side under
//! tokio-tungstenite (echo, 1 MiB, close codes and close_notify, pub/sub, ALPN), curl and
//! `openssl s_client` (TLS 1.3 and 1.2), certificate reload and PEM errors. Runs on each
//! network driver and on the memory driver (the tests that run a program against a TCP port
//! skip there). The hostile cases are in `tls_hostile.rs`.

mod engine_support;
mod tls_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_support::on_memory;
use futures_util::{SinkExt, StreamExt};
use imphnen::Server;
use tls_support::{Closes, Pki, T, app, config, next, rt, start, tls_connect, wss};
use tokio::io::AsyncReadExt;
use tokio::time::timeout;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;

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

#[test]
fn graceful_shutdown_closes_wss_with_1001_then_close_notify() {
    let pki = Pki::new("shutdown");
    let (server, _) = start(&pki);
    let server = Arc::new(server);
    rt().block_on(async {
        let mut ws = wss(&server, pki.client(), "/echo").await;
        ws.send(TMessage::text("before")).await.unwrap();
        assert_eq!(next(&mut ws).await, TMessage::text("before"));
        let stopping = server.clone();
        let shutdown = std::thread::spawn(move || stopping.shutdown());
        match next(&mut ws).await {
            TMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected a close frame with 1001, got {other:?}"),
        }
        let _ = timeout(T, ws.next()).await; // tungstenite answers the close
        let mut rest = Vec::new();
        let read = timeout(T, ws.get_mut().read_to_end(&mut rest))
            .await
            .expect("the server never closed");
        assert!(read.is_ok(), "unclean end of TLS: {read:?}");
        drop(ws); // our FIN ends the server's lingering close, and with it the shutdown
        shutdown.join().unwrap();
    });
}
