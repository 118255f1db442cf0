//! The TLS client configuration for `wss://` targets: TLS 1.3 (1.2 when the server only
//! speaks that), the `ring` provider offering what browsers offer first (X25519,
//! AES-128-GCM), ALPN `http/1.1`, and no session resumption, so that every connection pays a
//! full handshake, as the handshake benchmark means to measure.
//!
//! The server's certificate chain is not checked against any root: the load generator only
//! talks to loopback servers run for a benchmark with throwaway certificates. The handshake's
//! signature is still verified, so the client does all the work a verifying client does per
//! handshake except the chain walk.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring::{self, cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// A new client session for `host` (a name or an IP address, without the port).
pub fn session(host: &str) -> Result<ClientConnection, String> {
    let name =
        ServerName::try_from(host.to_string()).map_err(|e| format!("TLS name {host}: {e}"))?;
    ClientConnection::new(config().clone(), name).map_err(|e| format!("TLS: {e}"))
}

/// The one configuration every connection shares.
fn config() -> &'static Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    // `ring` as the server's `tls` feature uses it (X25519 key exchange; rustls marks the
    // provider deprecated for lacking post-quantum key exchange, which both sides lack alike).
    #[allow(deprecated)]
    CONFIG.get_or_init(|| {
        // Offered as a browser on a machine with AES instructions offers them (Chrome's
        // order): X25519 key exchange first, AES-128-GCM with SHA-256 first. rustls' ring
        // provider leads with P-384 and AES-256-GCM-SHA384 instead, whose generic big-number
        // and SHA-512 code (no hardware paths in ring) would cost a server several times a
        // browser's handshake; a server honouring its client's order would be measured on
        // work no real client asks of it.
        let provider = Arc::new(CryptoProvider {
            kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
            cipher_suites: vec![
                cipher_suite::TLS13_AES_128_GCM_SHA256,
                cipher_suite::TLS13_AES_256_GCM_SHA384,
                cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
                cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ],
            ..ring::default_provider()
        });
        let verifier = Arc::new(AnyChain(provider.signature_verification_algorithms));
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    })
}

/// Accepts any certificate chain; verifies the handshake signature with the provider's
/// algorithms.
#[derive(Debug)]
struct AnyChain(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
