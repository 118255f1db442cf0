//! `app.health(path)`: 200 while serving, 503 for a request that is still in flight when the
//! graceful shutdown starts (over raw TCP, on every driver).

mod engine_support;

use std::time::Duration;

use engine_support::Raw;
use imphnen::{App, Config};

#[test]
fn health_answers_200_then_503_during_the_drain() {
    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.health("/healthz");
    let server = app.listen("127.0.0.1:0").expect("listen");

    let mut raw = Raw::to(&server);
    raw.send(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
    let ok = raw.response(false);
    assert_eq!((ok.status, ok.text().as_str()), (200, "ok"));

    // A request whose head is still arriving when the shutdown starts is finished, and says
    // the server is going away.
    let mut late = Raw::to(&server);
    late.send(b"GET /healthz HTTP/1.1\r\nHost: test\r\n");
    std::thread::sleep(Duration::from_millis(50));
    server.handle().shutdown();
    std::thread::sleep(Duration::from_millis(50));
    late.send(b"\r\n");
    let draining = late.response(false);
    assert_eq!(
        (draining.status, draining.text().as_str()),
        (503, "shutting down")
    );
    assert!(
        late.closed_by_server(),
        "the connection closes after the drain's answer"
    );
    // Once the clients are gone nothing is left to drain: the cores stop at once.
    drop((raw, late));
    let t = std::time::Instant::now();
    server.wait();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the drain took {:?}",
        t.elapsed()
    );
}
