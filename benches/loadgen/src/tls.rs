//! The TLS client configuration for `wss://` targets: TLS 1.3 (1.2 when the server only
//! speaks that), the `ring` provider, ALPN `http/1.1`, and no session resumption, so that every
//! connection pays a full handshake, as the handshake benchmark means to measure.
//!
//! The server's certificate chain is not checked against any root: the load generator only
//! talks to loopback servers run for a benchmark with throwaway certificates. The handshake's
//! signature is still verified, so the client does all the work a verifying client does per
//! handshake except the chain walk.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, ring};
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
        let provider = Arc::new(ring::default_provider());
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
