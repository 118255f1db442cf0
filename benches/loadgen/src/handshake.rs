//! The client half of the RFC 6455 opening handshake: the upgrade request with a random
//! `Sec-WebSocket-Key`, and the check of the server's `101` response and its
//! `Sec-WebSocket-Accept`.
//!
//! Pure functions over bytes; the socket side lives in `conn`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest response head accepted before giving up on a server.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// The `Sec-WebSocket-Accept` value a server must answer to `key`.
pub fn accept_for(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Base64 of 16 random bytes, as `Sec-WebSocket-Key` requires.
pub fn key_from_nonce(nonce: [u8; 16]) -> String {
    BASE64.encode(nonce)
}

/// The upgrade request for `path` (with query) on `host`.
pub fn request(host: &str, path: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Result of looking at the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// The head is not complete yet.
    Incomplete,
    /// Valid `101`; the head took this many bytes (WebSocket frames may follow).
    Upgraded(usize),
}

/// Checks a server's response head against the accept value expected for our key.
pub fn check_response(buf: &[u8], expected_accept: &str) -> Result<Response, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err("response head too large".into());
        }
        return Ok(Response::Incomplete);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    let (version, code) = (parts.next(), parts.next());
    if version != Some("HTTP/1.1") || code != Some("101") {
        return Err(format!("expected 101 Switching Protocols, got {status:?}"));
    }
    let (mut upgrade, mut connection, mut accept) = (false, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection = value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            if value != expected_accept {
                return Err(format!(
                    "Sec-WebSocket-Accept {value:?}, expected {expected_accept:?}"
                ));
            }
            accept = true;
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            return Err(format!(
                "server negotiated an extension we did not offer: {value}"
            ));
        }
    }
    match (upgrade, connection, accept) {
        (true, true, true) => Ok(Response::Upgraded(end + 4)),
        _ => Err("101 response lacks Upgrade, Connection or Sec-WebSocket-Accept".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc6455_section_1_3() {
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn key_is_base64_of_sixteen_bytes() {
        let key = key_from_nonce(*b"the sample nonce");
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn request_carries_the_upgrade_headers() {
        let req = String::from_utf8(request("127.0.0.1:3000", "/echo", "abc")).unwrap();
        assert!(req.starts_with("GET /echo HTTP/1.1\r\n"));
        assert!(req.contains("Sec-WebSocket-Key: abc\r\n"));
        assert!(req.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn valid_101_is_accepted_and_its_length_reported() {
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
        let ok = check_response(resp, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").unwrap();
        assert_eq!(ok, Response::Upgraded(resp.len() - 2));
    }

    #[test]
    fn wrong_accept_or_status_is_rejected() {
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(check_response(bad, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").is_err());
        assert!(check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n", "x").is_err());
    }

    #[test]
    fn partial_head_needs_more_bytes() {
        assert_eq!(
            check_response(b"HTTP/1.1 101 Sw", "x"),
            Ok(Response::Incomplete)
        );
    }
}
