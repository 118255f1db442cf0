//! A client that pipelines requests and never reads the answers must not make the server buffer
//! every response: the server stops taking requests while a connection's unsent output is large,
//! and resumes, in order, once the client reads. (Its own test binary, so the process's RSS is
//! this test's alone.)

mod abuse_support;

use std::io::{ErrorKind, Write};
use std::time::{Duration, Instant};

use abuse_support::{Served, small_config};
use imphnen::{App, Ctx};

const BODY: usize = 16 << 10;
const REQUESTS: usize = 10_000; // 160 MB of responses if all were buffered

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn pipelining_client_that_never_reads_cannot_make_the_server_buffer_every_response() {
    let mut app = App::new(small_config());
    app.get("/r/:n", |ctx: Ctx| {
        let n = ctx.param("n").unwrap_or_default().into_owned();
        let mut body = n.clone();
        body.push(' ');
        body.extend(std::iter::repeat_n('x', BODY - n.len() - 1));
        body
    });
    let server = Served::start(app);
    let mut raw = server.raw();
    let before = rss_kib();

    // Write every request without reading; stop when the server stops taking them.
    let mut requests = Vec::new();
    for i in 0..REQUESTS {
        requests.extend_from_slice(format!("GET /r/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    raw.stream.set_nonblocking(true).unwrap();
    let mut written = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while written < requests.len() && Instant::now() < deadline {
        match raw.stream.write(&requests[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 24 << 10,
        "the server grew by {grown} KiB for a client that does not read \
         ({written} bytes of requests taken)"
    );

    // Now read: every response arrives, in order, while the rest of the requests go out.
    raw.stream.set_nonblocking(false).unwrap();
    let mut writer = raw.stream.try_clone().unwrap();
    let rest = requests[written..].to_vec();
    let feeder = std::thread::spawn(move || writer.write_all(&rest).unwrap());
    for i in 0..REQUESTS {
        let (status, _, body) = raw
            .response()
            .unwrap_or_else(|e| panic!("response {i}: {e}"));
        assert_eq!(status, 200);
        assert!(
            body.starts_with(format!("{i} ").as_bytes()),
            "response {i} out of order"
        );
    }
    feeder.join().unwrap();
}

/// An HTTP client that stops reading cannot keep its connection, and the kernel's send buffer
/// behind it (megabytes), for as long as it likes: no progress for `keep_alive_timeout` closes it.
#[test]
fn http_client_that_stops_reading_is_closed_after_the_keep_alive_timeout() {
    let mut config = small_config();
    config.http.keep_alive_timeout = Duration::from_millis(500);
    let mut app = App::new(config);
    app.get("/big", |_ctx: Ctx| "y".repeat(64 << 10));
    let server = Served::start(app);
    let mut raw = server.raw();
    // 400 x 64 KiB: far more than the kernel buffers of both ends hold.
    let requests = b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n".repeat(400);
    raw.send(&requests).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // Now read everything: the server must have given up on us by now (EOF or reset before all
    // 400 responses arrive).
    let mut got = 0;
    while raw.response().is_ok() {
        got += 1;
    }
    assert!(
        got < 400,
        "all {got} responses arrived: the stalled connection was kept"
    );
}
