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

/// The permessage-deflate offer a browser makes (RFC 7692 §7.1).
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The upgrade request for `path` (with query) on `host`, offering permessage-deflate if
/// `deflate`.
pub fn request(host: &str, path: &str, key: &str, deflate: bool) -> Vec<u8> {
    let offer = if deflate {
        format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")
    } else {
        String::new()
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .into_bytes()
}

/// What the server answered to our permessage-deflate offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deflate {
    /// `server_no_context_takeover`: each server message inflates on its own.
    pub server_no_context_takeover: bool,
}

/// Result of looking at the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// The head is not complete yet.
    Incomplete,
    /// Valid `101`; the head took this many bytes (WebSocket frames may follow), and
    /// permessage-deflate if it was negotiated.
    Upgraded(usize, Option<Deflate>),
}

/// Checks a server's response head against the accept value expected for our key; with
/// `deflate` (our offer went out) the server must have accepted permessage-deflate.
pub fn check_response(
    buf: &[u8],
    expected_accept: &str,
    deflate: bool,
) -> Result<Response, String> {
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
    let mut negotiated = None;
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
            let mut params = value.split(';').map(str::trim);
            if !deflate || params.next() != Some("permessage-deflate") {
                return Err(format!(
                    "server negotiated an extension we did not offer: {value}"
                ));
            }
            let mut answer = Deflate {
                server_no_context_takeover: false,
            };
            for p in params {
                match p.split_once('=').map_or(p, |(name, _)| name.trim()) {
                    "server_no_context_takeover" => answer.server_no_context_takeover = true,
                    // Our compressor resets for every message anyway; any window fits in 15.
                    "client_no_context_takeover"
                    | "server_max_window_bits"
                    | "client_max_window_bits" => {}
                    other => return Err(format!("unknown permessage-deflate parameter {other}")),
                }
            }
            negotiated = Some(answer);
        }
    }
    if deflate && negotiated.is_none() {
        return Err("the server did not accept permessage-deflate".into());
    }
    match (upgrade, connection, accept) {
        (true, true, true) => Ok(Response::Upgraded(end + 4, negotiated)),
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
        let req = String::from_utf8(request("127.0.0.1:3000", "/echo", "abc", false)).unwrap();
        assert!(req.starts_with("GET /echo HTTP/1.1\r\n"));
        assert!(req.contains("Sec-WebSocket-Key: abc\r\n"));
        assert!(req.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn valid_101_is_accepted_and_its_length_reported() {
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
        let ok = check_response(resp, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", false).unwrap();
        assert_eq!(ok, Response::Upgraded(resp.len() - 2, None));
    }

    #[test]
    fn wrong_accept_or_status_is_rejected() {
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(check_response(bad, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", false).is_err());
        assert!(check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n", "x", false).is_err());
    }

    #[test]
    fn partial_head_needs_more_bytes() {
        assert_eq!(
            check_response(b"HTTP/1.1 101 Sw", "x", false),
            Ok(Response::Incomplete)
        );
    }
}
