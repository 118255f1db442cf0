//! Arbitrary bytes → request head → WebSocket handshake validation → response.
//!
//! Invariants: no panic; an accepted handshake's accept key is 28 bytes of base64 of a 20-byte
//! digest, and the 101 written for it parses with httparse; a refusal's response parses with
//! httparse and carries the refusal's status.
#![no_main]

use base64::Engine as _;
use imphnen_protocol::http::{DateCache, HeaderSlots, Limits, Parsed, parse_request};
use imphnen_protocol::ws::deflate::{DeflatePolicy, negotiate};
use imphnen_protocol::ws::handshake::validate;

fn parse_response(bytes: &[u8]) -> (u16, usize) {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => (response.code.unwrap(), len),
        other => panic!(
            "unparsable response {other:?}: {:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut slots = HeaderSlots::<64>::new();
    let Ok(Parsed::Complete(head, _)) = parse_request(data, &mut slots, &Limits::default()) else {
        return;
    };
    let mut out = Vec::new();
    match validate(&head) {
        Ok(handshake) => {
            let accept = handshake.accept_key();
            let digest = base64::engine::general_purpose::STANDARD
                .decode(accept)
                .expect("accept key is base64");
            assert_eq!(digest.len(), 20);
            let protocol = handshake.select_protocol(&["chat", "superchat"]);
            // permessage-deflate offers from the request, under both kinds of policy.
            let shared = DeflatePolicy {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            };
            let small = DeflatePolicy {
                server_max_window_bits: 10,
                client_max_window_bits: 9,
                ..DeflatePolicy::default()
            };
            let answers: Vec<String> = [shared, small]
                .iter()
                .filter_map(|p| negotiate(handshake.extensions(), p))
                .map(|a| {
                    assert!(a.client_window_bits >= 9 && a.client_window_bits <= 15);
                    assert!(a.server_window_bits.is_none_or(|b| (9..=15).contains(&b)));
                    a.response()
                })
                .collect();
            let extra: Vec<(&str, &[u8])> = answers
                .first()
                .map(|a| ("Sec-WebSocket-Extensions", a.as_bytes()))
                .into_iter()
                .collect();
            // Offered protocols come from the request; a refused one is fine, a panic is not.
            if handshake.write_response(&mut out, protocol, &extra).is_ok() {
                let (code, len) = parse_response(&out);
                assert_eq!((code, len), (101, out.len()));
            } else {
                assert!(out.is_empty());
            }
        }
        Err(error) => {
            error.write_response(&mut out, &DateCache::new(std::time::UNIX_EPOCH));
            let (code, len) = parse_response(&out);
            assert_eq!((code, len), (error.status().as_u16(), out.len()));
        }
    }
});
