//! SIGTERM to a real server process (examples/echo, started as a child; the signal never goes
//! to the test runner): every WebSocket gets the rest of what was queued for it, then a Close
//! with 1001, and the process exits 0 well within its shutdown timeout.

mod engine_support;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engine_support::{frame, read_close, read_frame, ws_connect_tcp};

const CLIENTS: usize = 20;
/// Larger than loopback's socket buffers take at once: part of each echo is still queued in
/// the server when the signal comes.
const MESSAGE: usize = 4 << 20;

/// examples/echo as cargo test builds it, next to this test's own binary.
fn echo_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("echo"))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` (which builds the examples), or \
         `cargo build --example echo`",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigterm_drains_every_websocket_with_1001_and_exits_0() {
    let port = free_port();
    // The suite's driver, unless it is the in-process one, which has no TCP port to reach.
    let driver = std::env::var("IMPHNEN_DRIVER").unwrap_or_default();
    let driver = if driver == "memory" {
        String::new()
    } else {
        driver
    };
    let mut server = Server(
        Command::new(echo_binary())
            .env("IMPHNEN_DRIVER", driver)
            .env("PORT", port.to_string())
            .env("WORKERS", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start examples/echo"),
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let payload: Vec<u8> = (0..MESSAGE).map(|i| (i % 251) as u8).collect();
    let mut clients: Vec<_> = (0..CLIENTS)
        .map(|_| ws_connect_tcp(addr, "/echo"))
        .collect();
    for c in &mut clients {
        c.send(&frame(0x2, &payload, Some([1, 2, 3, 4])));
    }
    // Each echo has begun: the server took the message and queued its answer.
    for c in &mut clients {
        while c.buf.is_empty() {
            assert!(c.fill(), "the server closed before echoing");
        }
    }
    let sent = Instant::now();
    // SAFETY: kill(2) with a child's PID and a valid signal has no memory effects.
    assert_eq!(
        unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) },
        0
    );
    for (i, c) in clients.iter_mut().enumerate() {
        let (op, echoed) = read_frame(c).expect("the echo before the close");
        assert_eq!(op, 0x2, "client {i}");
        assert!(
            echoed == payload,
            "client {i}: echo of {} bytes differs",
            echoed.len()
        );
        assert_eq!(read_close(c), 1001, "client {i}");
        // Answer the close and end TCP, as a client does.
        c.send(&frame(0x8, &1001u16.to_be_bytes(), Some([1, 2, 3, 4])));
    }
    drop(clients);
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("wait for the server") {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the server did not exit within 5 s of SIGTERM (its shutdown timeout is 10 s)"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "exit status {status}");
    eprintln!("exited {:?} after SIGTERM", sent.elapsed());
}
