//! Echoing short WebSocket messages allocates nothing per message, in the whole process: a
//! counting global allocator watches 2,000 echoes of 20-byte frames between a `WsCallbacks`
//! closure and a raw-TCP client that reuses its buffers. (Per message the engine reads into the
//! core's buffer, decodes in place, holds the payload inline in the `Message`, calls the
//! closure without a future, encodes into a pooled output buffer and writes it.)

mod engine_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use engine_support::{frame, ws_connect};
use imphnen::{App, Config, WsCallbacks};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ECHOES: usize = 2_000;

#[test]
fn echoing_short_messages_allocates_nothing_per_message() {
    if engine_support::memory_suite() {
        // The production datapath is the subject; the memory driver's pipes are test plumbing.
        return;
    }
    let mut app = App::new(Config {
        workers: 1,
        ..Default::default()
    });
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");
    let raw = ws_connect(&server, "/echo");
    let mut stream = raw.stream;
    let payload: [u8; 20] = *b"twenty bytes of text";
    let request = frame(0x2, &payload, Some([7, 1, 3, 9]));
    // What the server sends back: FIN + binary, unmasked length 20, the payload.
    let mut expected = vec![0x82, 20];
    expected.extend_from_slice(&payload);
    let mut reply = [0u8; 22];
    let mut echo = |stream: &mut engine_support::Stream| {
        stream.write_all(&request).expect("write");
        stream.read_exact(&mut reply).expect("read the echo");
        assert_eq!(reply[..], expected[..]);
    };
    // Warm up: pools, spare decoders and buffers reach their working size.
    for _ in 0..200 {
        echo(&mut stream);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..ECHOES {
        echo(&mut stream);
    }
    let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
    // A periodic tick or a wake-up may allocate now and then; one per message may not.
    assert!(
        during < ECHOES / 100,
        "{during} allocations during {ECHOES} echoes"
    );
    drop(stream);
    server.shutdown();
}
