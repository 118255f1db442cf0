//! permessage-deflate (RFC 7692) on the engine, checked against the RFC's own bytes on raw
//! sockets: the negotiated answer, the exact frames of §7.2.3 in both directions, context
//! takeover in the dedicated mode (and its refusal when the client asks for none), a publish
//! compressed once for all of a core's subscribers, the cap on dedicated streams, and messages
//! that end their DEFLATE stream with a final block.

mod engine_support;

use engine_support::{Raw, frame};
use flate2::{Compress, Compression as Level, Decompress, FlushCompress, FlushDecompress};
use imphnen::{App, Compression, Config, Server, WsCallbacks, WsConfig};

/// RFC 7692 §7.2.3.1: "Hello" compressed.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// §7.2.3.2: the second "Hello" with context takeover, a back-reference to the first.
const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];
const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn start(ws: WsConfig) -> Server {
    start_with(ws, |_| {})
}

/// The test app, with more routes from `more`.
fn start_with(ws: WsConfig, more: impl FnOnce(&mut App)) -> Server {
    let mut app = App::new(Config {
        workers: 1,
        websocket: ws,
        ..Default::default()
    });
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app.ws(
        "/topic",
        WsCallbacks::new().on_open(|ctx| {
            ctx.ws.subscribe("news");
            ctx.ws.send("subscribed");
            Ok(())
        }),
    );
    more(&mut app);
    app.listen("127.0.0.1:0").expect("listen")
}

fn config(compression: Compression, min: usize) -> WsConfig {
    WsConfig {
        compression,
        decompression: compression,
        compress_min_size: min,
        ..Default::default()
    }
}

/// Upgrades with `offer` in `Sec-WebSocket-Extensions` (none for `None`); returns the
/// connection and the extension the 101 answered.
fn connect(server: &Server, path: &str, offer: Option<&str>) -> (Raw, Option<String>) {
    let mut raw = Raw::to(server);
    let offer = offer.map_or(String::new(), |o| {
        format!("Sec-WebSocket-Extensions: {o}\r\n")
    });
    raw.send(
        format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        )
        .as_bytes(),
    );
    let r = raw.response(true);
    assert_eq!(r.status, 101, "{r:?}");
    let answer = r.header("sec-websocket-extensions").map(str::to_owned);
    (raw, answer)
}

/// A masked client frame with first byte `b0` (FIN, RSV1, opcode as given).
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = frame(b0 & 0x0f, payload, MASK);
    f[0] = b0;
    f
}

/// The next whole server frame, header included.
fn next_frame(raw: &mut Raw) -> Vec<u8> {
    loop {
        if raw.buf.len() >= 2 {
            let (len, header) = match raw.buf[1] & 0x7f {
                126 if raw.buf.len() >= 4 => {
                    (usize::from(u16::from_be_bytes([raw.buf[2], raw.buf[3]])), 4)
                }
                127 if raw.buf.len() >= 10 => (
                    u64::from_be_bytes(raw.buf[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => (usize::MAX, 0),
                n => (usize::from(n), 2),
            };
            if len != usize::MAX && raw.buf.len() >= header + len {
                return raw.buf.drain(..header + len).collect();
            }
        }
        assert!(raw.fill(), "the server closed the connection");
    }
}

/// Inflates a compressed frame's payload (RSV1 set) with a fresh zlib stream (§7.2.2).
fn inflate(frame: &[u8]) -> Vec<u8> {
    inflate_with(&mut Decompress::new(false), frame)
}

/// Inflates a compressed frame's payload with `z`, which keeps its context, tail appended.
fn inflate_with(z: &mut Decompress, frame: &[u8]) -> Vec<u8> {
    assert_eq!(frame[0] & 0x40, 0x40, "RSV1 is set: {:#x}", frame[0]);
    let header = match frame[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    let mut input = frame[header..].to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    z.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .expect("valid DEFLATE data");
    out
}

#[test]
fn the_shared_mode_answers_the_rfc_frames() {
    let server = start(config(Compression::Shared, 0));
    let (mut raw, answer) = connect(&server, "/echo", Some("permessage-deflate"));
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    // §7.2.3.1, sent twice: without context takeover both echoes are the whole "Hello".
    for _ in 0..2 {
        raw.send(&client_frame(0xc1, &HELLO));
        let mut expected = vec![0xc1, 0x07];
        expected.extend_from_slice(&HELLO);
        assert_eq!(next_frame(&mut raw), expected);
    }
    // §7.2.3.1's fragmented form, and §7.2.3.3's stored block, inflate to the same message.
    raw.send(&client_frame(0x41, &HELLO[..3]));
    raw.send(&client_frame(0x80, &HELLO[3..]));
    assert_eq!(next_frame(&mut raw)[2..], HELLO);
    let stored = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    raw.send(&client_frame(0xc1, &stored));
    assert_eq!(next_frame(&mut raw)[2..], HELLO);
}

#[test]
fn the_dedicated_mode_takes_over_context_as_the_rfc_shows() {
    let server = start(config(Compression::Dedicated { window_bits: 15 }, 0));
    let (mut raw, answer) = connect(&server, "/echo", Some("permessage-deflate"));
    assert_eq!(answer.as_deref(), Some("permessage-deflate"));
    // §7.2.3.2: the client sends "Hello" twice on one context; the server does the same.
    raw.send(&client_frame(0xc1, &HELLO));
    raw.send(&client_frame(0xc1, &HELLO_AGAIN));
    let mut first = vec![0xc1, 0x07];
    first.extend_from_slice(&HELLO);
    let mut second = vec![0xc1, 0x05];
    second.extend_from_slice(&HELLO_AGAIN);
    assert_eq!(next_frame(&mut raw), first);
    assert_eq!(next_frame(&mut raw), second);
}

#[test]
fn short_messages_and_clients_without_the_extension_get_plain_frames() {
    let server = start(config(Compression::Shared, 1024));
    let (mut raw, _) = connect(&server, "/echo", Some("permessage-deflate"));
    raw.send(&client_frame(0xc1, &HELLO));
    assert_eq!(next_frame(&mut raw), b"\x81\x05Hello");
    let (mut plain, answer) = connect(&server, "/echo", None);
    assert_eq!(answer, None);
    let big = "x".repeat(5000);
    plain.send(&client_frame(0x81, big.as_bytes()));
    let echoed = next_frame(&mut plain);
    assert_eq!(echoed[0], 0x81);
    assert_eq!(&echoed[4..], big.as_bytes());
    // RSV1 without the extension is a protocol error (RFC 6455 §5.2).
    plain.send(&client_frame(0xc1, &HELLO));
    let close = next_frame(&mut plain);
    assert_eq!(close[..4], [0x88, 0x02, 0x03, 0xea]); // 1002
}

#[test]
fn a_publish_is_compressed_once_for_every_shared_subscriber() {
    const SUBSCRIBERS: usize = 200;
    let server = start(config(Compression::Shared, 1024));
    let mut subs: Vec<Raw> = (0..SUBSCRIBERS)
        .map(|_| connect(&server, "/topic", Some("permessage-deflate")).0)
        .collect();
    let (mut plain, _) = connect(&server, "/topic", None);
    for raw in subs.iter_mut().chain([&mut plain]) {
        assert_eq!(next_frame(raw), b"\x81\x0asubscribed");
    }
    assert_eq!(server.subscriber_count("news"), SUBSCRIBERS + 1);
    let before = server.compressed_messages();
    let news = format!(
        "{{\"news\": \"{}\"}}",
        "all the news that fits ".repeat(100)
    );
    assert_eq!(server.publish("news", news.as_str()), SUBSCRIBERS + 1);
    for raw in &mut subs {
        let f = next_frame(raw);
        assert_eq!(f[0], 0xc1);
        assert_eq!(inflate(&f), news.as_bytes());
    }
    let f = next_frame(&mut plain);
    assert_eq!((f[0], &f[4..]), (0x81, news.as_bytes()));
    assert_eq!(
        server.compressed_messages() - before,
        1,
        "one deflate call for {SUBSCRIBERS} subscribers of one core"
    );
}

#[test]
fn past_the_cap_on_dedicated_streams_connections_are_offered_the_shared_mode() {
    let server = start(WsConfig {
        max_dedicated_streams: 1,
        ..config(Compression::Dedicated { window_bits: 12 }, 0)
    });
    let offer = Some("permessage-deflate; client_max_window_bits");
    let (mut first, answer) = connect(&server, "/echo", offer);
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    );
    let (mut second, answer) = connect(&server, "/echo", offer);
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    for raw in [&mut first, &mut second] {
        raw.send(&client_frame(0xc1, &HELLO));
        assert_eq!(inflate(&next_frame(raw)), b"Hello");
    }
    // The first one closes: its stream goes back, and the next connection gets one again.
    drop(first);
    let mut answer = None;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        answer = connect(&server, "/echo", offer).1;
        if answer.as_deref()
            != Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        {
            break;
        }
    }
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    );
}

#[test]
fn server_no_context_takeover_is_honoured_in_the_dedicated_mode() {
    let server = start(config(Compression::Dedicated { window_bits: 15 }, 0));
    let (mut raw, answer) = connect(
        &server,
        "/echo",
        Some("permessage-deflate; server_no_context_takeover"),
    );
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    // The client keeps its context (§7.2.3.2's second frame), the server may not: both echoes
    // are the whole "Hello", never a back-reference.
    raw.send(&client_frame(0xc1, &HELLO));
    raw.send(&client_frame(0xc1, &HELLO_AGAIN));
    for _ in 0..2 {
        let mut expected = vec![0xc1, 0x07];
        expected.extend_from_slice(&HELLO);
        assert_eq!(next_frame(&mut raw), expected);
    }
}

/// `text` compressed by zlib into one DEFLATE stream that ends with a final block (BFINAL),
/// as some clients send (RFC 7692 §7.2.3.4): the tail is not there to strip.
fn final_block(text: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Level::default(), false);
    let mut out = Vec::with_capacity(text.len() + 64);
    z.compress_vec(text, &mut out, FlushCompress::Finish)
        .unwrap();
    out
}

#[test]
fn messages_ending_in_a_final_block_of_any_size_are_inflated_and_the_next_ones_too() {
    for mode in [
        Compression::Shared,
        Compression::Dedicated { window_bits: 15 },
    ] {
        let server = start(config(mode, 1024));
        let (mut raw, _) = connect(&server, "/echo", Some("permessage-deflate"));
        // The server's context, kept in the dedicated mode.
        let mut theirs = Decompress::new(false);
        let short = b"after a final block".to_vec();
        let long: Vec<u8> = (0..6000u32)
            .flat_map(|i| (i % 251).to_string().into_bytes())
            .collect();
        for text in [&short, &long, &short, &long] {
            raw.send(&client_frame(0xc1, &final_block(text)));
            let echo = next_frame(&mut raw);
            let got = if echo[0] & 0x40 != 0 {
                inflate_with(&mut theirs, &echo)
            } else {
                echo[2..].to_vec()
            };
            if mode == Compression::Shared {
                theirs.reset(false);
            }
            assert_eq!(&got, text, "{mode:?}: {} bytes", text.len());
        }
        // A message compressed the usual way still follows.
        raw.send(&client_frame(0xc1, &HELLO));
        assert_eq!(next_frame(&mut raw), b"\x81\x05Hello");
    }
}

#[test]
fn the_sender_decides_per_message_and_the_queued_count_holds_the_compressed_frame() {
    let buffered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = buffered.clone();
    let server = start_with(config(Compression::Shared, 1024), move |app| {
        app.ws(
            "/choice",
            WsCallbacks::new().on_message(move |ctx, msg| {
                let text = msg.as_text().unwrap_or("").to_owned();
                // A short message compressed anyway, a long one sent as it is.
                ctx.ws
                    .send(imphnen::Message::from("short, compressed").with_compression(true));
                ctx.ws
                    .send(imphnen::Message::from(text.repeat(100)).with_compression(false));
                // 10,000 bytes, compressed by size to a few dozen.
                ctx.ws.send(text.repeat(1000));
                // Published to this connection's topic: compressed by size.
                ctx.publisher().publish("choice", text.repeat(200));
                seen.lock().unwrap().push(ctx.ws.buffered_amount());
                Ok(())
            }),
        );
        app.ws(
            "/choice-sub",
            WsCallbacks::new().on_open(|ctx| {
                ctx.ws.subscribe("choice");
                ctx.ws.send("subscribed");
                Ok(())
            }),
        );
    });
    let (mut sub, _) = connect(&server, "/choice-sub", Some("permessage-deflate"));
    assert_eq!(next_frame(&mut sub), b"\x81\x0asubscribed");
    let (mut raw, _) = connect(&server, "/choice", Some("permessage-deflate"));
    raw.send(&client_frame(0x81, b"0123456789"));
    let first = next_frame(&mut raw);
    assert_eq!(first[0], 0xc1);
    assert_eq!(inflate(&first), b"short, compressed");
    let second = next_frame(&mut raw);
    assert_eq!(second[0], 0x81, "sent as it is");
    assert_eq!(&second[4..], "0123456789".repeat(100).as_bytes());
    let third = next_frame(&mut raw);
    assert_eq!(third[0], 0xc1);
    assert!(third.len() < 200, "{} bytes", third.len());
    assert_eq!(inflate(&third), "0123456789".repeat(1000).as_bytes());
    let published = next_frame(&mut sub);
    assert_eq!(published[0], 0xc1);
    assert_eq!(inflate(&published), "0123456789".repeat(200).as_bytes());
    // What the handler saw queued right after its sends: the 1,004-byte plain frame and two
    // small compressed ones, not the 10,004 bytes the last message would take plain.
    let queued = buffered.lock().unwrap()[0];
    assert!((1004..2000).contains(&queued), "{queued} bytes queued");
}
