//! Arbitrary bytes → one whole connection of a running imphnen server → bytes out.
//!
//! The engine's connection state machine reads and writes real file descriptors (its core owns
//! an epoll set, a listening socket and a slab of connections keyed by fd), so this target drives
//! it over loopback TCP: an in-process server (one core, small limits) and, per input, one
//! connection that writes the input, half-closes, and reads everything the server says until it
//! closes. The first input byte picks the prelude: 0 raw HTTP, 1 a valid upgrade to `/echo` then
//! raw bytes, 2 the upgrade then the rest cut into masked frames (so frames get past the mask
//! check and reach message assembly, UTF-8 validation, control frames and the close handshake).
//!
//! Invariants: the server never hangs (every connection ends within the timeout) and keeps
//! serving; every HTTP response head parses; after a 101, every frame is an unmasked server frame
//! with a defined opcode, a Close carries a code an endpoint may send, and nothing follows it.
#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use imphnen::{App, Config, Ctx, Server, WsHandler};

const UPGRADE: &[u8] =
    b"GET /echo HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn server() -> SocketAddr {
    static SERVER: OnceLock<(Server, SocketAddr)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let mut config = Config {
                workers: 1,
                ..Config::default()
            };
            config.websocket.max_payload_length = 64 << 10;
            config.http.limits.max_body_size = 64 << 10;
            config.http.request_timeout = Duration::from_secs(1);
            let mut app = App::new(config);
            app.ws(
                "/echo",
                WsHandler::new().on_message(|ctx, msg| {
                    ctx.ws.send(msg);
                    Ok(())
                }),
            );
            app.get("/", |_ctx: Ctx| "ok");
            app.post("/len", |ctx: Ctx| ctx.body().bytes().len().to_string());
            let server = app.listen("127.0.0.1:0").expect("bind");
            let addr = server.local_addr();
            (server, addr)
        })
        .1
}

/// Cuts `data` into client frames: per frame one byte of FIN/RSV/opcode, one length byte
/// (0..=125), then that many payload bytes, masked.
fn frames(mut data: &[u8], out: &mut Vec<u8>) {
    let key = [0xa1, 0x5e, 0x07, 0x3c];
    while data.len() >= 2 {
        let (b0, len) = (data[0], (data[1] & 0x7f).min(125) as usize);
        data = &data[2..];
        let payload = &data[..len.min(data.len())];
        data = &data[payload.len()..];
        out.push(b0);
        out.push(0x80 | payload.len() as u8);
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
}

/// Checks the server's bytes; returns a description of the first violation.
fn check(out: &[u8], upgraded: bool) -> Result<(), String> {
    let mut rest = out;
    // HTTP responses (a 101 switches to frames).
    loop {
        if rest.is_empty() {
            return Ok(());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            other => return Err(format!("unparsable response head: {other:?}")),
        };
        let code = resp.code.unwrap_or(0);
        let body = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        if code == 101 {
            if !upgraded {
                return Err("101 without an upgrade request".into());
            }
            rest = &rest[len..];
            break;
        }
        // A response to HEAD announces a length but has no body: what follows is the next
        // response, or nothing.
        let after = &rest[len..];
        let head_only = after.is_empty() || after.starts_with(b"HTTP/1.");
        if head_only {
            rest = after;
            continue;
        }
        if after.len() < body {
            return Err(format!("response {code} cut short"));
        }
        rest = &after[body..];
    }
    // Server frames.
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err("partial frame header".into());
        }
        if rest[1] & 0x80 != 0 {
            return Err("masked server frame".into());
        }
        if rest[0] & 0x70 != 0 {
            return Err("RSV bits on a server frame".into());
        }
        let opcode = rest[0] & 0x0f;
        let (len, start) = match rest[1] & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 if rest.len() >= 10 => (
                u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return Err("partial extended length".into()),
            n => (n as usize, 2),
        };
        if rest.len() < start + len {
            return Err("frame cut short".into());
        }
        let payload = &rest[start..start + len];
        rest = &rest[start + len..];
        match opcode {
            0x1 if std::str::from_utf8(payload).is_err() => {
                return Err("server text frame is not UTF-8".into());
            }
            0x0..=0x2 | 0x9 | 0xa => {}
            0x8 => {
                if payload.len() >= 2 {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    // RFC 6455 §7.4 and the IANA registry (1012-1014 registered since).
                    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
                    if !sendable {
                        return Err(format!("Close with code {code}"));
                    }
                } else if payload.len() == 1 {
                    return Err("Close body of one byte".into());
                }
                if !rest.is_empty() {
                    return Err("bytes after the server's Close".into());
                }
            }
            op => return Err(format!("server frame with opcode {op:#x}")),
        }
    }
    Ok(())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mode = mode % 3;
    let mut input = Vec::with_capacity(data.len() + UPGRADE.len() + 64);
    if mode > 0 {
        input.extend_from_slice(UPGRADE);
    }
    if mode == 2 {
        frames(body, &mut input);
    } else {
        input.extend_from_slice(body);
    }

    let mut stream = TcpStream::connect(server()).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    // The server may close early (a refusal); a failed write is part of the game.
    let _ = stream.write_all(&input);
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            // libFuzzer's timers are signals.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server did not close the connection within 5 s")
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
    if let Err(e) = check(&out, mode > 0) {
        panic!(
            "{e}\n--- in ({} bytes): {:?}\n--- out ({} bytes): {:?}",
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(512)]),
            out.len(),
            String::from_utf8_lossy(&out[..out.len().min(512)])
        );
    }
});
