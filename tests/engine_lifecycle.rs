//! Binding, cores and shutdown: port 0, a busy port, sends from a plain thread to connections on
//! both cores, and the graceful shutdown (1001 after queued data, in-flight HTTP finishes).

mod engine_support;

use std::collections::HashSet;
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::{Raw, get, memory_suite, read_close, read_frame, ws_connect};
use imphnen::{App, Config, Ctx, Server, WebSocket, WsCallbacks};

/// Handles of open connections, with the name of the core thread that opened each.
type Opened = Arc<Mutex<Vec<(WebSocket, String)>>>;

fn app(workers: usize, opened: Opened) -> App {
    let mut app = App::new(Config {
        workers,
        ..Default::default()
    });
    app.ws(
        "/ws",
        WsCallbacks::new()
            .on_open(move |ctx| {
                let core = std::thread::current().name().unwrap_or("").to_owned();
                opened.lock().unwrap().push((ctx.ws.clone(), core));
                Ok(())
            })
            .on_message(|ctx, msg| {
                // "fill N": queue N numbered messages at once.
                if let Some(n) = msg.as_text().and_then(|t| t.strip_prefix("fill ")) {
                    for i in 0..n.parse::<u32>().unwrap() {
                        ctx.ws.send(format!("queued {i}"));
                    }
                }
                Ok(())
            }),
    );
    app.get("/", |_: Ctx| "ok");
    app.get("/slow", |_: Ctx| async {
        monoio::time::sleep(Duration::from_millis(300)).await;
        "slow done"
    });
    app
}

fn wait_for(opened: &Opened, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while opened.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "open ran for fewer than {n}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn listen_on_port_zero_binds_a_real_port() {
    if memory_suite() {
        return; // binding is the subject; the memory driver binds nothing
    }
    let server = app(1, Opened::default())
        .listen("127.0.0.1:0")
        .expect("listen");
    assert_ne!(server.local_addr().port(), 0);
    let mut c = Raw::to(&server);
    c.send(&get("/"));
    assert_eq!(c.response(false).text(), "ok");
    drop(c);
    server.shutdown();
}

#[test]
fn listen_colon_zero_binds_every_interface_on_a_real_port() {
    if memory_suite() {
        return; // binding is the subject; the memory driver binds nothing
    }
    let server = app(1, Opened::default()).listen(":0").expect("listen");
    assert_ne!(server.local_addr().port(), 0);
    assert!(server.local_addr().ip().is_unspecified());
    let port = server.local_addr().port();
    let mut c = Raw::connect(([127, 0, 0, 1], port).into());
    c.send(&get("/"));
    assert_eq!(c.response(false).text(), "ok");
    drop(c);
    server.shutdown();
}

#[test]
fn listen_on_a_busy_port_is_addr_in_use() {
    if memory_suite() {
        return; // binding is the subject; the memory driver binds nothing
    }
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = app(2, Opened::default())
        .listen(taken.local_addr().unwrap())
        .err()
        .expect("the port is taken");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);

    // A port our own server holds is busy as well (SO_REUSEPORT must not let a second one join).
    let first = app(2, Opened::default()).listen("127.0.0.1:0").unwrap();
    let err = app(2, Opened::default())
        .listen(first.local_addr())
        .err()
        .expect("the port is taken");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    first.shutdown();
}

/// WebSockets to `/ws` until both cores of `server` hold some. The kernel spreads connections
/// over the two listeners by address hash (the chance that 40 land on one core is 2^-39).
fn connect_on_both_cores(server: &Server, opened: &Opened) -> Vec<Raw> {
    let mut clients = Vec::new();
    let mut cores = HashSet::new();
    while cores.len() < 2 {
        assert!(clients.len() < 40, "every connection landed on one core");
        clients.push(ws_connect(server, "/ws"));
        wait_for(opened, clients.len());
        cores = opened
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
    }
    clients
}

#[test]
fn sends_from_a_plain_thread_reach_connections_on_both_cores() {
    let opened = Opened::default();
    let server = app(2, opened.clone()).listen("127.0.0.1:0").unwrap();
    let mut clients = connect_on_both_cores(&server, &opened);
    let handles: Vec<WebSocket> = opened
        .lock()
        .unwrap()
        .iter()
        .map(|(ws, _)| ws.clone())
        .collect();
    std::thread::spawn(move || {
        for ws in &handles {
            ws.send(format!("to {}", ws.id()));
        }
    })
    .join()
    .unwrap();
    let ids: Vec<u64> = opened.lock().unwrap().iter().map(|(w, _)| w.id()).collect();
    for (client, id) in clients.iter_mut().zip(ids) {
        let (op, payload) = read_frame(client).expect("the message");
        assert_eq!(op, 0x1);
        assert_eq!(String::from_utf8(payload).unwrap(), format!("to {id}"));
    }
    drop(clients);
    server.shutdown();
}

#[test]
fn shutdown_sends_1001_after_queued_data() {
    let opened = Opened::default();
    let server = app(1, opened.clone()).listen("127.0.0.1:0").unwrap();
    let mut raw = ws_connect(&server, "/ws");
    wait_for(&opened, 1);
    raw.send(&engine_support::frame(0x1, b"fill 200", Some([1, 2, 3, 4])));
    // Give the handler a moment to queue, then shut down while the client has read nothing.
    std::thread::sleep(Duration::from_millis(50));
    let handle = server.handle();
    let stopper = std::thread::spawn(move || server.shutdown());
    handle.shutdown(); // idempotent with the one above
    for i in 0..200 {
        let (op, payload) = read_frame(&mut raw).expect("queued data before the close");
        assert_eq!(op, 0x1, "message {i}");
        assert_eq!(payload, format!("queued {i}").into_bytes());
    }
    assert_eq!(read_close(&mut raw), 1001);
    drop(raw);
    stopper.join().unwrap();
}

#[test]
fn shutdown_lets_an_in_flight_http_request_finish() {
    let server = app(1, Opened::default()).listen("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let net = server.memory_net().cloned();
    let mut c = Raw::to(&server);
    c.send(&get("/slow"));
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let stopper = std::thread::spawn(move || server.shutdown());
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "slow done");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());
    drop(c);
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    // And the port (or the memory network) no longer accepts.
    match net {
        Some(net) => assert!(net.connect().is_err()),
        None => assert!(std::net::TcpStream::connect(addr).is_err()),
    }
}

#[test]
fn shutdown_closes_idle_keep_alive_connections_promptly() {
    let server = app(2, Opened::default()).listen("127.0.0.1:0").unwrap();
    let mut c = Raw::to(&server);
    c.send(&get("/"));
    assert_eq!(c.response(false).text(), "ok");
    let started = Instant::now();
    let stopper = std::thread::spawn(move || server.shutdown());
    assert!(c.closed_by_server());
    drop(c);
    stopper.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A handler future that goes on after its first poll is polled while its core waits between
/// turns. What it sends then to a connection of another core must leave at once, not at its
/// own core's next turn (its next IO, or its next tick: up to a quarter of a second later
/// with the default timeouts).
#[test]
fn a_waiting_handler_futures_sends_to_another_core_leave_at_once() {
    const SENDS: usize = 16;
    let opened = Opened::default();
    let target: Arc<Mutex<Option<u64>>> = Arc::default();
    let sent_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let mut app = app(2, opened.clone());
    {
        let (opened, target, sent_at) = (opened.clone(), target.clone(), sent_at.clone());
        app.get("/relay", move |_: Ctx| {
            let (opened, target, sent_at) = (opened.clone(), target.clone(), sent_at.clone());
            async move {
                let here = std::thread::current().name().unwrap_or("").to_owned();
                let to = opened
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(_, core)| *core != here)
                    .map(|(ws, _)| ws.clone())
                    .expect("a connection on the other core");
                *target.lock().unwrap() = Some(to.id());
                for i in 0..SENDS {
                    monoio::time::sleep(Duration::from_millis(40)).await;
                    sent_at.lock().unwrap().push(Instant::now());
                    to.send(format!("relayed {i}"));
                }
                // Still running after the last send: no finished future ends the wait.
                monoio::time::sleep(Duration::from_millis(300)).await;
                "relayed"
            }
        });
    }
    let server = app.listen("127.0.0.1:0").unwrap();
    let mut clients = connect_on_both_cores(&server, &opened);
    let mut http = Raw::to(&server);
    http.send(&get("/relay"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let id = loop {
        if let Some(id) = *target.lock().unwrap() {
            break id;
        }
        assert!(Instant::now() < deadline, "the relay never started");
        std::thread::sleep(Duration::from_millis(1));
    };
    let index = opened
        .lock()
        .unwrap()
        .iter()
        .position(|(ws, _)| ws.id() == id)
        .unwrap();
    let client = &mut clients[index];
    let mut took = Vec::new();
    for i in 0..SENDS {
        let (_, payload) = read_frame(client).expect("a relayed message");
        let arrived = Instant::now();
        assert_eq!(payload, format!("relayed {i}").into_bytes());
        took.push(arrived - sent_at.lock().unwrap()[i]);
    }
    // Waiting for the sender's core's tick (every 250 ms) puts the median near 125 ms; a
    // loaded machine may delay some sends, but not half of them.
    took.sort();
    assert!(
        took[SENDS / 2] < Duration::from_millis(50),
        "median {:?} of {took:?}",
        took[SENDS / 2]
    );
    assert_eq!(http.response(false).text(), "relayed");
    drop(clients);
    server.shutdown();
}

#[test]
fn a_second_shutdown_keeps_the_first_ones_deadline() {
    // A signal handler and the main thread may both ask: the drain must still end at the first
    // call's deadline, not be stretched by the second.
    let mut config = Config {
        workers: 1,
        shutdown_timeout: Duration::from_millis(600),
        ..Default::default()
    };
    config.websocket.close_timeout = Duration::from_millis(100); // a fine tick
    let mut app = App::new(config);
    app.get("/hang", |_: Ctx| async {
        monoio::time::sleep(Duration::from_secs(5)).await;
        "too late"
    });
    let server = app.listen("127.0.0.1:0").unwrap();
    let mut c = Raw::to(&server);
    c.send(&get("/hang"));
    std::thread::sleep(Duration::from_millis(50));
    let handle = server.handle();
    let started = Instant::now();
    handle.shutdown();
    std::thread::sleep(Duration::from_millis(400));
    handle.shutdown();
    server.wait();
    let took = started.elapsed();
    assert!(c.closed_by_server());
    assert!(
        took < Duration::from_millis(900),
        "the drain took {took:?} with a 600 ms deadline"
    );
}

#[test]
fn once_a_shutdown_starts_new_connections_are_refused() {
    // A core still finishing a response must close its listening socket when the shutdown
    // starts, not at its next tick: meanwhile a connection would be taken in and dropped.
    let server = app(1, Opened::default()).listen("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let net = server.memory_net().cloned();
    let mut c = Raw::to(&server);
    c.send(&get("/slow"));
    std::thread::sleep(Duration::from_millis(50));
    server.handle().shutdown();
    // Long enough for the core's wake-up on a loaded machine, short against its 250 ms tick.
    std::thread::sleep(Duration::from_millis(50));
    match net {
        Some(net) => assert!(net.connect().is_err()),
        None => match std::net::TcpStream::connect(addr) {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            Ok(_) => panic!("connected during the shutdown"),
        },
    }
    assert_eq!(c.response(false).text(), "slow done");
    drop(c);
    server.wait();
}
