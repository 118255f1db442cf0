//! `Config::max_connections` and `max_connections_per_address`: one connection past each limit is
//! answered 503 with `Retry-After` (seen by tokio-tungstenite and by curl), the connections
//! within it keep working, a closed one frees its place, and the refusals are in the metrics
//! (read with `prometheus-parse`).

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Config, Server, WsCallbacks};
use prometheus_parse::{Scrape, Value};
use tokio::net::TcpSocket;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const STEP: Duration = Duration::from_secs(5);

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

fn echo_server(config: Config) -> Server {
    let mut app = App::new(config);
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app.metrics("/metrics");
    app.listen("127.0.0.1:0").expect("listen")
}

/// A WebSocket handshake to `/echo` from local address `from`: the client, or the HTTP
/// response that refused it.
async fn connect_from(
    server: SocketAddr,
    from: &str,
) -> Result<Client, tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let tcp = timeout(STEP, socket.connect(server))
        .await
        .expect("connect timed out")
        .expect("connect");
    let url = format!("ws://{server}/echo");
    match timeout(
        STEP,
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)),
    )
    .await
    .expect("handshake timed out")
    {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(resp)) => Err(resp),
        Err(other) => panic!("handshake failed otherwise: {other}"),
    }
}

async fn echoes(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
    let got = timeout(STEP, ws.next()).await.expect("echo timed out");
    assert_eq!(got.unwrap().unwrap(), Message::text(text));
}

fn assert_unavailable(resp: &tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>) {
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
}

/// Connects from `from` until the server admits it (a closed connection frees its place once
/// its core has seen the close).
async fn admitted_from(server: SocketAddr, from: &str) -> Client {
    let deadline = Instant::now() + STEP;
    loop {
        match connect_from(server, from).await {
            Ok(ws) => return ws,
            Err(resp) if Instant::now() < deadline => {
                assert_unavailable(&resp);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(resp) => panic!("still refused: {}", resp.status()),
        }
    }
}

/// `curl -i` of `url` from local address `from`: the status line, head and body.
fn curl_from(from: &str, url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "5", "--interface", from, url])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `/metrics` fetched with curl from `from`, retried while it is refused (a closed connection
/// frees its place once its core has seen the close), read with `prometheus-parse`.
fn scrape_from(addr: SocketAddr, from: &str) -> Scrape {
    let deadline = Instant::now() + STEP;
    loop {
        let text = curl_from(from, &format!("http://{addr}/metrics"));
        if text.starts_with("HTTP/1.1 200") {
            let body = text.split("\r\n\r\n").nth(1).expect("a body");
            return Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
        }
        assert!(
            Instant::now() < deadline,
            "the scrape stays refused: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sample(s: &Scrape, name: &str, label: (&str, &str)) -> f64 {
    let found = s
        .samples
        .iter()
        .find(|x| x.metric == name && x.labels.get(label.0) == Some(label.1))
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
    match found.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_past_max_connections_is_answered_503() {
    let server = echo_server(Config {
        workers: 2,
        max_connections: Some(3),
        ..Config::default()
    });
    if server.memory_net().is_some() {
        return; // limits are about TCP connections
    }
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connect_from(addr, "127.0.0.1").await.expect("admitted"));
    }
    assert_unavailable(&connect_from(addr, "127.0.0.1").await.expect_err("refused"));
    let http = curl_from("127.0.0.1", &format!("http://{addr}/metrics"));
    assert!(
        http.starts_with("HTTP/1.1 503") && http.to_ascii_lowercase().contains("retry-after: 1"),
        "{http}"
    );
    // The connections within the limit are served as before.
    for (i, ws) in clients.iter_mut().enumerate() {
        echoes(ws, &format!("still here {i}")).await;
    }
    // One closes: its place is free for the next connection.
    let mut gone = clients.pop().unwrap();
    gone.close(None).await.unwrap();
    while timeout(STEP, gone.next()).await.expect("close").is_some() {}
    drop(gone);
    let mut again = admitted_from(addr, "127.0.0.1").await;
    echoes(&mut again, "admitted again").await;
    drop((clients, again));

    let metrics = scrape_from(addr, "127.0.0.1");
    // The WebSocket and curl refusals, and those `admitted_from` may have met.
    assert!(
        sample(
            &metrics,
            "imphnen_connections_refused_total",
            ("limit", "server")
        ) >= 2.0
    );
    assert_eq!(
        sample(
            &metrics,
            "imphnen_connections_refused_total",
            ("limit", "address")
        ),
        0.0
    );
    assert!(
        sample(
            &metrics,
            "imphnen_websocket_sends_total",
            ("status", "sent")
        ) >= 4.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_past_the_per_address_limit_is_answered_503_others_are_not() {
    let server = echo_server(Config {
        workers: 2,
        max_connections_per_address: Some(2),
        ..Config::default()
    });
    if server.memory_net().is_some() {
        return;
    }
    let addr = server.local_addr();
    let mut a1 = connect_from(addr, "127.0.0.1").await.expect("admitted");
    let _a2 = connect_from(addr, "127.0.0.1").await.expect("admitted");
    assert_unavailable(&connect_from(addr, "127.0.0.1").await.expect_err("refused"));
    // Another address has places of its own.
    let mut b1 = connect_from(addr, "127.0.0.2").await.expect("admitted");
    let _b2 = connect_from(addr, "127.0.0.2").await.expect("admitted");
    assert_unavailable(&connect_from(addr, "127.0.0.2").await.expect_err("refused"));
    echoes(&mut a1, "a").await;
    echoes(&mut b1, "b").await;
    // Scraped from a third address, which the limit does not touch.
    let metrics = scrape_from(addr, "127.0.0.3");
    assert_eq!(
        sample(
            &metrics,
            "imphnen_connections_refused_total",
            ("limit", "address")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &metrics,
            "imphnen_connections_refused_total",
            ("limit", "server")
        ),
        0.0
    );
}

/// Answers a core has in flight before it closes further refused connections unanswered
/// (the engine's `MAX_REFUSING`).
const ANSWERED_AT_ONCE: usize = 256;

#[test]
fn a_flood_past_the_limit_is_answered_until_the_core_holds_256_answers_then_closed() {
    let server = echo_server(Config {
        workers: 1,
        max_connections: Some(1),
        ..Config::default()
    });
    if server.memory_net().is_some() {
        return;
    }
    let addr = server.local_addr();
    let _inside = std::net::TcpStream::connect(addr).unwrap();
    // None of them closes, so every answered one stays lingering (5 s) while the rest arrive.
    let flood: Vec<_> = (0..ANSWERED_AT_ONCE + 44)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let (mut answered, mut closed) = (0, 0);
    // Read in turn, and kept open: a client's close would end its answer's linger and free a
    // place for connections the core has not accepted yet.
    for tcp in &flood {
        let mut tcp = tcp;
        use std::io::Read;
        tcp.set_read_timeout(Some(STEP)).unwrap();
        let mut got = Vec::new();
        match tcp.read_to_end(&mut got) {
            Ok(_) if got.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n") => answered += 1,
            Ok(_) if got.is_empty() => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            other => panic!("neither answered nor closed: {other:?} {got:?}"),
        }
    }
    assert_eq!((answered, closed), (ANSWERED_AT_ONCE, 44));
}
