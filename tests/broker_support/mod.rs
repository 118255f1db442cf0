//! What the broker tests share: a `redis-server` of each test's own (Debian's package, on a free
//! loopback port, stopped by PID), nodes of the engine on it, and tokio-tungstenite clients.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Broker, BrokerEvent, Config, Server, WsCallbacks};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// How long any single step may take.
pub const T: Duration = Duration::from_secs(10);

/// A `redis-server` of this test's own, without persistence.
pub struct Redis {
    pub port: u16,
    pub child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        let port = free_port();
        let mut redis = Redis { port, child: None };
        redis.restart();
        redis
    }

    /// Starts the server (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's package redis-server; scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + T;
        while self.client().get_connection().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap()
    }

    /// `PUBSUB NUMSUB topic` (or `SHARDNUMSUB`): how many connections subscribe to it.
    pub fn numsub(&self, topic: &str, sharded: bool) -> i64 {
        let mut con = self.client().get_connection().unwrap();
        let which = if sharded { "SHARDNUMSUB" } else { "NUMSUB" };
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg(which)
            .arg(topic)
            .query(&mut con)
            .unwrap();
        n
    }

    /// Waits until `n` imphnen nodes have their publishing connection open.
    pub async fn await_publishers(&self, n: usize) {
        let deadline = Instant::now() + T;
        loop {
            let mut con = self.client().get_connection().unwrap();
            let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
            let now = list
                .lines()
                .filter(|l| l.contains("name=imphnen-") && l.contains("-pub "))
                .count();
            if now == n {
                return;
            }
            assert!(Instant::now() < deadline, "{now} nodes publish, not {n}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The id Redis gave the connection named `name` (`CLIENT LIST`), if one is open.
    pub fn client_id(&self, name: &str) -> Option<u64> {
        self.client_field(name, "id")?.parse().ok()
    }

    /// Field `key` of the connection named `name` in `CLIENT LIST` (`flags`, `cmd`, …), if one
    /// is open.
    pub fn client_field(&self, name: &str, key: &str) -> Option<String> {
        let mut con = self.client().get_connection().unwrap();
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        let field = |line: &str, key: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
        };
        list.lines()
            .find(|l| field(l, "name").as_deref() == Some(name))
            .and_then(|l| field(l, key))
    }

    /// Sends one command to the server (`CLIENT PAUSE`, …) and expects `OK`.
    pub fn command(&self, args: &[&str]) {
        let mut con = self.client().get_connection().unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<()>(&mut con).unwrap();
    }

    /// `CONFIG SET parameter value`.
    pub fn config_set(&self, parameter: &str, value: &str) {
        let mut con = self.client().get_connection().unwrap();
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(parameter)
            .arg(value)
            .query::<()>(&mut con)
            .unwrap();
    }

    /// Waits until `topic` has `n` subscribers on the broker.
    pub async fn await_numsub(&self, topic: &str, n: i64, sharded: bool) {
        let deadline = Instant::now() + T;
        loop {
            let now = self.numsub(topic, sharded);
            if now == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}: {now} subscribers on the broker, not {n}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The broker events one node heard.
pub type Events = Arc<Mutex<Vec<BrokerEvent>>>;

/// A node on two workers: `WS /sub/:topic` subscribes to `topic` and says `ready`; a text
/// `pub:<m>` is `ws.publish(topic, m)` (everyone but the sender), `leave` unsubscribes (and
/// says `left`), `busy:<ms>` keeps the connection's core from doing anything else for that
/// long (a handler that blocks its thread) and then echoes, anything else is echoed.
pub fn node(broker: Broker, events: &Events) -> Server {
    node_on(2, broker, events)
}

/// [`node`] on `workers` cores.
pub fn node_on(workers: usize, broker: Broker, events: &Events) -> Server {
    let events = events.clone();
    let mut app = App::new(Config {
        workers,
        broker: Some(broker.on_event(move |e| events.lock().unwrap().push(e.clone()))),
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    app.ws(
        "/sub/:topic",
        WsCallbacks::new()
            .on_open(|ctx| {
                let topic = ctx.param("topic").unwrap_or_default();
                ctx.ws.subscribe(&topic);
                ctx.ws.send("ready");
                Ok(())
            })
            .on_message(|ctx, msg| {
                let topic = ctx.param("topic").unwrap_or_default().into_owned();
                let text = msg.as_text().unwrap_or_default();
                if let Some(m) = text.strip_prefix("pub:") {
                    ctx.ws.publish(&topic, m.to_owned());
                } else if let Some(ms) = text.strip_prefix("busy:") {
                    std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
                    ctx.ws.send(msg);
                } else if text == "leave" {
                    ctx.ws.unsubscribe(&topic);
                    ctx.ws.send("left");
                } else {
                    ctx.ws.send(msg);
                }
                Ok(())
            }),
    );
    let server = app.listen("127.0.0.1:0").expect("bind a free port");
    await_connected(&server);
    server
}

/// Waits (at most `T`) until `done` holds; `what` names it when it does not.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the node's link is up.
pub fn await_connected(server: &Server) {
    let deadline = Instant::now() + T;
    while !server.broker_stats().unwrap().connected {
        assert!(Instant::now() < deadline, "the broker link did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub async fn connect(server: &Server, path: &str) -> Ws {
    let url = format!("ws://{}{path}", server.local_addr());
    let (mut ws, _) = timeout(T, tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake timed out")
        .expect("handshake");
    assert_eq!(next(&mut ws).await, "ready");
    ws
}

pub async fn next(ws: &mut Ws) -> String {
    match timeout(T, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Sends `probe` to `ws`, whose echo must be the next message: nothing else was pending.
pub async fn nothing_else(ws: &mut Ws, probe: &str) {
    ws.send(Message::text(probe)).await.unwrap();
    assert_eq!(next(ws).await, probe, "an unexpected message came first");
}
