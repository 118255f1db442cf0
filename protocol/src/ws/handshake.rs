//! The WebSocket opening handshake, server side (RFC 6455 §4.2): validating the client's upgrade
//! request (§4.2.1) and writing the `101 Switching Protocols` response (§4.2.2).
//!
//! Owns the handshake rules only. The request head is parsed by [`crate::http::parse_request`];
//! choosing a subprotocol or negotiating extensions is the caller's policy, helped by
//! [`Handshake::select_protocol`] and [`Handshake::extensions`].
//!
//! A request that is not a valid opening handshake gets 400 Bad Request, including a method other
//! than GET: 405 would oblige the server to list the allowed methods (`Allow`, RFC 9110 §15.5.6)
//! for a route that may also serve plain HTTP, which only the router knows. An unsupported
//! `Sec-WebSocket-Version` gets 426 with `Sec-WebSocket-Version: 13` (§4.2.2, §4.4).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

use crate::http::{
    DateCache, HeaderError, Headers, Method, RequestHead, ResponseWriter, StatusCode, Version,
    write_empty_closing, write_upgrade_required,
};

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Length of a `Sec-WebSocket-Accept` value: base64 of a 20-byte SHA-1 digest.
pub const ACCEPT_KEY_LEN: usize = 28;

/// Why a request is not a valid opening handshake. Answer with [`HandshakeError::write_response`]
/// and close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The method is not GET (§4.2.1 item 1). 400.
    MethodNotGet,
    /// The request is HTTP/1.0; the handshake needs HTTP/1.1 or later (§4.2.1 item 1). 400.
    HttpVersionTooOld,
    /// `Upgrade` does not list the `websocket` token (§4.2.1 item 3). 400.
    MissingUpgradeWebsocket,
    /// `Connection` does not list the `upgrade` token (§4.2.1 item 4). 400.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing, repeated or not 13 (§4.2.1 item 6, §4.4). 426, with
    /// `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing, repeated, or not the base64 of exactly 16 bytes
    /// (§4.2.1 item 5). 400.
    InvalidKey,
}

impl HandshakeError {
    /// The status code to answer with.
    pub const fn status(self) -> StatusCode {
        match self {
            HandshakeError::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::MethodNotGet
            | HandshakeError::HttpVersionTooOld
            | HandshakeError::MissingUpgradeWebsocket
            | HandshakeError::MissingConnectionUpgrade
            | HandshakeError::InvalidKey => StatusCode::BAD_REQUEST,
        }
    }

    /// Append the refusal: the status, `Content-Length: 0`, `Connection: close`, and for 426 the
    /// version this server speaks (`Sec-WebSocket-Version: 13`).
    pub fn write_response(self, out: &mut Vec<u8>, date: &DateCache) {
        match self {
            HandshakeError::UnsupportedVersion => write_upgrade_required(out, date),
            other => write_empty_closing(out, other.status(), date),
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            HandshakeError::MethodNotGet => "WebSocket handshake method is not GET",
            HandshakeError::HttpVersionTooOld => "WebSocket handshake needs HTTP/1.1",
            HandshakeError::MissingUpgradeWebsocket => "Upgrade does not name websocket",
            HandshakeError::MissingConnectionUpgrade => "Connection does not name upgrade",
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version is not 13",
            HandshakeError::InvalidKey => "Sec-WebSocket-Key is not 16 base64-encoded bytes",
        };
        write!(f, "{what} ({})", self.status())
    }
}

impl std::error::Error for HandshakeError {}

/// A valid client opening handshake (RFC 6455 §4.2.1), borrowing the request head.
#[derive(Debug, Clone, Copy)]
pub struct Handshake<'a> {
    key: &'a str,
    headers: Headers<'a>,
}

/// Check that `head` is a WebSocket opening handshake (RFC 6455 §4.2.1).
pub fn validate<'a>(head: &RequestHead<'a>) -> Result<Handshake<'a>, HandshakeError> {
    if head.method() != Method::Get {
        return Err(HandshakeError::MethodNotGet);
    }
    if head.version() < Version::Http11 {
        return Err(HandshakeError::HttpVersionTooOld);
    }
    let headers = head.headers();
    if !headers.has_token("upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgradeWebsocket);
    }
    if !headers.has_token("connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    match single(headers, "sec-websocket-version") {
        Some(b"13") => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let key = single(headers, "sec-websocket-key").ok_or(HandshakeError::InvalidKey)?;
    if !is_valid_key(key) {
        return Err(HandshakeError::InvalidKey);
    }
    let key = std::str::from_utf8(key).map_err(|_| HandshakeError::InvalidKey)?;
    Ok(Handshake { key, headers })
}

/// The value of the only field named `name`, or `None` if it is absent or repeated.
fn single<'a>(headers: Headers<'a>, name: &str) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name);
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// True when `key` is the canonical base64 of exactly 16 bytes (§4.2.1 item 5): 22 characters
/// and `==`.
fn is_valid_key(key: &[u8]) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && STANDARD.decode_slice(key, &mut decoded) == Ok(16)
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §1.3, §4.2.2 item 5.4): base64 of
/// the SHA-1 of the key followed by the WebSocket GUID.
pub fn accept_key(key: &[u8]) -> [u8; ACCEPT_KEY_LEN] {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID);
    let digest = sha1.finalize();
    let mut accept = [0u8; ACCEPT_KEY_LEN];
    let written = STANDARD
        .encode_slice(digest, &mut accept)
        .expect("base64 of 20 bytes is 28 bytes");
    debug_assert_eq!(written, ACCEPT_KEY_LEN);
    accept
}

impl<'a> Handshake<'a> {
    /// The client's `Sec-WebSocket-Key`.
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The `Sec-WebSocket-Accept` value answering this handshake.
    pub fn accept_key(&self) -> [u8; ACCEPT_KEY_LEN] {
        accept_key(self.key.as_bytes())
    }

    /// The subprotocols the client offers, in its order of preference: every
    /// `Sec-WebSocket-Protocol` field, comma-split and trimmed (§4.2.1 item 8).
    pub fn protocols(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.headers
            .list("sec-websocket-protocol")
            .filter_map(|p| std::str::from_utf8(p).ok())
    }

    /// The raw `Sec-WebSocket-Extensions` field values the client sent (§4.2.1 item 9, §9.1),
    /// for the extension negotiator to parse.
    pub fn extensions(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.headers.get_all("sec-websocket-extensions")
    }

    /// The first subprotocol the client offers that is in `supported` (compared exactly, as
    /// subprotocol names are case-sensitive tokens), to echo in the 101 response.
    pub fn select_protocol(&self, supported: &[&str]) -> Option<&'a str> {
        self.protocols().find(|offered| supported.contains(offered))
    }

    /// Append the `101 Switching Protocols` response answering this handshake (see
    /// [`write_switching_protocols`]).
    pub fn write_response(
        &self,
        out: &mut Vec<u8>,
        protocol: Option<&str>,
        extra: &[(&str, &[u8])],
    ) -> Result<(), HeaderError> {
        write_switching_protocols(out, &self.accept_key(), protocol, extra)
    }
}

/// Append the `101 Switching Protocols` response (§4.2.2 item 5): `Upgrade: websocket`,
/// `Connection: Upgrade`, `Sec-WebSocket-Accept: accept`, `Sec-WebSocket-Protocol` when
/// `protocol` is given (it must be one the client offered), then `extra` headers (such as a
/// negotiated `Sec-WebSocket-Extensions`, or a cookie). On a refused header nothing is appended.
pub fn write_switching_protocols(
    out: &mut Vec<u8>,
    accept: &[u8; ACCEPT_KEY_LEN],
    protocol: Option<&str>,
    extra: &[(&str, &[u8])],
) -> Result<(), HeaderError> {
    // A writer dropped before its body truncates what it wrote.
    let mut response = ResponseWriter::without_date(out, StatusCode::SWITCHING_PROTOCOLS);
    response
        .header("Upgrade", b"websocket")?
        .header("Connection", b"Upgrade")?
        .header("Sec-WebSocket-Accept", accept)?;
    if let Some(protocol) = protocol {
        response.header("Sec-WebSocket-Protocol", protocol.as_bytes())?;
    }
    for (name, value) in extra {
        response.header(name, value)?;
    }
    response.body(b"");
    Ok(())
}
