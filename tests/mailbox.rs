//! Sends from many plain threads at once travel the cores' mailboxes; every one arrives, in order
//! per sender. A lost wake-up between a sender and the draining core would leave messages stuck
//! in the mailbox for good.

mod engine_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::{frame, read_frame, ws_connect};
use imphnen::{App, Config, SendStatus, WebSocket, WsCallbacks};

#[test]
fn sends_from_many_threads_all_arrive_in_order_per_sender() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 5_000;
    let handle: Arc<Mutex<Option<WebSocket>>> = Arc::default();
    let mut app = App::new(Config {
        workers: 2,
        ..Config::default()
    });
    let keep = handle.clone();
    app.ws(
        "/sink",
        WsCallbacks::new().on_open(move |ctx| {
            *keep.lock().unwrap() = Some(ctx.ws.clone());
            Ok(())
        }),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");
    let mut raw = ws_connect(&server, "/sink");
    raw.send(&frame(0x1, b"hi", Some([1, 2, 3, 4])));
    let deadline = Instant::now() + Duration::from_secs(5);
    let ws = loop {
        if let Some(ws) = handle.lock().unwrap().clone() {
            break ws;
        }
        assert!(Instant::now() < deadline, "open never ran");
        std::thread::sleep(Duration::from_millis(2));
    };

    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let ws = ws.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // Well under the backpressure limit: the reader keeps up; retry if not.
                    while ws.buffered_amount() > 32 << 10 {
                        std::thread::yield_now();
                    }
                    // The path from a plain thread is a bounded queue: a full one refuses the
                    // message (`Dropped`), and a sender that wants every message sent retries.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while ws.send(format!("{t}:{i}")) == SendStatus::Dropped {
                        assert!(
                            Instant::now() < deadline,
                            "the core never drained its queue"
                        );
                        std::thread::yield_now();
                    }
                    if i % 64 == 0 {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            })
        })
        .collect();

    let mut next = [0usize; THREADS];
    for _ in 0..THREADS * PER_THREAD {
        let (opcode, payload) = read_frame(&mut raw).expect("a message stuck in a mailbox");
        assert_eq!(opcode, 0x1);
        let text = String::from_utf8(payload).unwrap();
        let (t, i) = text.split_once(':').unwrap();
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[t], "sender {t} out of order");
        next[t] += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    drop(raw);
    server.shutdown();
}
