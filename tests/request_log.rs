//! `RequestLog` writes one event per request, with the fields an operator filters by, read
//! back from a `tracing-subscriber` formatter writing into memory (its own test binary: the
//! subscriber is global). Requests come from curl and tokio-tungstenite.

use std::process::Command;
use std::time::{Duration, Instant};

use imphnen::middleware::RequestLog;
use imphnen::{App, Config, Ctx, WsCallbacks};

mod log_support;

use log_support::Captured;

/// The request log's lines.
fn request_lines(captured: &Captured) -> Vec<String> {
    captured
        .text()
        .lines()
        .filter(|l| l.contains("imphnen::request"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn one_event_per_request_with_method_path_status_and_duration() {
    let captured = Captured::install("imphnen::request=info");

    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.middleware(RequestLog::new());
    app.get("/hello", |_: Ctx| "hi");
    app.ws("/ws", WsCallbacks::new());
    let server = app.listen("127.0.0.1:0").expect("listen");

    for path in ["/hello?x=1", "/missing"] {
        let status = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--max-time", "5"])
            .arg(format!("http://{}{path}", server.local_addr()))
            .status()
            .expect("curl runs");
        assert!(status.success());
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio_tungstenite::connect_async(format!("ws://{}/ws", server.local_addr()))
            .await
            .expect("upgrade");
    });

    let deadline = Instant::now() + Duration::from_secs(5);
    while request_lines(&captured).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let lines = request_lines(&captured);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let expect = [
        ("method=GET", "path=/hello", "status=200"),
        ("method=GET", "path=/missing", "status=404"),
        ("method=GET", "path=/ws", "status=101"),
    ];
    for (line, (method, path, status)) in lines.iter().zip(expect) {
        for field in [method, path, status, "micros=", "peer=127.0.0.1:"] {
            assert!(line.contains(field), "{field} missing in {line}");
        }
        assert!(line.contains(&format!("{path} ")), "{line}"); // no query in the path
    }
}
