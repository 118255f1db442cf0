//! Backpressure both ways, against raw TCP clients: a client that stops reading makes `send`
//! report `Backpressure` then `Dropped` with the queue bounded, and everything reported queued
//! arrives in order; a client that floods a slow handler is pushed back by TCP instead of being
//! buffered without bound.

mod engine_support;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::{frame, read_frame, ws_connect};
use imphnen::{App, Config, SendStatus, Server, WebSocket, WsCallbacks, WsConfig};

const LIMIT: usize = 64 << 10;
const CHUNK: usize = 16 << 10;

#[derive(Default)]
struct Flood {
    statuses: Vec<SendStatus>,
    max_buffered: usize,
    done: bool,
}

/// Sends numbered `CHUNK`-byte messages until 20 in a row are dropped, recording each status.
fn flood(ws: &WebSocket, record: &Mutex<Flood>) {
    let mut dropped_in_a_row = 0;
    let mut seq: u32 = 0;
    while dropped_in_a_row < 20 && seq < 100_000 {
        let mut payload = vec![0u8; CHUNK];
        payload[..4].copy_from_slice(&seq.to_be_bytes());
        let status = ws.send(payload);
        let buffered = ws.buffered_amount();
        let mut r = record.lock().unwrap();
        r.statuses.push(status);
        r.max_buffered = r.max_buffered.max(buffered);
        match status {
            SendStatus::Dropped => dropped_in_a_row += 1,
            _ => {
                dropped_in_a_row = 0;
                seq += 1;
            }
        }
    }
    record.lock().unwrap().done = true;
}

fn start(record: Arc<Mutex<Flood>>, handle: Arc<Mutex<Option<WebSocket>>>) -> Server {
    let mut app = App::new(Config {
        workers: 2,
        websocket: WsConfig {
            backpressure_limit: LIMIT,
            ..Default::default()
        },
        ..Default::default()
    });
    app.ws(
        "/flood",
        WsCallbacks::new().on_message(move |ctx, _| {
            flood(&ctx.ws, &record);
            Ok(())
        }),
    );
    app.ws(
        "/keep",
        WsCallbacks::new().on_open(move |ctx| {
            *handle.lock().unwrap() = Some(ctx.ws.clone());
            Ok(())
        }),
    );
    app.listen("127.0.0.1:0").expect("listen")
}

fn wait_done(record: &Mutex<Flood>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !record.lock().unwrap().done {
        assert!(Instant::now() < deadline, "the flood did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checks the statuses: some `Sent`, then one `Backpressure`, then `Dropped` (the client
/// reads nothing meanwhile); the queue never grew past the limit by more than one message.
fn check_statuses(r: &Flood) -> usize {
    let first_not_sent = r
        .statuses
        .iter()
        .position(|s| !matches!(s, SendStatus::Sent(_)))
        .expect("the queue filled up");
    assert!(first_not_sent > 0, "nothing was sent before backpressure");
    assert!(
        r.statuses[..first_not_sent]
            .iter()
            .all(|s| *s == SendStatus::Sent(CHUNK))
    );
    assert_eq!(r.statuses[first_not_sent], SendStatus::Backpressure);
    assert!(
        r.statuses[first_not_sent + 1..]
            .iter()
            .all(|s| *s == SendStatus::Dropped),
        "after Backpressure, with the client not reading, every send is Dropped: {:?}",
        &r.statuses[first_not_sent..]
    );
    assert!(
        r.max_buffered <= LIMIT + CHUNK + 14,
        "queue grew to {} bytes",
        r.max_buffered
    );
    first_not_sent + 1
}

/// Reads `n` numbered messages and checks they are 0..n in order, then that nothing follows.
fn read_numbered(raw: &mut engine_support::Raw, n: usize) {
    for expected in 0..n as u32 {
        let (op, payload) = read_frame(raw).expect("a queued message");
        assert_eq!(op, 0x2);
        assert_eq!(payload.len(), CHUNK);
        assert_eq!(
            u32::from_be_bytes(payload[..4].try_into().unwrap()),
            expected
        );
    }
    raw.stream
        .set_read_timeout(Some(Duration::from_millis(200)));
    let mut probe = [0u8; 1];
    let extra = io::Read::read(&mut raw.stream, &mut probe);
    assert!(
        matches!(&extra, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "a dropped message arrived: {extra:?}"
    );
}

#[test]
fn send_to_a_client_that_stops_reading_reports_backpressure_then_dropped() {
    let record = Arc::new(Mutex::new(Flood::default()));
    let server = start(record.clone(), Arc::default());
    let mut raw = ws_connect(&server, "/flood");
    raw.send(&frame(0x1, b"go", Some([1, 2, 3, 4])));
    wait_done(&record);
    let queued = check_statuses(&record.lock().unwrap());
    // Everything reported queued arrives, in order; nothing reported dropped does.
    read_numbered(&mut raw, queued);
    drop(raw);
    server.shutdown();
}

#[test]
fn send_from_another_thread_is_bounded_the_same_way() {
    let record = Arc::new(Mutex::new(Flood::default()));
    let handle = Arc::new(Mutex::new(None));
    let server = start(record.clone(), handle.clone());
    let mut raw = ws_connect(&server, "/keep");
    let deadline = Instant::now() + Duration::from_secs(5);
    let ws = loop {
        if let Some(ws) = handle.lock().unwrap().clone() {
            break ws;
        }
        assert!(Instant::now() < deadline, "open never ran");
        std::thread::sleep(Duration::from_millis(5));
    };
    // This test's thread is not a core: every send takes the mailbox.
    flood(&ws, &record);
    let r = record.lock().unwrap();
    // From another thread the core drains the mailbox concurrently, so the status sequence can
    // return from Backpressure to Sent as the kernel takes bytes; what must hold: the queue
    // stays bounded, and exactly the non-dropped messages arrive, in order.
    assert!(
        r.max_buffered <= LIMIT + CHUNK + 14,
        "queue grew to {} bytes",
        r.max_buffered
    );
    assert!(r.statuses.contains(&SendStatus::Backpressure));
    let queued = r
        .statuses
        .iter()
        .filter(|s| **s != SendStatus::Dropped)
        .count();
    drop(r);
    read_numbered(&mut raw, queued);
    drop(raw);
    server.shutdown();
}

#[test]
fn client_flooding_a_slow_handler_is_pushed_back_by_tcp() {
    let server = slow_app().listen("127.0.0.1:0").expect("listen");
    let raw = ws_connect(&server, "/slow");
    let mut stream = raw.stream;
    let msg = frame(0x2, &[0u8; 1024], Some([4, 3, 2, 1]));
    let started = Instant::now();
    let mut written = 0usize;
    let mut blocked_since: Option<Instant> = None;
    let mut pending: &[u8] = &msg;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the server kept reading: {written} bytes written in 5 s"
        );
        match stream.write_nonblocking(pending) {
            Ok(n) => {
                written += n;
                pending = &pending[n..];
                if pending.is_empty() {
                    pending = &msg;
                }
                blocked_since = None;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(300) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    eprintln!(
        "accepted before pushback: {written} bytes in {:?}",
        started.elapsed()
    );
    // Kernel buffers (or the memory pipe's) plus the engine's held-back input: megabytes, not
    // more.
    assert!(
        written < 32 << 20,
        "{written} bytes were accepted before TCP pushed back"
    );
    drop(stream);
    server.shutdown();
}

/// A route whose message handler takes 100 ms per message.
fn slow_app() -> App {
    struct Slow;
    impl imphnen::WebSocketHandler for Slow {
        async fn message(&self, _: &imphnen::WsCtx, _: imphnen::Message) -> imphnen::HandlerResult {
            monoio::time::sleep(Duration::from_millis(100)).await;
            Ok(())
        }
    }
    let mut app = App::new(Config {
        workers: 1,
        websocket: WsConfig {
            backpressure_limit: LIMIT,
            ..Default::default()
        },
        ..Default::default()
    });
    app.ws("/slow", Slow);
    app
}

#[test]
fn a_slot_reused_after_a_failed_send_starts_with_nothing_queued() {
    // A connection whose peer vanishes with a send in flight: the bytes of that send never
    // leave, and must leave the count with the connection. Otherwise the slot's next occupant
    // starts over its backpressure limit and is never read from again.
    let opened_with: Arc<Mutex<Vec<usize>>> = Arc::default();
    let closes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut app = App::new(Config {
        workers: 1, // one slab: the next connection takes the freed slot
        // Over it, the connection stops reading: the reset then fails the send, not a receive.
        websocket: WsConfig {
            backpressure_limit: LIMIT,
            ..WsConfig::default()
        },
        ..Config::default()
    });
    let (seen, closed) = (opened_with.clone(), closes.clone());
    app.ws(
        "/flood",
        WsCallbacks::new()
            .on_open(move |ctx| {
                seen.lock().unwrap().push(ctx.ws.buffered_amount());
                Ok(())
            })
            .on_message(|ctx, msg| {
                if msg.as_bytes() == b"flood" {
                    // Far more than the socket buffers hold: a send is in flight when the peer
                    // goes, and the connection is over its limit, so it is not receiving.
                    ctx.ws.send(vec![7u8; 8 << 20]);
                } else {
                    ctx.ws.send(msg);
                }
                Ok(())
            })
            .on_close(move |_ctx, _code, _reason| {
                closed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");

    let mut gone = ws_connect(&server, "/flood");
    gone.send(&frame(0x1, b"flood", Some([1, 2, 3, 4])));
    // Let the flood fill the socket buffers, then vanish without reading: a reset over TCP.
    std::thread::sleep(Duration::from_millis(100));
    if let engine_support::Stream::Tcp(tcp) = &gone.stream {
        socket2::SockRef::from(tcp)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    drop(gone);
    let deadline = Instant::now() + Duration::from_secs(5);
    while closes.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the vanished connection never closed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut next = ws_connect(&server, "/flood");
    next.send(&frame(0x1, b"still served", Some([5, 6, 7, 8])));
    let (opcode, payload) = read_frame(&mut next).expect("an echo on the reused slot");
    assert_eq!((opcode, &payload[..]), (0x1, &b"still served"[..]));
    let opened = opened_with.lock().unwrap().clone();
    assert_eq!(opened.len(), 2);
    // At most the 101 waits when `open` runs; never the dead connection's flood.
    assert!(
        opened[1] < 1024,
        "the reused slot started with {} bytes queued",
        opened[1]
    );
    drop(next);
    server.shutdown();
}
