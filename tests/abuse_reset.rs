//! A peer that resets its connection while the server still has output for it: the write fails
//! with ECONNRESET/EPIPE and the connection is dropped, without harming the core that serves it.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{frame, read_frame, ws_connect_tcp};
use imphnen::{App, Config, WsCallbacks};
use socket2::SockRef;

#[test]
fn a_peer_resetting_while_the_server_writes_does_not_take_its_core_down() {
    let mut app = App::new(Config {
        workers: 1, // every connection on the core that sees the reset
        ..Config::default()
    });
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            // Answer each message with a lot, so output is pending when the reset lands.
            for _ in 0..16 {
                ctx.ws.send(msg.clone());
            }
            Ok(())
        }),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");
    let addr = server.local_addr();

    let deadline = Instant::now() + Duration::from_secs(3);
    let mut resets = 0;
    while Instant::now() < deadline && resets < 200 {
        let raw = ws_connect_tcp(addr, "/echo");
        let mut raw = raw;
        for _ in 0..8 {
            raw.send(&frame(0x2, &[7u8; 8 << 10], Some([1, 2, 3, 4])));
        }
        // SO_LINGER 0: close() sends RST at once, with the server mid-write.
        SockRef::from(raw.stream.tcp())
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(raw);
        resets += 1;
    }

    // The core still serves.
    let mut raw = ws_connect_tcp(addr, "/echo");
    raw.send(&frame(0x1, b"still here", Some([9, 8, 7, 6])));
    let (opcode, payload) = read_frame(&mut raw).expect("an echo after the resets");
    assert_eq!((opcode, &payload[..]), (0x1, &b"still here"[..]));
    drop(raw);
    server.shutdown();
}
