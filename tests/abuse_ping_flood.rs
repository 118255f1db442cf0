//! A client that floods pings and never reads must not make the server queue a pong for every
//! one: the server stops reading such a connection while its unsent output is over
//! `backpressure_limit`. (Its own test binary, so the process's RSS is this test's alone.)

mod abuse_support;

use std::io::{ErrorKind, Write};
use std::time::{Duration, Instant};

use abuse_support::{Frame, Served, frame_bytes, small_config};
use imphnen::{App, WsCallbacks};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn ping_flood_from_a_client_that_never_reads_is_not_buffered_as_pongs() {
    let mut app = App::new(small_config());
    app.ws("/quiet", WsCallbacks::new());
    let server = Served::start(app);
    let mut ws = server.ws("/quiet");
    let before = rss_kib();

    // 400,000 pings of 125 bytes: 50 MB of pongs if the server answered every one into memory.
    const PINGS: usize = 400_000;
    let ping = frame_bytes(true, 9, &[b'p'; 125], true);
    let batch: Vec<u8> = ping.repeat(1000);
    ws.stream.set_nonblocking(true).unwrap();
    let (mut sent, mut offset) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(4);
    while sent < PINGS / 1000 && Instant::now() < deadline {
        match ws.stream.write(&batch[offset..]) {
            Ok(n) => {
                offset += n;
                if offset == batch.len() {
                    (sent, offset) = (sent + 1, 0);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 16 << 10,
        "the server grew by {grown} KiB answering {} pings nobody reads",
        sent * 1000
    );
    // The connection still works: the pongs that were sent arrive intact.
    ws.stream.set_nonblocking(false).unwrap();
    assert_eq!(ws.next_frame().unwrap(), Frame::Pong(vec![b'p'; 125]));
}
