//! Diagnostics carry the fields an operator filters by: a failing HTTP handler's error names
//! its method and route, a failing WebSocket handler's its route and peer (the events are read
//! back from a `tracing-subscriber` formatter writing into memory).

mod engine_support;
mod log_support;

use engine_support::{Raw, frame, read_frame, ws_connect};
use imphnen::{App, Config, WsCallbacks};
use log_support::Captured;

#[test]
fn handler_errors_name_their_route() {
    let captured = Captured::install("error");

    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.get("/rooms/:room", |_ctx| -> Result<String, imphnen::Error> {
        Err(std::io::Error::other("no database"))?
    });
    app.ws(
        "/chat/:room",
        WsCallbacks::new().on_message(|_ctx, _msg| Err("cannot store the message".into())),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");

    let mut raw = Raw::to(&server);
    raw.send(b"GET /rooms/lobby HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(raw.response(false).status, 500);

    let mut ws = ws_connect(&server, "/chat/lobby");
    ws.send(&frame(0x1, b"hello", Some([1, 2, 3, 4])));
    // Sent after the failing message: once it is answered, the error was handled.
    ws.send(&frame(0x9, b"after", Some([1, 2, 3, 4])));
    assert_eq!(read_frame(&mut ws), Some((0xA, b"after".to_vec())));
    drop((raw, ws));
    server.handle().shutdown();
    server.wait();

    let log = captured.text();
    let line_with = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no event with {needle:?} in {log}"))
    };
    let http = line_with("no database");
    assert!(
        http.contains("route=\"/rooms/:room\"") && http.contains("method=\"GET\""),
        "{http}"
    );
    let ws = line_with("cannot store the message");
    assert!(
        ws.contains("route=\"/chat/:room\"") && ws.contains("peer=127.0.0.1:"),
        "{ws}"
    );
}
