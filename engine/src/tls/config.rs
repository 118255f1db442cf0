//! [`TlsConfig`]: the server side of TLS as a user gives it — a certificate chain and its key
//! (PEM), or a rustls `ServerConfig` built by hand — always with ALPN `http/1.1` and an explicit
//! crypto provider.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::random::BatchedRandom;

/// The only application protocol served over TLS: a client offering ALPN must agree on it
/// (RFC 7301), and one that offers `h2` alone gets the `no_application_protocol` alert instead
/// of an HTTP/2 connection we would not understand.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The TLS settings of a server: what new handshakes present. Cheap to clone (one `Arc`).
///
/// ```no_run
/// # fn demo() -> std::io::Result<()> {
/// use imphnen_engine::TlsConfig;
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// # Ok(()) }
/// ```
///
/// The crypto provider is `ring`, named explicitly rather than taken from rustls' process-wide
/// default, so another dependency that installs a different default cannot change or break
/// ours. TLS 1.3 and TLS 1.2 are offered.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first, then its intermediates) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1) from files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<TlsConfig> {
        let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
            })
        };
        TlsConfig::from_pem(&read(cert_chain)?, &read(key)?)
    }

    /// Parses a PEM certificate chain (leaf first) and a PEM private key.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<TlsConfig> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(invalid("certificate chain: no CERTIFICATE section".into()));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(format!("private key: {e}")))?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid(format!("certificate and key: {e}")))?;
        Ok(TlsConfig::from_rustls(Arc::new(server)))
    }

    /// A rustls configuration built by hand (client certificates, a certificate resolver per
    /// SNI name, other cipher suites). Its ALPN list is replaced by `http/1.1` alone, the one
    /// protocol the server speaks over TLS, and TLS 1.3 early data (0-RTT) is turned off: the
    /// engine does not read it, and a client told it was accepted would never send it again.
    pub fn from_rustls(server: Arc<ServerConfig>) -> TlsConfig {
        let server = if server.alpn_protocols == [ALPN_HTTP_1_1] && server.max_early_data_size == 0
        {
            server
        } else {
            let mut own = (*server).clone();
            own.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
            own.max_early_data_size = 0;
            Arc::new(own)
        };
        TlsConfig { server }
    }

    /// The rustls configuration new connections are made with.
    pub fn rustls(&self) -> &Arc<ServerConfig> {
        &self.server
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &"http/1.1")
            .finish_non_exhaustive()
    }
}

/// The crypto provider every configuration made here uses.
///
/// rustls 0.23.48 marks `ring`'s provider deprecated because ring has no post-quantum key
/// exchange (X25519MLKEM768): handshakes use X25519 or the NIST curves. aws-lc-rs has it, at the
/// price of a C build several times longer than ring's; a user who wants it passes a
/// `ServerConfig` built with it to [`TlsConfig::from_rustls`].
///
/// Its random source for rustls' own requests is [`BatchedRandom`]: one `getrandom(2)` per
/// sixteen handshakes instead of seven per handshake.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        secure_random: &BatchedRandom,
        ..rustls::crypto::ring::default_provider()
    })
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
