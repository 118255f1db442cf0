//! The WebSocket opening handshake (RFC 6455 §4.2) against raw request bytes.

use std::time::{Duration, UNIX_EPOCH};

use imphnen_protocol::http::{DateCache, HeaderSlots, Limits, Parsed, parse_request};
use imphnen_protocol::ws::handshake::{HandshakeError, accept_key, validate};

/// A request as Chromium sends it when a page opens `new WebSocket("ws://localhost:3000/chat", ["chat", "superchat"])`.
const CHROMIUM: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: localhost:3000\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://localhost:3000\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";

/// Run `f` on the handshake validation result of `request`.
fn handshake<T>(
    request: &[u8],
    f: impl FnOnce(Result<imphnen_protocol::ws::handshake::Handshake<'_>, HandshakeError>) -> T,
) -> T {
    let mut slots = HeaderSlots::<64>::new();
    match parse_request(request, &mut slots, &Limits::default()) {
        Ok(Parsed::Complete(head, _)) => f(validate(&head)),
        other => panic!("head did not parse: {other:?}"),
    }
}

fn rejection(request: &[u8]) -> HandshakeError {
    handshake(request, |r| r.expect_err("should be refused"))
}

#[test]
fn rfc_6455_section_1_3_accept_key() {
    assert_eq!(
        &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn chromium_upgrade_request_is_accepted() {
    handshake(CHROMIUM, |result| {
        let hs = result.unwrap();
        assert_eq!(hs.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(&hs.accept_key(), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(hs.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
        assert_eq!(
            hs.extensions().collect::<Vec<_>>(),
            [&b"permessage-deflate; client_max_window_bits"[..]]
        );
        assert_eq!(hs.select_protocol(&["superchat", "chat"]), Some("chat"));
        assert_eq!(hs.select_protocol(&["superchat"]), Some("superchat"));
        assert_eq!(hs.select_protocol(&["Chat"]), None);
    });
}

#[test]
fn switching_protocols_response_parses() {
    let mut out = Vec::new();
    handshake(CHROMIUM, |result| {
        let hs = result.unwrap();
        hs.write_response(&mut out, Some("chat"), &[("X-Server", b"imphnen")])
            .unwrap();
    });
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    assert_eq!(
        response.parse(&out),
        Ok(httparse::Status::Complete(out.len()))
    );
    assert_eq!(response.code, Some(101));
    assert_eq!(response.reason, Some("Switching Protocols"));
    let get = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    assert_eq!(get("upgrade"), Some(&b"websocket"[..]));
    assert_eq!(get("connection"), Some(&b"Upgrade"[..]));
    assert_eq!(
        get("sec-websocket-accept"),
        Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..])
    );
    assert_eq!(get("sec-websocket-protocol"), Some(&b"chat"[..]));
    assert_eq!(get("x-server"), Some(&b"imphnen"[..]));
    assert_eq!(
        get("content-length"),
        None,
        "101 carries no content framing"
    );
}

#[test]
fn switching_protocols_refuses_crlf_in_protocol() {
    handshake(CHROMIUM, |result| {
        let mut out = Vec::new();
        assert!(
            result
                .unwrap()
                .write_response(&mut out, Some("chat\r\nX: y"), &[])
                .is_err()
        );
        assert!(out.is_empty());
    });
}

#[test]
fn token_lists_are_case_insensitive_with_whitespace() {
    let request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: foo/2 , WebSocket\r\nConnection: keep-alive ,UPGRADE\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol:  b ,c\r\n\r\n";
    handshake(request, |result| {
        let hs = result.unwrap();
        assert_eq!(hs.protocols().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(hs.extensions().count(), 0);
    });
}

const VALID_REST: &str = "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

#[test]
fn post_is_400() {
    let request = format!("POST / HTTP/1.1\r\n{VALID_REST}");
    let error = rejection(request.as_bytes());
    assert_eq!(
        (error, error.status().as_u16()),
        (HandshakeError::MethodNotGet, 400)
    );
}

#[test]
fn http10_is_400() {
    let request = format!("GET / HTTP/1.0\r\n{VALID_REST}");
    assert_eq!(rejection(request.as_bytes()).status().as_u16(), 400);
}

#[test]
fn missing_upgrade_websocket_is_400() {
    let request = format!(
        "GET / HTTP/1.1\r\n{}",
        VALID_REST.replace("Upgrade: websocket", "Upgrade: h2c")
    );
    let error = rejection(request.as_bytes());
    assert_eq!(
        (error, error.status().as_u16()),
        (HandshakeError::MissingUpgradeWebsocket, 400)
    );
}

#[test]
fn missing_connection_upgrade_is_400() {
    let request = format!(
        "GET / HTTP/1.1\r\n{}",
        VALID_REST.replace("Connection: Upgrade", "Connection: keep-alive")
    );
    let error = rejection(request.as_bytes());
    assert_eq!(
        (error, error.status().as_u16()),
        (HandshakeError::MissingConnectionUpgrade, 400)
    );
}

#[test]
fn version_8_is_426_with_version_13_header() {
    let request = format!(
        "GET / HTTP/1.1\r\n{}",
        VALID_REST.replace("Version: 13", "Version: 8")
    );
    let error = rejection(request.as_bytes());
    assert_eq!(
        (error, error.status().as_u16()),
        (HandshakeError::UnsupportedVersion, 426)
    );
    let mut out = Vec::new();
    error.write_response(
        &mut out,
        &DateCache::new(UNIX_EPOCH + Duration::from_secs(1)),
    );
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    assert!(response.parse(&out).unwrap().is_complete());
    assert_eq!(response.code, Some(426));
    assert!(
        response
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("sec-websocket-version") && h.value == b"13")
    );
}

#[test]
fn missing_version_is_426() {
    let request = format!(
        "GET / HTTP/1.1\r\n{}",
        VALID_REST.replace("Sec-WebSocket-Version: 13\r\n", "")
    );
    assert_eq!(rejection(request.as_bytes()).status().as_u16(), 426);
}

#[test]
fn missing_key_is_400() {
    let request = format!(
        "GET / HTTP/1.1\r\n{}",
        VALID_REST.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
    );
    let error = rejection(request.as_bytes());
    assert_eq!(
        (error, error.status().as_u16()),
        (HandshakeError::InvalidKey, 400)
    );
}

#[test]
fn key_not_16_bytes_is_400() {
    for key in [
        "dGhlIHNhbXBsZSBub25jZQ",   // unpadded
        "dGhlIHNhbXBsZSBub25jZSE=", // 17 bytes
        "dGhlIHNhbXBsZSBub25j",     // 15 bytes
        "dGhlIHNhbXBsZSBub25jZR==", // non-canonical trailing bits
        "dGhlIHNhbXBsZSBub25j*Q==", // not base64
    ] {
        let request = format!(
            "GET / HTTP/1.1\r\n{}",
            VALID_REST.replace("dGhlIHNhbXBsZSBub25jZQ==", key)
        );
        assert_eq!(
            rejection(request.as_bytes()),
            HandshakeError::InvalidKey,
            "key {key}"
        );
    }
}

#[test]
fn repeated_key_is_400() {
    let request =
        format!("GET / HTTP/1.1\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n{VALID_REST}");
    assert_eq!(rejection(request.as_bytes()), HandshakeError::InvalidKey);
}
