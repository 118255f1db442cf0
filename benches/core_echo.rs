//! The core's own work per echoed WebSocket message, with no kernel in the way: one core on
//! the memory driver (`App::stepper`), an echo route like `examples/bench_server.rs`'s (with the
//! default `Config`), and 100 upgraded connections that each send one masked 20-byte binary
//! frame (or 4, or one 16 KiB frame) per iteration. An iteration is one `Stepper::run` — the
//! turns that read the frames, run the handler, encode the echoes and send them — plus the
//! clients writing and reading through the memory pipes (their locks and copies are in the
//! figure, the same for every build).
//!
//! This is the user-space part of `benches/compare.sh`'s echo rows. It is wall-clock time and
//! spreads by ±15 % between runs on this machine like every other figure here, so two builds are
//! compared on alternating runs of their saved bench binaries (`target/release/deps/core_echo-*`,
//! `--bench "20B/x4"`), not against a saved baseline.

use std::io::{Read, Write};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine_support::frame;
use imphnen::memory::{MemoryStream, Stepper};
use imphnen::{App, Config, WsCallbacks};

// The engine tests' RFC 6455 frame writer (independent of the protocol crate).
#[path = "../tests/engine_support/mod.rs"]
mod engine_support;

const CONNECTIONS: usize = 100;

/// A core serving the echo route, and `CONNECTIONS` clients upgraded on it.
fn echo_core() -> (Stepper, Vec<MemoryStream>) {
    let mut app = App::new(Config::default());
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    let mut core = app.stepper().expect("a stepped core");
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut client = core.connect().expect("a memory connection");
        // A missing answer fails the bench instead of hanging it.
        client.set_read_timeout(Some(Duration::from_secs(5)));
        client
            .write_all(
                b"GET /echo HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .expect("the request goes in");
        clients.push(client);
    }
    core.run();
    for client in &mut clients {
        // RFC 6455 §1.3's sample key: the accept value is the RFC's too.
        let expected = b"HTTP/1.1 101 Switching Protocols\r\n";
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            client.read_exact(&mut byte).expect("the 101 comes back");
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(expected),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="));
    }
    (core, clients)
}

/// One round: every client sends `sent`, the core runs, every client reads its echoes into
/// `got` (checked against `expected` when given).
fn round(
    core: &mut Stepper,
    clients: &mut [MemoryStream],
    sent: &[u8],
    got: &mut [u8],
    expected: Option<&[u8]>,
) {
    for client in clients.iter_mut() {
        client.write_all(sent).expect("the frames go in");
    }
    core.run();
    for client in clients.iter_mut() {
        client.read_exact(got).expect("the echoes come back");
        if let Some(expected) = expected {
            assert_eq!(got, expected, "the echo is the payload, in a server frame");
        }
    }
}

fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_echo");
    for (size, per_connection) in [(20usize, 1usize), (20, 4), (16 * 1024, 1)] {
        let (mut core, mut clients) = echo_core();
        let payload: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        let sent = frame(0x2, &payload, Some([0x37, 0xfa, 0x21, 0x3d])).repeat(per_connection);
        let expected = frame(0x2, &payload, None).repeat(per_connection);
        let mut got = vec![0u8; expected.len()];
        // Every echo is checked once, before timing: the bench measures a working echo.
        round(&mut core, &mut clients, &sent, &mut got, Some(&expected));
        group.throughput(Throughput::Elements((CONNECTIONS * per_connection) as u64));
        group.bench_function(
            BenchmarkId::new(format!("{size}B"), format!("x{per_connection}")),
            |b| b.iter(|| round(&mut core, &mut clients, &sent, &mut got, None)),
        );
    }
    group.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);
