//! The rooms example (`examples/rooms`): chat rooms as pub/sub topics, on two cores so the
//! rooms span both, against tokio-tungstenite and raw HTTP/1.1.

#[path = "../examples/rooms/app.rs"]
mod rooms_app;

mod example_support;

use example_support::{Client, Running, STEP, recv_text as next};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

fn start() -> Running {
    Running::start(rooms_app::app(imphnen::Config {
        workers: 2,
        ..Default::default()
    }))
}

async fn join(server: &Running, room: &str, name: &str) -> Client {
    server.connect(&format!("/room/{room}?name={name}")).await
}

async fn members(server: &Running, room: &str) -> u64 {
    let response = server.get(&format!("/rooms/{room}")).await;
    assert_eq!(response.status, 200);
    let v: Value = serde_json::from_str(&response.body).unwrap();
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
    let response = server
        .http("POST", "/rooms/rust/announce", "tea time")
        .await;
    assert_eq!(
        (
            response.status,
            serde_json::from_str::<Value>(&response.body).unwrap()
        ),
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
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_without_a_name_is_refused_before_the_connection_opens() {
    let server = start();
    let url = format!("ws://{}/room/rust", server.addr);
    match timeout(STEP, connect_async(url)).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400);
            assert_eq!(resp.body().as_deref(), Some(&b"a ?name= is required"[..]));
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert_eq!(members(&server, "rust").await, 0);
    server.stop().await;
}
