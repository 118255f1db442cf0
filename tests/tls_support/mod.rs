//! What the TLS tests (`tls`, `tls_hostile`) share: a certificate authority and a server
//! certificate made at test time with rcgen (written to files for curl and openssl), TLS
//! clients built on rustls' client side (tokio-rustls under tokio-tungstenite, or a blocking
//! `rustls::Stream`), each trusting only the test CA, and the app both files serve.
#![allow(dead_code)]

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use imphnen::{App, Config, Ctx, Server, TlsConfig, WsCallbacks, WsConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion, version};
use tokio_tungstenite::tungstenite::Message as TMessage;

use crate::engine_support::{Stream, Transport, transport_to};

/// The name the server certificate is for (and `127.0.0.1`, for curl and openssl by address).
pub const SERVER_NAME: &str = "localhost";

/// A test CA and a server certificate it signed, also written as PEM files.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
    dir: PathBuf,
}

impl Pki {
    /// A new CA named `name` and a certificate for `localhost` and `127.0.0.1` signed by it.
    pub fn new(name: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("imphnen test CA {name}"));
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![SERVER_NAME.to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let cert = params.signed_by(&key, &issuer).unwrap();

        static DIRS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imphnen-tls-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            dir,
        };
        std::fs::write(pki.ca_file(), &pki.ca_pem).unwrap();
        std::fs::write(pki.cert_file(), &pki.cert_pem).unwrap();
        std::fs::write(pki.key_file(), &pki.key_pem).unwrap();
        pki
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// The server's configuration, from the PEM files.
    pub fn server_config(&self) -> TlsConfig {
        TlsConfig::from_pem_files(self.cert_file(), self.key_file()).expect("server TLS config")
    }

    /// A client trusting this CA alone, offering ALPN `http/1.1` and `versions`.
    pub fn client_with(&self, versions: &[&'static SupportedProtocolVersion]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let provider = Arc::new(ring_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A TLS 1.3 (or 1.2) client trusting this CA alone.
    pub fn client(&self) -> Arc<ClientConfig> {
        self.client_with(&[&version::TLS13, &version::TLS12])
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[allow(deprecated)] // ring has no post-quantum key exchange; these tests do not need one
fn ring_provider() -> tokio_rustls::rustls::crypto::CryptoProvider {
    tokio_rustls::rustls::crypto::ring::default_provider()
}

/// A TLS client connection to `server`'s first TLS listener (over TCP, or a memory pipe).
pub async fn tls_connect(
    server: &Server,
    client: Arc<ClientConfig>,
) -> io::Result<TlsStream<Transport>> {
    tls_connect_to(server, tls_listener(server), client).await
}

/// A TLS client connection to `server`'s `listener`-th listening address, TLS or not.
pub async fn tls_connect_to(
    server: &Server,
    listener: usize,
    client: Arc<ClientConfig>,
) -> io::Result<TlsStream<Transport>> {
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    TlsConnector::from(client)
        .connect(name, transport_to(server, listener).await)
        .await
}

/// The index of `server`'s first TLS listening address.
pub fn tls_listener(server: &Server) -> usize {
    server
        .listeners()
        .iter()
        .position(|l| l.tls)
        .expect("a TLS listener")
}

/// A WebSocket over TLS.
pub type Wss = tokio_tungstenite::WebSocketStream<TlsStream<Transport>>;

/// Opens a wss:// client on `path` trusting `client`'s roots; fails as either handshake does.
pub async fn wss(server: &Server, client: Arc<ClientConfig>, path: &str) -> Wss {
    let stream = tls_connect(server, client).await.expect("TLS handshake");
    let url = format!("wss://{SERVER_NAME}{path}");
    let (ws, resp) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("WebSocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// How long any single step may take before the test fails.
pub const T: Duration = Duration::from_secs(10);

/// Close codes the server's `close` handler saw.
pub type Closes = Arc<Mutex<Vec<u16>>>;

pub fn app(config: Config, closes: &Closes) -> App {
    let mut app = App::new(config);
    let closes = closes.clone();
    app.get("/hello", |_: Ctx| "hello over TLS");
    app.post("/echo", |ctx: Ctx| {
        ctx.body().text().unwrap_or_default().to_owned()
    });
    app.ws(
        "/echo",
        WsCallbacks::new()
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

pub fn config() -> Config {
    Config {
        workers: 2,
        websocket: WsConfig {
            max_payload_length: 2 << 20,
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn start(pki: &Pki) -> (Server, Closes) {
    start_with(pki, config())
}

pub fn start_with(pki: &Pki, config: Config) -> (Server, Closes) {
    let closes = Closes::default();
    let server = app(config, &closes)
        .listen_tls("127.0.0.1:0", pki.server_config())
        .expect("listen_tls");
    (server, closes)
}

pub async fn next(ws: &mut Wss) -> TMessage {
    timeout(T, ws.next())
        .await
        .expect("receive timed out")
        .expect("stream ended")
        .expect("receive")
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Reads until the server closes; what it sent.
pub fn read_to_close(stream: &mut Stream) -> Vec<u8> {
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

/// A rustls client's first flight (its ClientHello), made without sending it.
pub fn client_hello(pki: &Pki) -> Vec<u8> {
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let mut client = tokio_rustls::rustls::ClientConnection::new(pki.client(), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    hello
}
