//! The rooms example (`examples/rooms`): chat rooms as pub/sub topics, on two cores so the
//! rooms span both, against tokio-tungstenite and raw HTTP/1.1.

#[path = "../examples/rooms/app.rs"]
mod rooms_app;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use imphnen::Server;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const STEP: Duration = Duration::from_secs(5);

fn start() -> Server {
    rooms_app::app(2).listen("127.0.0.1:0").expect("bind")
}

async fn join(server: &Server, room: &str, name: &str) -> Client {
    let url = format!("ws://{}/room/{room}?name={name}", server.local_addr());
    let (ws, _) = timeout(STEP, connect_async(url)).await.unwrap().unwrap();
    ws
}

async fn next(ws: &mut Client) -> String {
    loop {
        match timeout(STEP, ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// One HTTP/1.1 exchange: (status, body).
async fn http(server: &Server, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    timeout(STEP, tcp.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let resp = String::from_utf8(resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    (
        status,
        resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    )
}

async fn members(server: &Server, room: &str) -> u64 {
    let (status, body) = http(server, "GET", &format!("/rooms/{room}"), "").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["room"], room);
    v["members"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_everyone_else_in_the_room_and_no_other_room() {
    let server = start();
    let mut alice = join(&server, "rust", "alice").await;
    assert_eq!(
        next(&mut alice).await,
        "Joined room: rust as alice (1 here)"
    );
    let mut bob = join(&server, "rust", "bob").await;
    assert_eq!(next(&mut bob).await, "Joined room: rust as bob (2 here)");
    assert_eq!(next(&mut alice).await, "bob joined");
    let mut carol = join(&server, "go", "carol").await;
    assert_eq!(next(&mut carol).await, "Joined room: go as carol (1 here)");

    alice.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut bob).await, "alice: hi");
    bob.send(Message::text("hello")).await.unwrap();
    assert_eq!(next(&mut alice).await, "bob: hello");
    carol.send(Message::text("anyone?")).await.unwrap();

    // An announcement reaches the room's two members; it is the next thing each sees, so
    // neither saw its own message nor carol's.
    let (status, body) = http(&server, "POST", "/rooms/rust/announce", "tea time").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (200, json!({ "reached": 2 }))
    );
    assert_eq!(next(&mut alice).await, "[announcement] tea time");
    assert_eq!(next(&mut bob).await, "[announcement] tea time");
    assert_eq!(members(&server, "rust").await, 2);
    assert_eq!(members(&server, "go").await, 1);

    // Leaving: the others hear it, and the room count drops without any bookkeeping.
    bob.close(None).await.unwrap();
    assert_eq!(next(&mut alice).await, "bob left");
    assert_eq!(members(&server, "rust").await, 1);
    drop((alice, bob, carol));
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_without_a_name_is_refused_before_the_connection_opens() {
    let server = start();
    let url = format!("ws://{}/room/rust", server.local_addr());
    match timeout(STEP, connect_async(url)).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400);
            assert_eq!(resp.body().as_deref(), Some(&b"a ?name= is required"[..]));
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert_eq!(members(&server, "rust").await, 0);
    server.shutdown();
}
