//! A connection slot serves connection after connection, past the 65,536th: a test binary of
//! its own, since its 65,536 connections in a row keep a core busy for seconds and would delay
//! the timed tests of a binary it shared.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{Raw, get, memory_suite};
use imphnen::{App, Config, Ctx};

/// The 65,536th connection of a slot has a generation whose low 16 bits are those of the
/// slot's first one's predecessor: the driver must still name its completions by the
/// connection's whole token, or its bytes, its failure and its release are taken for a stale
/// connection's and dropped (the connection hangs and its slot is never freed).
#[test]
fn a_slot_serves_its_65536th_connection() {
    if memory_suite() {
        return; // TCP resets are the quick way through 65,536 connections
    }
    let mut app = App::new(Config {
        workers: 1,
        ..Default::default()
    });
    app.get("/", |_: Ctx| "ok");
    let server = app.listen("127.0.0.1:0").unwrap();
    let wait = |what: &str, i: u64, done: &dyn Fn(&imphnen::Metrics) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(&server.metrics()) {
            assert!(Instant::now() < deadline, "connection {i} never {what}");
            std::thread::yield_now();
        }
    };
    // One connection at a time, each released before the next is accepted: all in slot 0.
    for i in 1..=u64::from(u16::MAX) + 1 {
        let c = std::net::TcpStream::connect(server.local_addr()).unwrap();
        wait("opened", i, &|m| m.connections_total == i);
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(c); // a reset: no TIME_WAIT left behind on either side
        wait("released", i, &|m| m.connections_open == 0);
    }
    let mut c = Raw::to(&server);
    c.send(&get("/"));
    assert_eq!(c.response(false).text(), "ok");
    server.shutdown();
}
