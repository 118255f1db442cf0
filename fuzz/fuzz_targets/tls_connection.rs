//! Arbitrary bytes → one TLS connection of an imphnen app → records out.
//!
//! The app serves TLS (`App::stepper` with `Config::tls`, the throwaway certificate in
//! `fuzz/tls/`) on one core of the memory driver, stepped by hand. The first input byte picks
//! the mode: 0 the input goes to the TLS port as it is (garbage records, plain HTTP, partial
//! handshakes); 1 a rustls client completes the handshake, then sends the input as plaintext
//! (so it reaches the HTTP and WebSocket phases through the record layer: half of it is
//! prefixed with an upgrade to `/echo`); 2 the handshake, then the input injected as raw
//! bytes after it (tampered or forged records on an established session). rustls' client
//! draws fresh randomness per handshake, so runs of mode 1 and 2 are not byte-for-byte
//! repeatable; mode 0 is.
//!
//! Invariants: the connection always ends (within the timeouts) and the core keeps serving;
//! in mode 1 every record the server sends decrypts without error at the client, and the
//! plaintext starts with an HTTP/1.1 status line; in modes 0 and 2 the server's bytes are TLS
//! records, or for plain HTTP the 400 in plain text.
#![no_main]

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use imphnen::memory::{MemoryStream, Stepper};
use imphnen::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use imphnen::rustls::{ClientConfig, ClientConnection, RootCertStore};
use imphnen::{App, Config, Ctx, TlsConfig, WsCallbacks};

const CA: &[u8] = include_bytes!("../tls/ca.pem");
const CERT: &[u8] = include_bytes!("../tls/cert.pem");
const KEY: &[u8] = include_bytes!("../tls/key.pem");

const UPGRADE: &[u8] =
    b"GET /echo HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn stepper() -> Stepper {
    let mut config = Config {
        workers: 1,
        tls: Some(TlsConfig::from_pem(CERT, KEY).expect("the fuzz certificate")),
        ..Config::default()
    };
    config.websocket.max_payload_length = 64 << 10;
    config.http.limits.max_body_size = 64 << 10;
    config.http.request_timeout = Duration::from_secs(1);
    let mut app = App::new(config);
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app.get("/", |_ctx: Ctx| "ok");
    app.stepper().expect("a stepper")
}

#[allow(deprecated)] // ring has no post-quantum key exchange; the fuzzer needs none
fn client_config() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA).expect("the fuzz CA"))
        .unwrap();
    let provider = Arc::new(imphnen::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

thread_local! {
    static CORE: RefCell<Stepper> = RefCell::new(stepper());
    static CLIENT: Arc<ClientConfig> = client_config();
}

/// Writes all of `bytes`, letting the core take what the pipe holds; what the core said
/// meanwhile is appended to `out`. `false` if the server closed first.
fn write(
    core: &mut Stepper,
    client: &mut MemoryStream,
    mut bytes: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    while !bytes.is_empty() {
        match client.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                core.run();
                if drain(client, out) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    core.run();
    true
}

/// Reads what is there into `out`; `true` once the server closed.
fn drain(client: &mut MemoryStream, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 16 << 10];
    loop {
        match client.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Half-closes and gives the core time until it closes; the rest of what it said is appended
/// to `out`. Panics if it never closes.
fn finish(core: &mut Stepper, client: &mut MemoryStream, out: &mut Vec<u8>) {
    client.shutdown_write();
    core.run();
    // Request timeout 1 s, close handshake 5 s, lingering close 5 s.
    for _ in 0..60 {
        if drain(client, out) {
            return;
        }
        core.advance(Duration::from_millis(500));
    }
    panic!("the TLS connection never ended");
}

/// Runs a handshake between `tls` and the core; `false` if it did not complete.
fn handshake(core: &mut Stepper, client: &mut MemoryStream, tls: &mut ClientConnection) -> bool {
    for _ in 0..16 {
        if !tls.is_handshaking() {
            return true;
        }
        let mut records = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut records).unwrap();
        }
        let mut answer = Vec::new();
        if !write(core, client, &records, &mut answer) || drain(client, &mut answer) {
            return false;
        }
        let mut rest = &answer[..];
        while !rest.is_empty() {
            tls.read_tls(&mut rest).unwrap();
            tls.process_new_packets()
                .expect("the server's handshake records are valid");
        }
    }
    !tls.is_handshaking()
}

/// Every record is a TLS record header with a known content type and version, in full.
fn check_records(mut out: &[u8]) {
    if out.starts_with(b"HTTP/1.1 400 Bad Request\r\n") {
        return; // plain HTTP on the TLS port
    }
    while !out.is_empty() {
        assert!(out.len() >= 5, "partial record header: {out:?}");
        assert!(
            matches!(out[0], 20..=23),
            "record of content type {}",
            out[0]
        );
        assert_eq!(out[1], 3, "record version {:?}", &out[1..3]);
        let len = u16::from_be_bytes([out[3], out[4]]) as usize;
        assert!(out.len() >= 5 + len, "record cut short");
        out = &out[5 + len..];
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    CORE.with_borrow_mut(|core| {
        let mut client = core.connect().expect("the core accepts");
        let mut out = Vec::new();
        match mode % 3 {
            0 => {
                write(core, &mut client, body, &mut out);
                finish(core, &mut client, &mut out);
                check_records(&out);
            }
            mode => {
                let name = ServerName::try_from("localhost").unwrap();
                let mut tls =
                    ClientConnection::new(CLIENT.with(Arc::clone), name).expect("a client");
                assert!(
                    handshake(core, &mut client, &mut tls),
                    "the handshake failed"
                );
                if mode == 1 {
                    let mut plain = Vec::new();
                    if body.first().is_some_and(|b| b % 2 == 1) {
                        plain.extend_from_slice(UPGRADE);
                    }
                    plain.extend_from_slice(body);
                    tls.writer().write_all(&plain).unwrap();
                    tls.send_close_notify();
                    let mut records = Vec::new();
                    while tls.wants_write() {
                        tls.write_tls(&mut records).unwrap();
                    }
                    write(core, &mut client, &records, &mut out);
                    finish(core, &mut client, &mut out);
                    let mut rest = &out[..];
                    let mut answer = Vec::new();
                    while !rest.is_empty() {
                        tls.read_tls(&mut rest).unwrap();
                        tls.process_new_packets()
                            .expect("every server record decrypts");
                        let _ = tls.reader().read_to_end(&mut answer);
                    }
                    assert!(
                        answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
                        "plaintext that is not a response: {:?}",
                        &answer[..answer.len().min(64)]
                    );
                } else {
                    write(core, &mut client, body, &mut out);
                    finish(core, &mut client, &mut out);
                    check_records(&out);
                }
            }
        }
    });
});
