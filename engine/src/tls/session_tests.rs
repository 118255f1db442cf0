//! [`Sessions`] against rustls' client side, byte for byte through the record layer: what a
//! session holds between receives, and plaintext written before its handshake ended.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig};

use super::{Received, Sessions};
use crate::TlsConfig;
use crate::buf::QueuePool;

// The fuzzer's throwaway certificate for `localhost` (valid until 2126) and its CA.
const CA: &[u8] = include_bytes!("../../../fuzz/tls/ca.pem");
const CERT: &[u8] = include_bytes!("../../../fuzz/tls/cert.pem");
const KEY: &[u8] = include_bytes!("../../../fuzz/tls/key.pem");

const SLOT: u32 = 3;

fn server_config() -> Arc<ServerConfig> {
    TlsConfig::from_pem(CERT, KEY).unwrap().rustls().clone()
}

#[allow(deprecated)] // ring has no post-quantum key exchange; these tests need none
fn client() -> ClientConnection {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap()
}

/// Everything the client has to send.
fn client_records(client: &mut ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).unwrap();
    }
    out
}

/// Runs `records` through the session; the plaintext they carried.
fn receive(sessions: &mut Sessions, records: &[u8]) -> Vec<u8> {
    let mut records = records.to_vec();
    match sessions.receive(SLOT, &mut records) {
        Some(Received::Plain { peer_closed: false }) => {}
        _ => panic!("the session did not take the client's records"),
    }
    let plain = sessions.take_plain();
    let got = plain.clone();
    sessions.give_plain(plain);
    got
}

/// The session's records (carrying `plaintext`), given to the client; the plaintext the client
/// reads from them.
fn to_client(sessions: &mut Sessions, plaintext: &[u8], client: &mut ClientConnection) -> Vec<u8> {
    let mut pool = QueuePool::new(4 << 10, 1 << 20);
    let mut queue = pool.take();
    queue.own_mut().extend_from_slice(plaintext);
    let mut records = Vec::new();
    sessions.encrypt(SLOT, Some(&queue), &mut records);
    let mut from = &records[..];
    while !from.is_empty() {
        client.read_tls(&mut from).unwrap();
        client.process_new_packets().unwrap();
    }
    let mut got = Vec::new();
    match client.reader().read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => panic!("{e}"),
    }
    got
}

fn held_capacity(sessions: &mut Sessions) -> usize {
    sessions.get(SLOT).unwrap().held.capacity()
}

#[test]
fn plaintext_written_before_the_handshake_ends_reaches_the_client_after_it() {
    let mut sessions = Sessions::default();
    sessions.open(SLOT, server_config(), 0).unwrap();
    let mut client = client();
    assert!(receive(&mut sessions, &client_records(&mut client)).is_empty());
    // The server's flight goes out, the plaintext waits: the client has not finished.
    assert!(to_client(&mut sessions, b"written early", &mut client).is_empty());
    assert!(!client.is_handshaking());
    assert!(receive(&mut sessions, &client_records(&mut client)).is_empty());
    assert_eq!(to_client(&mut sessions, b"", &mut client), b"written early");
    assert_eq!(
        to_client(&mut sessions, b" and later", &mut client),
        b" and later"
    );
}

#[test]
fn a_record_split_across_receives_is_held_and_the_buffer_freed_when_it_completes() {
    let mut sessions = Sessions::default();
    sessions.open(SLOT, server_config(), 0).unwrap();
    let mut client = client();
    // The ClientHello one byte at a time: held between receives, freed once it is whole.
    for byte in client_records(&mut client).chunks(1) {
        assert!(receive(&mut sessions, byte).is_empty());
    }
    assert_eq!(held_capacity(&mut sessions), 0);
    to_client(&mut sessions, b"", &mut client);
    receive(&mut sessions, &client_records(&mut client));
    to_client(&mut sessions, b"", &mut client);
    assert!(!sessions.get(SLOT).unwrap().conn.is_handshaking());
    assert_eq!(held_capacity(&mut sessions), 0);

    let message: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    client.writer().write_all(&message).unwrap();
    let records = client_records(&mut client);
    let mut plain = Vec::new();
    for (i, piece) in records.chunks(1000).enumerate() {
        plain.extend(receive(&mut sessions, piece));
        // A 16 KiB record spans many receives; the session holds its start meanwhile.
        if i == 0 {
            assert!(plain.is_empty());
            assert!(held_capacity(&mut sessions) > 0);
        }
    }
    assert_eq!(plain, message);
    assert_eq!(held_capacity(&mut sessions), 0);
    assert!(!sessions.wants_write(SLOT));
}

#[test]
fn close_notify_follows_the_last_plaintext() {
    let mut sessions = Sessions::default();
    sessions.open(SLOT, server_config(), 0).unwrap();
    let mut client = client();
    receive(&mut sessions, &client_records(&mut client));
    to_client(&mut sessions, b"", &mut client);
    receive(&mut sessions, &client_records(&mut client));
    assert!(sessions.close_notify(SLOT));
    assert!(!sessions.close_notify(SLOT), "queued once");
    assert!(sessions.wants_write(SLOT));
    assert_eq!(to_client(&mut sessions, b"bye", &mut client), b"bye");
    assert!(client.process_new_packets().unwrap().peer_has_closed());
    assert!(!sessions.wants_write(SLOT));
}
