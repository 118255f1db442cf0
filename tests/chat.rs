//! The chat example (`examples/chat`), the guide's "Real-Time Chat Example", against
//! tokio-tungstenite and raw HTTP/1.1. Every test starts its own app on two cores, so the
//! broadcasts cross cores.

#[path = "../examples/chat/app.rs"]
mod chat_app;

mod example_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use example_support::{Running, recv_json as recv_event, send_json as send};
use serde_json::json;

/// The chat app on two cores, on a free port.
fn start() -> Running {
    Running::start(chat_app::app(imphnen::Config {
        workers: 2,
        ..Default::default()
    }))
}

#[tokio::test]
async fn chat_page_is_served_at_root_and_connects_to_its_own_host() {
    let chat = start();
    let example_support::HttpResponse {
        status,
        head,
        body: page,
    } = chat.get("/").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(page.contains("new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat')"));
    assert!(!page.contains("localhost:3000"), "no hard-coded port");
    for id in [r#"id="messages""#, r#"id="input""#, r#"id="count""#] {
        assert!(page.contains(id), "the page has {id}");
    }
    chat.stop().await;
}

#[tokio::test]
async fn chat_broadcasts_user_joined_counts() {
    let chat = start();
    let mut alice = chat.connect("/chat").await;
    assert_eq!(
        recv_event(&mut alice).await,
        json!({ "type": "user_joined", "count": 1 })
    );
    let mut bob = chat.connect("/chat").await;
    let joined = json!({ "type": "user_joined", "count": 2 });
    assert_eq!(recv_event(&mut alice).await, joined);
    assert_eq!(recv_event(&mut bob).await, joined);
    let mut carol = chat.connect("/chat").await;
    let joined = json!({ "type": "user_joined", "count": 3 });
    for ws in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(recv_event(ws).await, joined);
    }
    drop((alice, bob, carol));
    chat.stop().await;
}

#[tokio::test]
async fn chat_broadcasts_user_left_counts() {
    let chat = start();
    let mut alice = chat.connect("/chat").await;
    recv_event(&mut alice).await;
    let mut bob = chat.connect("/chat").await;
    recv_event(&mut alice).await;
    recv_event(&mut bob).await;

    bob.close(None).await.unwrap();
    assert_eq!(
        recv_event(&mut alice).await,
        json!({ "type": "user_left", "count": 1 })
    );
    // A client that vanishes without a close frame is counted out as well.
    let mut carol = chat.connect("/chat").await;
    assert_eq!(recv_event(&mut alice).await["count"], 2);
    recv_event(&mut carol).await;
    drop(carol);
    assert_eq!(
        recv_event(&mut alice).await,
        json!({ "type": "user_left", "count": 1 })
    );
    drop((alice, bob));
    chat.stop().await;
}

#[tokio::test]
async fn chat_broadcasts_messages_to_everyone_including_the_sender_with_iso_timestamps() {
    let chat = start();
    let mut alice = chat.connect("/chat").await;
    recv_event(&mut alice).await;
    let mut bob = chat.connect("/chat").await;
    recv_event(&mut alice).await;
    recv_event(&mut bob).await;

    let before = chat_app::iso_timestamp(SystemTime::now());
    send(
        &mut bob,
        &json!({ "user": "Bob", "content": "hello, world" }),
    )
    .await;
    let to_alice = recv_event(&mut alice).await;
    let to_bob = recv_event(&mut bob).await;
    let after = chat_app::iso_timestamp(SystemTime::now());

    assert_eq!(to_alice, to_bob);
    assert_eq!(to_alice["type"], "message");
    assert_eq!(to_alice["user"], "Bob");
    assert_eq!(to_alice["content"], "hello, world");
    let timestamp = to_alice["timestamp"].as_str().expect("a timestamp string");
    assert_eq!(
        timestamp.len(),
        "2026-11-26T04:20:43.123Z".len(),
        "{timestamp}"
    );
    assert!(timestamp.ends_with('Z'), "{timestamp}");
    // Fixed-width ISO 8601 strings sort like the instants they name.
    assert!(
        before.as_str() <= timestamp && timestamp <= after.as_str(),
        "{before} <= {timestamp} <= {after}"
    );
    drop((alice, bob));
    chat.stop().await;
}

#[test]
fn iso_timestamp_matches_javascript_to_iso_string() {
    let at = |ms: u64| chat_app::iso_timestamp(UNIX_EPOCH + Duration::from_millis(ms));
    assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(at(1_795_666_843_123), "2026-11-26T04:20:43.123Z");
    assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
}
