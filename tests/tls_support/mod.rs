//! What the TLS tests share: a certificate authority and a server certificate made at test
//! time with rcgen (written to files for curl and openssl), and TLS clients built on rustls'
//! client side (tokio-rustls under tokio-tungstenite, or a blocking `rustls::Stream`), each
//! trusting only the test CA.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use imphnen::{Server, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion, version};

use crate::engine_support::{Transport, transport};

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

/// A TLS client connection to `server` (over TCP, or a memory pipe).
pub async fn tls_connect(
    server: &Server,
    client: Arc<ClientConfig>,
) -> io::Result<TlsStream<Transport>> {
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    TlsConnector::from(client)
        .connect(name, transport(server).await)
        .await
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
