//! Hostile WebSocket input over raw TCP: each protocol violation gets its exact close code
//! (RFC 6455 §7.4.1) and the TCP connection closes; oversized messages are refused from their
//! header; a slow reader, a panicking handler or a flood of bad connections costs only the
//! offender.

mod abuse_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use abuse_support::{Frame, Raw, Served, frame_bytes, frame_header, small_config};
use imphnen::{App, Config, HandlerError, SendStatus, WsCallbacks};

fn echo_app(config: Config) -> App {
    let mut app = App::new(config);
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app
}

fn echo_server(max_payload_length: usize) -> Served {
    let mut config = small_config();
    config.websocket.max_payload_length = max_payload_length;
    Served::start(echo_app(config))
}

/// Sends `bytes` on a fresh WebSocket and expects the server's Close with `code`, then EOF.
fn violation_closes_with(server: &Served, bytes: &[u8], code: u16) {
    let mut ws = server.ws("/echo");
    ws.send(bytes).unwrap();
    let (got, reason) = ws.close_frame();
    assert_eq!(
        got,
        code,
        "close reason {reason:?} for {:02x?}",
        &bytes[..2]
    );
    ws.expect_closed(Duration::from_secs(3));
}

fn still_echoes(server: &Served) {
    let mut ws = server.ws("/echo");
    ws.frame(true, 1, b"still here", true);
    assert_eq!(ws.next_frame().unwrap(), Frame::Text("still here".into()));
}

#[test]
fn well_formed_frames_are_echoed() {
    let server = echo_server(1 << 20);
    let mut ws = server.ws("/echo");
    ws.frame(true, 1, "héllo".as_bytes(), true);
    assert_eq!(ws.next_frame().unwrap(), Frame::Text("héllo".into()));
    ws.frame(false, 2, &[1, 2], true);
    ws.frame(true, 9, b"p", true);
    ws.frame(true, 0, &[3], true);
    assert_eq!(ws.next_frame().unwrap(), Frame::Pong(b"p".to_vec()));
    assert_eq!(ws.next_frame().unwrap(), Frame::Binary(vec![1, 2, 3]));
    ws.frame(true, 8, &[0x0f, 0xa0, b'b', b'y', b'e'], true); // 4000 "bye"
    assert_eq!(ws.close_frame().0, 4000);
    ws.expect_closed(Duration::from_secs(3));
}

#[test]
fn unmasked_client_frame_closes_with_1002() {
    let server = echo_server(1 << 20);
    violation_closes_with(&server, &frame_bytes(true, 1, b"hello", false), 1002);
    still_echoes(&server);
}

#[test]
fn frame_longer_than_max_payload_length_closes_with_1009() {
    let server = echo_server(1024);
    violation_closes_with(&server, &frame_header(true, 2, 1025, true), 1009);
    // A 16-bit and a 64-bit length over the limit alike.
    violation_closes_with(&server, &frame_header(true, 2, 70_000, true), 1009);
    still_echoes(&server);
}

#[test]
fn fragmented_message_longer_than_max_payload_length_closes_with_1009() {
    let server = echo_server(1024);
    let mut bytes = frame_bytes(false, 2, &[0; 600], true);
    bytes.extend(frame_header(false, 0, 600, true));
    violation_closes_with(&server, &bytes, 1009);
}

#[test]
fn payload_length_with_the_most_significant_bit_set_closes_with_1002() {
    let server = echo_server(1 << 20);
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    violation_closes_with(&server, &bytes, 1002);
}

#[test]
fn reserved_opcodes_close_with_1002() {
    let server = echo_server(1 << 20);
    for op in (3..=7).chain(0xb..=0xf) {
        violation_closes_with(&server, &frame_bytes(true, op, b"x", true), 1002);
    }
    still_echoes(&server);
}

#[test]
fn reserved_bits_without_an_extension_close_with_1002() {
    let server = echo_server(1 << 20);
    for rsv in [0x40u8, 0x20, 0x10] {
        let mut bytes = frame_bytes(true, 1, b"x", true);
        bytes[0] |= rsv;
        violation_closes_with(&server, &bytes, 1002);
    }
}

#[test]
fn control_frame_over_125_bytes_closes_with_1002() {
    let server = echo_server(1 << 20);
    violation_closes_with(&server, &frame_bytes(true, 9, &[b'p'; 126], true), 1002);
    violation_closes_with(
        &server,
        &frame_bytes(true, 8, &[0x03, 0xe8].repeat(64), true),
        1002,
    );
}

#[test]
fn fragmented_control_frame_closes_with_1002() {
    let server = echo_server(1 << 20);
    violation_closes_with(&server, &frame_bytes(false, 9, b"p", true), 1002);
}

#[test]
fn continuation_without_a_message_closes_with_1002() {
    let server = echo_server(1 << 20);
    violation_closes_with(&server, &frame_bytes(true, 0, b"x", true), 1002);
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    let server = echo_server(1 << 20);
    violation_closes_with(
        &server,
        &frame_bytes(true, 1, &[0xce, 0xba, 0xff], true),
        1007,
    );
}

#[test]
fn close_with_a_forbidden_code_closes_with_1002() {
    let server = echo_server(1 << 20);
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999] {
        violation_closes_with(
            &server,
            &frame_bytes(true, 8, &code.to_be_bytes(), true),
            1002,
        );
    }
}

/// With the default config (16 MiB), a frame announcing 16 MiB + 1 is refused from its header:
/// the Close arrives although not one payload byte was sent.
#[test]
fn message_one_byte_over_the_default_16_mib_closes_with_1009_before_any_payload() {
    let config = Config {
        workers: 1,
        shutdown_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    assert_eq!(config.websocket.max_payload_length, 16 << 20);
    let server = Served::start(echo_app(config));
    let mut ws = server.ws("/echo");
    let start = Instant::now();
    ws.send(&frame_header(true, 2, (16 << 20) + 1, true))
        .unwrap();
    let (code, _) = ws.close_frame();
    assert_eq!(code, 1009);
    assert!(start.elapsed() < Duration::from_secs(2));
    ws.expect_closed(Duration::from_secs(3));

    // Exactly 16 MiB is accepted (and echoed).
    let mut ws = server.ws("/echo");
    let payload = vec![0x5a; 16 << 20];
    let writer = {
        let mut stream = ws.stream.try_clone().unwrap();
        let bytes = frame_bytes(true, 2, &payload, true);
        thread::spawn(move || std::io::Write::write_all(&mut stream, &bytes).unwrap())
    };
    match ws.next_frame_within(Duration::from_secs(30)).unwrap() {
        Frame::Binary(b) => assert!(b.len() == payload.len() && b == payload),
        other => panic!(
            "expected the 16 MiB echo, got {:?}",
            std::mem::discriminant(&other)
        ),
    }
    writer.join().unwrap();
}

/// A client that never reads: the server refuses further sends once `backpressure_limit` is
/// queued, instead of buffering everything the handler tries to send.
#[test]
fn slow_reader_makes_the_server_hold_at_most_about_backpressure_limit() {
    const LIMIT: usize = 64 << 10;
    const CHUNK: usize = 16 << 10;
    let max_buffered = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut config = small_config();
    config.websocket.backpressure_limit = LIMIT;
    let mut app = App::new(config);
    let (m, d) = (max_buffered.clone(), dropped.clone());
    app.ws(
        "/flood",
        WsCallbacks::new().on_message(move |ctx, _msg| {
            // Every message asks for 1 MiB of replies.
            for _ in 0..64 {
                if ctx.ws.send(vec![7u8; CHUNK]) == SendStatus::Dropped {
                    d.fetch_add(1, Ordering::Relaxed);
                }
                m.fetch_max(ctx.ws.buffered_amount(), Ordering::Relaxed);
            }
            Ok(())
        }),
    );
    let server = Served::start(app);
    let mut ws = server.ws("/flood");
    // 64 MiB of replies asked for: far more than the kernel's socket buffers absorb.
    for _ in 0..64 {
        ws.frame(true, 1, b"more", true);
    }
    // The kernel's buffers fill somewhere inside one callback's 64 sends; the sends after that
    // point queue up to the limit and then are refused. When the kernel fills within the last
    // four sends of a callback (about one run in 16) the queue ends that callback at the limit
    // with nothing refused, and the next callback is held back instead: either way the queue
    // reaches the limit and stops there.
    let deadline = Instant::now() + Duration::from_secs(5);
    while max_buffered.load(Ordering::Relaxed) < LIMIT && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    // Give the server time to do whatever else it would do with the remaining requests.
    thread::sleep(Duration::from_millis(300));
    let held = max_buffered.load(Ordering::Relaxed);
    let frame = CHUNK + 4;
    assert!(
        held <= LIMIT + frame,
        "the server held {held} bytes for a reader that does not read (limit {LIMIT})"
    );
    assert!(
        held >= LIMIT,
        "the queue never reached the limit ({held} bytes, {} sends refused)",
        dropped.load(Ordering::Relaxed)
    );
    // The connection is still alive: reading now yields complete frames.
    assert!(matches!(ws.next_frame().unwrap(), Frame::Binary(b) if b.len() == CHUNK));
}

/// The same bound for sends from another thread (through the owning core's mailbox).
#[test]
fn slow_reader_bounds_sends_from_other_threads_too() {
    const LIMIT: usize = 64 << 10;
    const CHUNK: usize = 8 << 10;
    let handles = Arc::new(Mutex::new(Vec::new()));
    let mut config = small_config();
    config.websocket.backpressure_limit = LIMIT;
    let mut app = App::new(config);
    let h = handles.clone();
    app.ws(
        "/quiet",
        WsCallbacks::new().on_open(move |ctx| {
            h.lock().unwrap().push(ctx.ws.clone());
            Ok(())
        }),
    );
    let server = Served::start(app);
    let _ws = server.ws("/quiet");
    let deadline = Instant::now() + Duration::from_secs(5);
    let target = loop {
        if let Some(ws) = handles.lock().unwrap().first() {
            break ws.clone();
        }
        assert!(Instant::now() < deadline, "open never ran");
        thread::sleep(Duration::from_millis(5));
    };
    let (mut max, mut dropped) = (0, 0);
    for _ in 0..2000 {
        if target.send(vec![1u8; CHUNK]) == SendStatus::Dropped {
            dropped += 1;
        }
        max = max.max(target.buffered_amount());
    }
    assert!(dropped > 0, "no send was refused");
    // One frame past the limit, plus one that `buffered_amount` may count twice for an instant
    // while the core moves it from the mailbox into the connection's output.
    assert!(
        max <= LIMIT + 2 * (CHUNK + 4),
        "held {max} bytes (limit {LIMIT})"
    );
}

/// A handler that panics on every message: its client gets 1011, every session it opened is
/// closed again (no leak), and other clients keep being served.
#[test]
fn panicking_handler_closes_its_client_with_1011_and_leaves_others_alone() {
    let opened = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let panics_reported = Arc::new(AtomicUsize::new(0));
    let mut app = echo_app(small_config());
    let (o, c, p) = (opened.clone(), closed.clone(), panics_reported.clone());
    app.ws(
        "/panic",
        WsCallbacks::new()
            .on_open(move |_| {
                o.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .on_message(|_, msg| panic!("handler bug triggered by {msg}"))
            .on_close(move |_, _, _| {
                c.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .on_error(move |_, e| {
                if matches!(e, HandlerError::Panicked(_)) {
                    p.fetch_add(1, Ordering::Relaxed);
                }
            }),
    );
    let server = Served::start(app);
    let mut bystander = server.ws("/echo");
    const N: usize = 30;
    for i in 0..N {
        let mut ws = server.ws("/panic");
        ws.frame(true, 1, format!("boom {i}").as_bytes(), true);
        let (code, _) = ws.close_frame();
        assert_eq!(code, 1011);
        // Complete the close handshake as a polite client would.
        ws.frame(true, 8, &1011u16.to_be_bytes(), true);
        ws.expect_closed(Duration::from_secs(3));

        bystander.frame(true, 1, format!("fine {i}").as_bytes(), true);
        assert_eq!(
            bystander.next_frame().unwrap(),
            Frame::Text(format!("fine {i}"))
        );
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while closed.load(Ordering::Relaxed) < N && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(opened.load(Ordering::Relaxed), N);
    assert_eq!(closed.load(Ordering::Relaxed), N, "sessions left open");
    assert_eq!(panics_reported.load(Ordering::Relaxed), N);
}

/// Many connections that each commit a violation, interleaved with a healthy client.
#[test]
fn a_stream_of_bad_clients_costs_only_their_connections() {
    let server = echo_server(4096);
    let mut healthy = server.ws("/echo");
    let bad: [Vec<u8>; 4] = [
        frame_bytes(true, 1, b"x", false),
        frame_header(true, 2, 1 << 40, true),
        frame_bytes(true, 5, b"x", true),
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
    ];
    for round in 0..50 {
        let mut raw = Raw::connect(server.addr);
        raw.upgrade("/echo");
        let _ = raw.send(&bad[round % bad.len()]);
        raw.expect_closed(Duration::from_secs(3));
        healthy.frame(true, 2, &[round as u8], true);
        assert_eq!(
            healthy.next_frame().unwrap(),
            Frame::Binary(vec![round as u8])
        );
    }
}
