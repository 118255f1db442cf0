//! Arbitrary bytes → one whole connection of an imphnen app → bytes out.
//!
//! The app runs on one core of the memory driver, stepped by hand on the fuzzer's thread
//! (`App::stepper`): no threads, no sockets, and a clock that moves only when told, so each
//! input's run is deterministic. Per input, one connection writes the input, half-closes, and
//! the core runs until it has nothing left to do; whatever it has not closed by then is given
//! time (the request and close timeouts) until it does. The first input byte picks the prelude:
//! 0 raw HTTP, 1 a valid upgrade to `/echo` then raw bytes, 2 the upgrade then the rest cut into
//! masked frames (so frames get past the mask check and reach message assembly, UTF-8
//! validation, control frames and the close handshake), 3 the same with permessage-deflate
//! negotiated (the app compresses every message it sends; frames with RSV1 reach the
//! inflater).
//!
//! Invariants: the connection always ends (within the timeouts) and the core keeps serving;
//! every HTTP response head parses; after a 101, every frame is an unmasked server frame with a
//! defined opcode, a Close carries a code an endpoint may send, and nothing follows it; RSV1
//! only on data frames once permessage-deflate is negotiated, their payload inflating (zlib)
//! to UTF-8 for text.
#![no_main]

use std::cell::RefCell;
use std::io::{ErrorKind, Write};
use std::time::Duration;

use imphnen::memory::{MemoryStream, Stepper};
use imphnen::{App, Config, Ctx, WsCallbacks};

const UPGRADE: &[u8] =
    b"GET /echo HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const UPGRADE_DEFLATE: &[u8] =
    b"GET /echo HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

fn stepper() -> Stepper {
    let mut config = Config {
        workers: 1,
        ..Config::default()
    };
    config.websocket.max_payload_length = 64 << 10;
    config.http.limits.max_body_size = 64 << 10;
    config.http.request_timeout = Duration::from_secs(1);
    // Negotiated only when a client offers it (mode 3); then every echo is compressed.
    config.websocket.compression = imphnen::Compression::Shared;
    config.websocket.decompression = imphnen::Compression::Shared;
    config.websocket.compress_min_size = 0;
    let mut app = App::new(config);
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app.get("/", |_ctx: Ctx| "ok");
    app.post("/len", |ctx: Ctx| ctx.body().bytes().len().to_string());
    app.stepper().expect("a stepper")
}

thread_local! {
    static CORE: RefCell<Stepper> = RefCell::new(stepper());
}

/// Writes `input` (letting the core take what the pipe holds), half-closes, and collects what
/// the core says until it closes; `None` if it never does.
fn exchange(core: &mut Stepper, input: &[u8]) -> Option<Vec<u8>> {
    let mut client: MemoryStream = core.connect().expect("the core accepts");
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        match client.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            // The pipe is full: the core takes some, and may answer meanwhile.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                core.run();
                drain(&mut client, &mut out).ok()?;
            }
            // The server closed early (a refusal): a failed write is part of the game.
            Err(_) => break,
        }
    }
    let _ = client.flush();
    client.shutdown_write();
    core.run();
    // Request timeout 1 s, close handshake 5 s, lingering close 5 s: 30 s of core time is
    // plenty for any connection to end.
    for _ in 0..60 {
        if drain(&mut client, &mut out).ok()? {
            return Some(out);
        }
        core.advance(Duration::from_millis(500));
    }
    None
}

/// Reads what is there into `out`; `Ok(true)` once the server closed.
fn drain(client: &mut MemoryStream, out: &mut Vec<u8>) -> Result<bool, String> {
    loop {
        // Straight into `out` (no stack buffer: under ASan a large one costs every call).
        let len = out.len();
        out.resize(len + (16 << 10), 0);
        let read = client.try_read(&mut out[len..]);
        out.truncate(len + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(true),
            Err(e) => return Err(e.to_string()),
        }
    }
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
fn check(out: &[u8], upgraded: bool, deflate: bool) -> Result<(), String> {
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
        let opcode = rest[0] & 0x0f;
        let rsv1 = rest[0] & 0x40 != 0;
        if rest[0] & 0x30 != 0 || (rsv1 && !(deflate && matches!(opcode, 0x1 | 0x2))) {
            return Err("RSV bits on a server frame".into());
        }
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
        let inflated;
        let payload = if rsv1 {
            inflated = inflate(payload).ok_or("a compressed server frame does not inflate")?;
            &inflated[..]
        } else {
            payload
        };
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

/// A compressed message's payload inflated (RFC 7692 §7.2.2), by zlib; the server resets its
/// context per message in the shared mode.
fn inflate(payload: &[u8]) -> Option<Vec<u8>> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut z = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(256 << 10);
    z.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
        .ok()?;
    (z.total_in() as usize == input.len()).then_some(out)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mode = mode % 4;
    let mut input = Vec::with_capacity(data.len() + UPGRADE_DEFLATE.len() + 64);
    match mode {
        1 | 2 => input.extend_from_slice(UPGRADE),
        3 => input.extend_from_slice(UPGRADE_DEFLATE),
        _ => {}
    }
    if mode >= 2 {
        frames(body, &mut input);
    } else {
        input.extend_from_slice(body);
    }
    let out = CORE
        .with(|core| exchange(&mut core.borrow_mut(), &input))
        .expect("the server did not close the connection within 30 s of core time");
    if let Err(e) = check(&out, mode > 0, mode == 3) {
        panic!(
            "{e}\n--- in ({} bytes): {:?}\n--- out ({} bytes): {:?}",
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(512)]),
            out.len(),
            String::from_utf8_lossy(&out[..out.len().min(512)])
        );
    }
});
