//! A server out of file descriptors keeps serving what it has and recovers by itself.
//!
//! The test runs a copy of itself as the server, in a child process whose descriptor limit is
//! 256 (a limit is per process: the test runner itself must not run out), floods it with 400
//! connections, and checks that while flooded the server uses under 30 % of a core and logs a
//! bounded number of lines (a paused accept loop, not a spinning one that logs every turn), and
//! that a new client is served within 2 s once the flood closes.

mod engine_support;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::{frame, read_frame, ws_connect_tcp};
use imphnen::{App, Config, WsCallbacks};

const CHILD: &str = "IMPHNEN_FD_EXHAUSTION_SERVER";
const LIMIT: u64 = 256;
const FLOOD: usize = 400;

/// The server side: an echo server under a descriptor limit, its port on stdout.
fn serve() -> ! {
    let limit = libc::rlimit {
        rlim_cur: LIMIT,
        rlim_max: LIMIT,
    };
    // SAFETY: plain syscall on a live struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");
    println!("PORT={}", server.local_addr().port());
    // Until the test closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    std::process::exit(0);
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: plain libc call.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn out_of_descriptors_the_server_pauses_accepting_and_recovers() {
    if std::env::var_os(CHILD).is_some() {
        serve();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "out_of_descriptors_the_server_pauses_accepting_and_recovers",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The test harness prints its own words first, on the same line.
    let port = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| Some(line.split_once("PORT=")?.1.trim().to_owned()))
        .expect("the server's port");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = child.stderr.take().unwrap();
    let lines = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });

    // The flood: more connections than the server has descriptors. Those it cannot accept
    // wait in the backlog.
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(addr).expect("the backlog takes the connection"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_time(pid);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_time(pid) - before;
    let share = used.as_secs_f64() / started.elapsed().as_secs_f64();
    assert!(
        share < 0.30,
        "flooded, the server used {:.0} % of a core",
        share * 100.0
    );
    let logged = log.lock().unwrap().len();
    assert!(
        (1..=10).contains(&logged),
        "{logged} log lines while flooded: {:?}",
        log.lock().unwrap()
    );

    drop(flood);
    let recovered = Instant::now();
    let mut echoed = false;
    while !echoed && recovered.elapsed() < Duration::from_secs(2) {
        let attempt = std::panic::catch_unwind(|| {
            let mut raw = ws_connect_tcp(addr, "/echo");
            raw.send(&frame(0x1, b"back", Some([1, 2, 3, 4])));
            read_frame(&mut raw)
        });
        match attempt {
            Ok(Some((0x1, payload))) if payload == b"back" => echoed = true,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert!(
        echoed,
        "no echo within 2 s after the flood closed; log: {:?}",
        log.lock().unwrap()
    );
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    let log = log.lock().unwrap();
    assert!(
        log.iter().any(|l| l.contains("want of descriptors")),
        "the episode was logged: {log:?}"
    );
}
