//! The seed tour example (`examples/seed_tour`), one test per snippet behaviour of the guide,
//! against tokio-tungstenite and raw HTTP/1.1. Every test starts its own app on two cores, so
//! its connections land on both and cross-core sends and closes are exercised.

#[path = "../examples/seed_tour/app.rs"]
mod seed_tour_app;

mod example_support;

use example_support::{Running, STEP, recv_close, recv_json, recv_text, send_text as send};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// The seed tour app on two cores, on a free port.
fn start() -> Running {
    Running::start(seed_tour_app::app(imphnen::Config {
        workers: 2,
        ..Default::default()
    }))
}

/// `GET path` over a fresh connection: (status, body).
async fn get(tour: &Running, path: &str) -> (u16, String) {
    let response = Running::get(tour, path).await;
    (response.status, response.body)
}

// ---------------------------------------------------------------- Quick Start

#[tokio::test]
async fn quickstart_welcomes_then_echoes() {
    let tour = start();
    let mut ws = tour.connect("/quickstart").await;
    assert_eq!(recv_text(&mut ws).await, "Welcome!");
    send(&mut ws, "hi").await;
    assert_eq!(recv_text(&mut ws).await, "Echo: hi");
    drop(ws);
    tour.stop().await;
}

// ---------------------------------------------------------------- Testing WebSocket Endpoints

#[tokio::test]
async fn echo_answers_echo_hello() {
    let tour = start();
    let mut ws = tour.connect("/echo").await;
    send(&mut ws, "Hello!").await;
    assert_eq!(recv_text(&mut ws).await, "Echo: Hello!");
    ws.close(None).await.unwrap();
    drop(ws);
    tour.stop().await;
}

// ---------------------------------------------------------------- Route Parameters

#[tokio::test]
async fn room_messages_are_prefixed_with_the_room_id() {
    let tour = start();
    let mut lobby = tour.connect("/room/lobby").await;
    let mut decoded = tour.connect("/room/caf%C3%A9").await;
    send(&mut lobby, "hello").await;
    send(&mut decoded, "bonjour").await;
    assert_eq!(recv_text(&mut lobby).await, "[lobby] hello");
    assert_eq!(recv_text(&mut decoded).await, "[café] bonjour");
    drop((lobby, decoded));
    tour.stop().await;
}

#[tokio::test]
async fn optional_user_id_announces_the_user() {
    let tour = start();
    let mut ws = tour.connect("/users/42").await;
    assert_eq!(recv_text(&mut ws).await, "User 42 connected");
    drop(ws);
    tour.stop().await;
}

#[tokio::test]
async fn missing_optional_user_id_is_anonymous() {
    let tour = start();
    let mut ws = tour.connect("/users").await;
    assert_eq!(recv_text(&mut ws).await, "Anonymous connected");
    drop(ws);
    tour.stop().await;
}

// ---------------------------------------------------------------- Query Parameters

#[tokio::test]
async fn connect_without_token_closes_4001() {
    let tour = start();
    let mut ws = tour.connect("/connect?username=alice").await;
    assert_eq!(
        recv_close(&mut ws).await,
        (4001, "Authentication required".to_owned())
    );
    drop(ws);
    tour.stop().await;
}

#[tokio::test]
async fn connect_with_token_greets_the_username() {
    let tour = start();
    let mut ws = tour.connect("/connect?token=abc123&username=alice").await;
    assert_eq!(recv_text(&mut ws).await, "alice authenticated");
    drop(ws);
    tour.stop().await;
}

// ---------------------------------------------------------------- WebSocket Context

#[tokio::test]
async fn info_reports_params_query_url_and_client_id_header() {
    let tour = start();
    let mut ws = tour
        .connect_with("/info?a=1&b=two%20words", &[("x-client-id", "client-7")])
        .await;
    let info = recv_json(&mut ws).await;
    assert_eq!(
        info,
        json!({
            "params": {},
            "query": { "a": "1", "b": "two words" },
            "url": format!("ws://{}/info?a=1&b=two%20words", tour.addr),
            "headers": { "x-client-id": "client-7" },
        })
    );
    drop(ws);
    tour.stop().await;
}

// ---------------------------------------------------------------- Connection Management

#[tokio::test]
async fn second_session_for_same_user_closes_first_with_4000() {
    let tour = start();
    let mut first = tour.connect("/user/alice").await;
    let mut other_user = tour.connect("/user/bob").await;
    let mut second = tour.connect("/user/alice").await;
    assert_eq!(
        recv_close(&mut first).await,
        (4000, "New session started".to_owned())
    );
    // The new session and other users' sessions stay open.
    for ws in [&mut second, &mut other_user] {
        ws.send(Message::Ping(b"still there?".to_vec()))
            .await
            .unwrap();
        let pong = timeout(STEP, ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(pong, Message::Pong(b"still there?".to_vec()));
    }
    drop((first, second, other_user));
    tour.stop().await;
}

#[tokio::test]
async fn replaced_session_closing_does_not_forget_the_new_one() {
    let tour = start();
    let mut first = tour.connect("/user/alice").await;
    let mut second = tour.connect("/user/alice").await;
    // Returns once the first session's close handler has run.
    assert_eq!(recv_close(&mut first).await.0, 4000);
    // The map must still hold the second session, so a third one replaces it.
    let mut third = tour.connect("/user/alice").await;
    assert_eq!(
        recv_close(&mut second).await,
        (4000, "New session started".to_owned())
    );
    third.close(None).await.unwrap();
    drop((first, second, third));
    tour.stop().await;
}

#[tokio::test]
async fn user_who_left_can_reconnect_without_closing_anyone() {
    let tour = start();
    let mut first = tour.connect("/user/carol").await;
    first.close(None).await.unwrap();
    let end = timeout(STEP, async { while first.next().await.is_some() {} }).await;
    end.expect("the server did not end the connection");
    // Nothing is left to close: the new session gets no close frame, a ping is answered.
    let mut again = tour.connect("/user/carol").await;
    again.send(Message::Ping(b"p".to_vec())).await.unwrap();
    let pong = timeout(STEP, again.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(pong, Message::Pong(b"p".to_vec()));
    drop((first, again));
    tour.stop().await;
}

// ---------------------------------------------------------------- Message Validation

#[tokio::test]
async fn api_invalid_json_closes_4002() {
    let tour = start();
    let mut ws = tour.connect("/api").await;
    send(&mut ws, "{not json").await;
    assert_eq!(recv_close(&mut ws).await, (4002, "Invalid JSON".to_owned()));
    drop(ws);
    tour.stop().await;
}

#[tokio::test]
async fn api_message_without_type_or_payload_is_invalid_format() {
    let tour = start();
    let mut ws = tour.connect("/api").await;
    for bad in [
        r#"{"payload": {"x": 1}}"#,
        r#"{"type": "ping"}"#,
        r#"{"type": "", "payload": 1}"#,
        r#"{"type": "ping", "payload": null}"#,
        "[1, 2]",
    ] {
        send(&mut ws, bad).await;
        assert_eq!(
            recv_json(&mut ws).await,
            json!({ "error": "Invalid message format" }),
            "for {bad}"
        );
    }
    drop(ws);
    tour.stop().await;
}

#[tokio::test]
async fn api_valid_message_is_acknowledged_with_its_type() {
    let tour = start();
    let mut ws = tour.connect("/api").await;
    send(
        &mut ws,
        r#"{"type": "subscribe", "payload": {"topic": "news"}}"#,
    )
    .await;
    assert_eq!(
        recv_json(&mut ws).await,
        json!({ "type": "subscribe", "ok": true })
    );
    drop(ws);
    tour.stop().await;
}

// ---------------------------------------------------------------- Rate Limiting

#[tokio::test]
async fn eleventh_message_in_a_minute_closes_4003_shared_per_client_id() {
    let tour = start();
    let id = [("x-client-id", "dave")];
    let mut a = tour.connect_with("/limited", &id).await;
    let mut b = tour.connect_with("/limited", &id).await;
    let mut other = tour
        .connect_with("/limited", &[("x-client-id", "erin")])
        .await;
    for i in 0..5 {
        send(&mut a, &format!("a{i}")).await;
        assert_eq!(recv_text(&mut a).await, "accepted");
        send(&mut b, &format!("b{i}")).await;
        assert_eq!(recv_text(&mut b).await, "accepted");
    }
    send(&mut a, "eleventh").await;
    assert_eq!(
        recv_close(&mut a).await,
        (4003, "Rate limit exceeded".to_owned())
    );
    // Another client id has its own budget.
    send(&mut other, "first").await;
    assert_eq!(recv_text(&mut other).await, "accepted");
    // The budget of `dave` is spent for every connection carrying it.
    send(&mut b, "twelfth").await;
    assert_eq!(
        recv_close(&mut b).await,
        (4003, "Rate limit exceeded".to_owned())
    );
    drop((a, b, other));
    tour.stop().await;
}

#[tokio::test]
async fn connections_without_client_id_share_the_anonymous_budget() {
    let tour = start();
    let mut a = tour.connect("/limited").await;
    let mut b = tour.connect("/limited").await;
    for i in 0..10 {
        let ws = if i % 2 == 0 { &mut a } else { &mut b };
        send(ws, "hi").await;
        assert_eq!(recv_text(ws).await, "accepted");
    }
    send(&mut b, "one too many").await;
    assert_eq!(
        recv_close(&mut b).await,
        (4003, "Rate limit exceeded".to_owned())
    );
    drop((a, b));
    tour.stop().await;
}

// ---------------------------------------------------------------- Error Handling

#[tokio::test]
async fn robust_failure_sends_error_json_and_keeps_the_connection() {
    let tour = start();
    let mut ws = tour.connect("/robust").await;
    send(&mut ws, "hello").await;
    assert_eq!(recv_text(&mut ws).await, "Processed: hello");
    send(&mut ws, "fail").await;
    assert_eq!(
        recv_json(&mut ws).await,
        json!({ "type": "error", "message": "Failed to process message" })
    );
    send(&mut ws, "again").await;
    assert_eq!(recv_text(&mut ws).await, "Processed: again");
    drop(ws);
    tour.stop().await;
}

#[tokio::test]
async fn robust_messages_are_answered_in_order_despite_async_processing() {
    let tour = start();
    let mut ws = tour.connect("/robust").await;
    let sent: Vec<String> = (0..20)
        .map(|i| {
            if i % 3 == 0 {
                "fail".to_owned()
            } else {
                format!("m{i}")
            }
        })
        .collect();
    for text in &sent {
        send(&mut ws, text).await;
    }
    for text in &sent {
        let expected = if text == "fail" {
            json!({ "type": "error", "message": "Failed to process message" }).to_string()
        } else {
            format!("Processed: {text}")
        };
        assert_eq!(recv_text(&mut ws).await, expected);
    }
    drop(ws);
    tour.stop().await;
}

// ---------------------------------------------------------------- Integration with HTTP Routes

#[tokio::test]
async fn chat_room_broadcasts_each_message_to_every_member_including_the_sender() {
    let tour = start();
    let mut alice = tour.connect("/chat/general").await;
    let mut bob = tour.connect("/chat/general").await;
    let mut elsewhere = tour.connect("/chat/random").await;
    let text = r#"{"user":"alice","content":"hi all"}"#;
    send(&mut alice, text).await;
    assert_eq!(recv_text(&mut alice).await, text);
    assert_eq!(recv_text(&mut bob).await, text);
    // Another room gets only its own messages.
    let other = r#"{"user":"zed","content":"meanwhile"}"#;
    send(&mut elsewhere, other).await;
    assert_eq!(recv_text(&mut elsewhere).await, other);
    drop((alice, bob, elsewhere));
    tour.stop().await;
}

#[tokio::test]
async fn room_history_is_returned_by_the_http_api() {
    let tour = start();
    assert_eq!(
        get(&tour, "/api/messages/general").await,
        (200, "[]".to_owned())
    );
    let mut ws = tour.connect("/chat/general").await;
    let messages = [
        json!({ "user": "alice", "content": "first" }),
        json!({ "user": "bob", "content": "second", "extra": [1, 2] }),
    ];
    for m in &messages {
        send(&mut ws, &m.to_string()).await;
        recv_text(&mut ws).await; // the broadcast back: the message is stored
    }
    let (status, body) = get(&tour, "/api/messages/general").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        Value::Array(messages.to_vec())
    );
    assert_eq!(
        get(&tour, "/api/messages/empty").await,
        (200, "[]".to_owned())
    );
    drop(ws);
    tour.stop().await;
}

#[tokio::test]
async fn chat_room_non_json_closes_4002_and_is_not_kept() {
    let tour = start();
    let mut ws = tour.connect("/chat/general").await;
    send(&mut ws, "plain words").await;
    assert_eq!(recv_close(&mut ws).await, (4002, "Invalid JSON".to_owned()));
    assert_eq!(
        get(&tour, "/api/messages/general").await,
        (200, "[]".to_owned())
    );
    drop(ws);
    tour.stop().await;
}
