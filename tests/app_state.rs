//! Application state, seen from outside: a value shared by the whole server (`with_state`)
//! and one made per core on the core's own thread (`per_core`), read by HTTP handlers (curl)
//! and WebSocket handlers (tokio-tungstenite) alike.

use std::cell::Cell;
use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Config, Ctx, Server, WsCallbacks};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message as TMessage;

fn curl(server: &Server, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("http://{}{path}", server.local_addr()))
        .output()
        .expect("curl runs");
    String::from_utf8(out.stdout).unwrap()
}

struct Hits(AtomicUsize);

/// Made once per core: the thread that made it, and a counter only that core touches.
struct CoreLocal {
    made_on: ThreadId,
    served: Cell<u32>,
}

#[test]
fn shared_state_is_one_value_for_http_and_websocket_handlers_on_every_core() {
    let mut app = App::new(Config {
        workers: 2,
        ..Config::default()
    });
    app.with_state(Hits(AtomicUsize::new(0)));
    app.get("/hit", |ctx: Ctx| {
        let n = ctx.state::<Hits>().0.fetch_add(1, Ordering::SeqCst) + 1;
        n.to_string()
    });
    app.ws(
        "/hits",
        WsCallbacks::new().on_message(|ctx, _| {
            ctx.ws
                .send(ctx.state::<Hits>().0.load(Ordering::SeqCst).to_string());
            Ok(())
        }),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");
    // New connections each time: the kernel spreads them over both cores' listeners.
    let answers: Vec<usize> = (0..20)
        .map(|_| curl(&server, "/hit").parse().expect("a count"))
        .collect();
    assert_eq!(answers, (1..=20).collect::<Vec<_>>());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut ws, _) = connect_async(format!("ws://{}/hits", server.local_addr()))
            .await
            .expect("upgrade");
        ws.send(TMessage::text("?")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("in time")
            .unwrap()
            .unwrap();
        assert_eq!(got, TMessage::text("20"));
    });
}

#[test]
fn per_core_state_is_made_once_on_each_core_thread_and_never_shared() {
    let makers: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let workers = 2;
    let mut app = App::new(Config {
        workers,
        ..Config::default()
    });
    let seen = makers.clone();
    app.per_core(move || {
        let made_on = std::thread::current().id();
        seen.lock().unwrap().push(made_on);
        CoreLocal {
            made_on,
            served: Cell::new(0),
        }
    });
    app.get("/which", |ctx: Ctx| {
        let local = ctx.state::<CoreLocal>();
        assert_eq!(
            local.made_on,
            std::thread::current().id(),
            "another core's value"
        );
        local.served.set(local.served.get() + 1);
        format!("{:?} {}", local.made_on, local.served.get())
    });
    app.ws(
        "/which",
        WsCallbacks::new().on_message(|ctx, _| {
            let local = ctx.state::<CoreLocal>();
            ctx.ws
                .send(format!("{}", local.made_on == std::thread::current().id()));
            Ok(())
        }),
    );
    let server = app.listen("127.0.0.1:0").expect("listen");
    {
        let made = makers.lock().unwrap();
        assert_eq!(made.len(), workers, "one value per core");
        assert_eq!(made.iter().collect::<HashSet<_>>().len(), workers);
    }
    // Each core counts its own requests: the counts per core add up to the requests made.
    let mut last = std::collections::HashMap::new();
    for _ in 0..30 {
        let answer = curl(&server, "/which");
        let (thread, count) = answer.rsplit_once(' ').expect("thread and count");
        last.insert(thread.to_owned(), count.parse::<u32>().unwrap());
    }
    assert_eq!(last.values().sum::<u32>(), 30, "{last:?}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut ws, _) = connect_async(format!("ws://{}/which", server.local_addr()))
            .await
            .expect("upgrade");
        ws.send(TMessage::text("?")).await.unwrap();
        let got = ws.next().await.unwrap().unwrap();
        assert_eq!(got, TMessage::text("true"));
    });
}

#[test]
fn a_handler_asking_for_state_never_registered_gets_500_naming_the_type() {
    struct Missing;
    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.get("/", |ctx: Ctx| {
        assert!(ctx.try_state::<Missing>().is_none());
        let _ = ctx.state::<Missing>();
        "unreachable"
    });
    let server = app.listen("127.0.0.1:0").expect("listen");
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://{}/", server.local_addr()))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "500");
}

#[test]
#[should_panic(expected = "registered twice")]
fn one_state_per_type() {
    let mut app = App::new(Config::default());
    app.with_state(Hits(AtomicUsize::new(0)));
    app.per_core(|| Hits(AtomicUsize::new(0)));
}
