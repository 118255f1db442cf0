//! `app.metrics(path)`, scraped over HTTP and read with an independent Prometheus text parser
//! (`prometheus-parse`): the counts follow what the clients did.

mod engine_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::{Raw, frame, read_close, read_frame, ws_connect};
use imphnen::{App, Config, ReadyState, SendStatus, WsCallbacks};
use prometheus_parse::{Scrape, Value};

fn scrape(server: &imphnen::Server) -> Scrape {
    let mut raw = Raw::to(server);
    raw.send(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    let resp = raw.response(false);
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{resp:?}"
    );
    Scrape::parse(resp.text().lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text")
}

/// The value of the unlabelled sample `name`.
fn value(s: &Scrape, name: &str) -> f64 {
    sample(s, name, ("", ""))
}

#[test]
fn metrics_count_connections_messages_and_closes() {
    let mut app = App::new(Config {
        workers: 2,
        ..Config::default()
    });
    // Every connection's handle, to send from this thread once one has closed.
    let handles = Arc::new(Mutex::new(Vec::new()));
    let opened = handles.clone();
    app.ws(
        "/echo",
        WsCallbacks::new()
            .on_open(move |ctx| {
                opened.lock().unwrap().push(ctx.ws.clone());
                Ok(())
            })
            .on_message(|ctx, msg| {
                ctx.ws.send(msg);
                Ok(())
            }),
    );
    app.metrics("/metrics");
    let server = app.listen("127.0.0.1:0").expect("listen");
    let before = scrape(&server);
    assert_eq!(value(&before, "imphnen_websocket_upgrades_total"), 0.0);

    let mut clients: Vec<_> = (0..3).map(|_| ws_connect(&server, "/echo")).collect();
    for c in &mut clients {
        for i in 0..5u8 {
            c.send(&frame(0x2, &[i; 100], Some([1, 2, 3, 4])));
            assert_eq!(read_frame(c), Some((0x2, vec![i; 100])));
        }
    }
    // One client closes with 1000 and waits for the answer.
    let mut leaving = clients.pop().unwrap();
    leaving.send(&frame(0x8, &1000u16.to_be_bytes(), Some([1, 2, 3, 4])));
    assert_eq!(read_close(&mut leaving), 1000);
    drop(leaving);

    let deadline = Instant::now() + Duration::from_secs(5);
    let s = loop {
        let s = scrape(&server);
        if value(&s, "imphnen_websockets_open") == 2.0 || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(value(&s, "imphnen_websocket_upgrades_total"), 3.0);
    assert_eq!(value(&s, "imphnen_websockets_open"), 2.0);
    assert_eq!(value(&s, "imphnen_websocket_messages_received_total"), 15.0);
    assert_eq!(value(&s, "imphnen_websocket_messages_sent_total"), 15.0);
    assert_eq!(
        sample(&s, "imphnen_websocket_closes_total", ("code", "1000")),
        1.0
    );
    assert_eq!(
        sample(&s, "imphnen_websocket_closes_total", ("code", "1006")),
        0.0
    );
    // The two WebSockets, and the connection of this very scrape, at least.
    assert!(value(&s, "imphnen_connections_open") >= 3.0);
    // 15 masked frames of 100 bytes, the upgrade requests and the scrapes before this one.
    assert!(value(&s, "imphnen_received_bytes_total") >= 15.0 * 106.0);
    assert!(value(&s, "imphnen_sent_bytes_total") >= 15.0 * 102.0);
    assert!(value(&s, "imphnen_loop_turns_total") > 0.0);
    assert_eq!(value(&s, "imphnen_handler_panics_total"), 0.0);
    // The 15 echoes were sent on the cores; a send to the closed connection from this thread
    // reports `Closed` and is counted too.
    let sends = |s: &Scrape, status| sample(s, "imphnen_websocket_sends_total", ("status", status));
    assert_eq!((sends(&s, "sent"), sends(&s, "closed")), (15.0, 0.0));
    // The close is counted when the peer's close frame arrives; the handle reads `Closed` once
    // the connection is over, a moment later.
    let deadline = Instant::now() + Duration::from_secs(5);
    let closed = loop {
        let closed: Vec<_> = handles
            .lock()
            .unwrap()
            .iter()
            .filter(|ws| ws.ready_state() == ReadyState::Closed)
            .cloned()
            .collect();
        if !closed.is_empty() || Instant::now() > deadline {
            break closed;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].send("too late"), SendStatus::Closed);
    let s = scrape(&server);
    assert_eq!((sends(&s, "sent"), sends(&s, "closed")), (15.0, 1.0));
    assert_eq!(sends(&s, "dropped") + sends(&s, "backpressure"), 0.0);
}

/// The value of sample `name` whose label `label.0` is `label.1` (any sample for `("", "")`).
fn sample(s: &Scrape, name: &str, label: (&str, &str)) -> f64 {
    let found = s
        .samples
        .iter()
        .find(|x| {
            x.metric == name && (label.0.is_empty() || x.labels.get(label.0) == Some(label.1))
        })
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
    match found.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{name}: {other:?}"),
    }
}
