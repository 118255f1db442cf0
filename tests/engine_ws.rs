//! The engine's WebSocket behaviour against tokio-tungstenite and raw TCP: messages, close
//! handshake, protocol errors and their close codes, limits, idle timeout, failing handlers.

mod engine_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_support::{Raw, Ws, frame, read_close, read_frame, tungstenite, ws_connect};
use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Config, HandlerError, Server, WsCallbacks, WsConfig};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as TMessage;

const T: Duration = Duration::from_secs(5);
const MAX_PAYLOAD: usize = 1024;

/// Close codes and reasons the server's `close` handler saw, and errors `error` saw.
#[derive(Clone, Default)]
struct Seen {
    closes: Arc<Mutex<Vec<(u16, String)>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

fn start(ws: WsConfig, seen: &Seen) -> Server {
    let mut app = App::new(Config {
        workers: 1,
        websocket: ws,
        ..Default::default()
    });
    let (closes, errors) = (seen.closes.clone(), seen.errors.clone());
    app.ws(
        "/echo",
        WsCallbacks::new()
            .on_open(|ctx| {
                ctx.ws.send("Welcome!");
                Ok(())
            })
            .on_message(|ctx, msg| {
                match msg.as_text() {
                    Some("bye") => ctx.ws.close(4000, "x"),
                    Some("panic") => panic!("handler panic on purpose"),
                    Some("fail") => return Err("handler failed on purpose".into()),
                    _ => {
                        ctx.ws.send(msg);
                    }
                }
                Ok(())
            })
            .on_close(move |_, code, reason| {
                closes.lock().unwrap().push((code, reason.to_owned()));
                Ok(())
            })
            .on_error(move |_, e: &HandlerError| errors.lock().unwrap().push(e.to_string())),
    );
    app.listen("127.0.0.1:0").expect("listen")
}

fn default_ws() -> WsConfig {
    WsConfig {
        max_payload_length: MAX_PAYLOAD,
        ..Default::default()
    }
}

async fn connect(server: &Server) -> Ws {
    let (mut ws, resp) = timeout(T, tungstenite(server, "/echo"))
        .await
        .expect("handshake timed out")
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    assert_eq!(next(&mut ws).await, TMessage::text("Welcome!"));
    ws
}

async fn next(ws: &mut Ws) -> TMessage {
    timeout(T, ws.next())
        .await
        .expect("receive timed out")
        .expect("stream ended")
        .expect("websocket error")
}

/// The server's close frame: `(code, reason)`.
async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        match next(ws).await {
            TMessage::Close(Some(f)) => return (f.code.into(), f.reason.into_owned()),
            TMessage::Close(None) => return (1005, String::new()),
            _ => {}
        }
    }
}

/// Waits (briefly) until the server's close handler has run `n` times.
fn closes_seen(seen: &Seen, n: usize) -> Vec<(u16, String)> {
    for _ in 0..200 {
        let c = seen.closes.lock().unwrap().clone();
        if c.len() >= n {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    seen.closes.lock().unwrap().clone()
}

#[tokio::test]
async fn text_and_binary_messages_are_echoed_with_their_kind() {
    let server = start(default_ws(), &Seen::default());
    let mut ws = connect(&server).await;
    ws.send(TMessage::text("hello")).await.unwrap();
    assert_eq!(next(&mut ws).await, TMessage::text("hello"));
    ws.send(TMessage::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await, TMessage::binary(vec![0u8, 1, 2, 255]));
    ws.close(None).await.unwrap();
    drop(ws);
    server.shutdown();
}

#[tokio::test]
async fn close_with_code_and_reason_reaches_the_client() {
    let seen = Seen::default();
    let server = start(default_ws(), &seen);
    let mut ws = connect(&server).await;
    ws.send(TMessage::text("bye")).await.unwrap();
    assert_eq!(close_of(&mut ws).await, (4000, "x".to_owned()));
    // Polling on lets tungstenite send its answer; the server's close handler sees the code.
    while let Ok(Some(_)) = timeout(T, ws.next()).await {}
    assert_eq!(closes_seen(&seen, 1).first().map(|c| c.0), Some(4000));
    drop(ws);
    server.shutdown();
}

#[test]
fn close_handler_gets_our_code_when_the_peer_drops_tcp_without_answering() {
    let seen = Seen::default();
    let server = start(default_ws(), &seen);
    let mut raw = ws_connect(&server, "/echo");
    raw.send(&frame(0x1, b"bye", Some([5, 6, 7, 8])));
    assert_eq!(read_close(&mut raw), 4000);
    drop(raw); // FIN, no close frame
    assert_eq!(closes_seen(&seen, 1).first().map(|c| c.0), Some(4000));
    server.shutdown();
}

#[tokio::test]
async fn client_close_is_answered_with_the_same_code() {
    let seen = Seen::default();
    let server = start(default_ws(), &seen);
    let mut ws = connect(&server).await;
    ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 4001.into(),
        reason: "done".into(),
    }))
    .await
    .unwrap();
    assert_eq!(close_of(&mut ws).await.0, 4001);
    assert_eq!(
        closes_seen(&seen, 1).first().cloned(),
        Some((4001, "done".to_owned()))
    );
    drop(ws);
    server.shutdown();
}

#[tokio::test]
async fn ping_is_answered_with_a_pong_carrying_its_payload() {
    let server = start(default_ws(), &Seen::default());
    let mut ws = connect(&server).await;
    ws.send(TMessage::Ping(b"are you there".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        TMessage::Pong(b"are you there".to_vec())
    );
    drop(ws);
    server.shutdown();
}

#[tokio::test]
async fn message_of_exactly_max_payload_length_is_accepted() {
    let server = start(default_ws(), &Seen::default());
    let mut ws = connect(&server).await;
    let exact = vec![7u8; MAX_PAYLOAD];
    ws.send(TMessage::binary(exact.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, TMessage::binary(exact));
    drop(ws);
    server.shutdown();
}

#[tokio::test]
async fn oversize_message_closes_with_1009() {
    let server = start(default_ws(), &Seen::default());
    let mut ws = connect(&server).await;
    ws.send(TMessage::binary(vec![7u8; MAX_PAYLOAD + 1]))
        .await
        .unwrap();
    assert_eq!(close_of(&mut ws).await.0, 1009);
    drop(ws);
    server.shutdown();
}

#[tokio::test]
async fn oversize_fragmented_message_closes_with_1009() {
    let server = start(default_ws(), &Seen::default());
    let mut raw = ws_connect(&server, "/echo");
    let key = Some([1, 2, 3, 4]);
    // Two fragments, each within the limit, together one byte over it.
    let mut first = frame(0x2, &vec![0u8; MAX_PAYLOAD / 2], key);
    first[0] &= 0x7F; // FIN clear
    let second = frame(0x0, &vec![0u8; MAX_PAYLOAD / 2 + 1], key);
    raw.send(&first);
    raw.send(&second);
    assert_eq!(read_close(&mut raw), 1009);
    drop(raw);
    server.shutdown();
}

#[test]
fn unmasked_client_frame_closes_with_1002() {
    let server = start(default_ws(), &Seen::default());
    let mut raw = ws_connect(&server, "/echo");
    raw.send(&frame(0x1, b"no mask", None));
    assert_eq!(read_close(&mut raw), 1002);
    assert!(raw.closed_by_server());
    drop(raw);
    server.shutdown();
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    let server = start(default_ws(), &Seen::default());
    let mut raw = ws_connect(&server, "/echo");
    raw.send(&frame(0x1, &[b'o', b'k', 0xC3, 0x28], Some([9, 8, 7, 6])));
    assert_eq!(read_close(&mut raw), 1007);
    drop(raw);
    server.shutdown();
}

#[test]
fn fragmented_text_message_is_delivered_whole() {
    let server = start(default_ws(), &Seen::default());
    let mut raw = ws_connect(&server, "/echo");
    assert_eq!(read_frame(&mut raw), Some((0x1, b"Welcome!".to_vec())));
    let mut first = frame(0x1, "Hé".as_bytes(), Some([1, 1, 1, 1]));
    first[0] &= 0x7F;
    // A ping between the fragments is answered without breaking the message.
    let ping = frame(0x9, b"p", Some([2, 2, 2, 2]));
    let last = frame(0x0, "llo".as_bytes(), Some([3, 3, 3, 3]));
    raw.send(&[first, ping, last].concat());
    assert_eq!(read_frame(&mut raw), Some((0xA, b"p".to_vec())));
    assert_eq!(
        read_frame(&mut raw),
        Some((0x1, "Héllo".as_bytes().to_vec()))
    );
    drop(raw);
    server.shutdown();
}

/// Control frames ahead of whole data frames in one write: every ping is answered, the
/// unsolicited pong is ignored, and each message after them arrives exactly as sent (the core
/// takes a payload from where its frame ends, past the control frames before it).
#[test]
fn control_frames_ahead_of_short_messages_in_one_write_leave_every_message_whole() {
    let server = start(default_ws(), &Seen::default());
    let mut raw = ws_connect(&server, "/echo");
    assert_eq!(read_frame(&mut raw), Some((0x1, b"Welcome!".to_vec())));
    let bytes = [
        frame(0x9, b"one", Some([1, 2, 3, 4])),
        frame(0xA, b"unsolicited", Some([5, 6, 7, 8])),
        frame(0x9, b"two", Some([9, 10, 11, 12])),
        frame(0x1, "short text \u{e9}".as_bytes(), Some([13, 14, 15, 16])),
        frame(0x2, &[0, 1, 2, 3, 255], Some([17, 18, 19, 20])),
        frame(0x9, b"", Some([21, 22, 23, 24])),
        frame(0x1, b"", Some([25, 26, 27, 28])),
    ]
    .concat();
    raw.send(&bytes);
    let expected: [(u8, &[u8]); 6] = [
        (0xA, b"one"),
        (0xA, b"two"),
        (0x1, "short text \u{e9}".as_bytes()),
        (0x2, &[0, 1, 2, 3, 255]),
        (0xA, b""),
        (0x1, b""),
    ];
    for (opcode, payload) in expected {
        assert_eq!(read_frame(&mut raw), Some((opcode, payload.to_vec())));
    }
    drop(raw);
    server.shutdown();
}

/// A connection that falls silent gives its frame decoder back to the core after a second,
/// but only between messages: a message paused mid-frame or between fragments for longer than
/// that still arrives whole, and a connection that was silent decodes again when it resumes.
#[test]
fn messages_paused_past_a_second_mid_frame_and_between_fragments_arrive_whole() {
    let server = start(default_ws(), &Seen::default());
    let mut raw = ws_connect(&server, "/echo");
    assert_eq!(read_frame(&mut raw), Some((0x1, b"Welcome!".to_vec())));
    let pause = Duration::from_millis(1500);

    // Between messages: the decoder goes back, and a new message is decoded as usual.
    raw.send(&frame(0x2, b"one", Some([9, 8, 7, 6])));
    assert_eq!(read_frame(&mut raw), Some((0x2, b"one".to_vec())));
    std::thread::sleep(pause);

    // Mid-frame: header and half the payload, a pause, the rest.
    let whole = frame(0x2, b"split payload", Some([1, 2, 3, 4]));
    raw.send(&whole[..8]);
    std::thread::sleep(pause);
    raw.send(&whole[8..]);
    assert_eq!(read_frame(&mut raw), Some((0x2, b"split payload".to_vec())));

    // Between fragments of one message.
    let mut first = frame(0x1, b"frag", Some([5, 5, 5, 5]));
    first[0] &= 0x7F;
    raw.send(&first);
    std::thread::sleep(pause);
    raw.send(&frame(0x0, b"ments", Some([6, 6, 6, 6])));
    assert_eq!(read_frame(&mut raw), Some((0x1, b"fragments".to_vec())));
    drop(raw);
    server.shutdown();
}

#[tokio::test]
async fn panicking_handler_closes_with_1011_while_another_connection_keeps_working() {
    let seen = Seen::default();
    let server = start(default_ws(), &seen);
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    a.send(TMessage::text("panic")).await.unwrap();
    assert_eq!(close_of(&mut a).await.0, 1011);
    b.send(TMessage::text("still here")).await.unwrap();
    assert_eq!(next(&mut b).await, TMessage::text("still here"));
    drop((a, b));
    assert!(
        seen.errors.lock().unwrap()[0].contains("handler panic on purpose"),
        "{:?}",
        seen.errors
    );
    server.shutdown();
}

#[tokio::test]
async fn handler_error_goes_to_the_error_handler_and_the_connection_stays_open() {
    let seen = Seen::default();
    let server = start(default_ws(), &seen);
    let mut ws = connect(&server).await;
    ws.send(TMessage::text("fail")).await.unwrap();
    ws.send(TMessage::text("after")).await.unwrap();
    assert_eq!(next(&mut ws).await, TMessage::text("after"));
    assert!(seen.errors.lock().unwrap()[0].contains("handler failed on purpose"));
    drop(ws);
    server.shutdown();
}

#[test]
fn idle_timeout_closes_a_silent_connection_with_1001() {
    let server = start(
        WsConfig {
            idle_timeout: Duration::from_millis(300),
            send_pings: false,
            ..default_ws()
        },
        &Seen::default(),
    );
    let started = std::time::Instant::now();
    let mut raw = ws_connect(&server, "/echo");
    assert_eq!(read_close(&mut raw), 1001);
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_secs(2),
        "closed after {after:?}"
    );
    drop(raw);
    server.shutdown();
}

#[tokio::test]
async fn client_answering_idle_pings_stays_open_past_the_idle_timeout() {
    let server = start(
        WsConfig {
            idle_timeout: Duration::from_millis(300),
            send_pings: true,
            ..default_ws()
        },
        &Seen::default(),
    );
    let mut ws = connect(&server).await;
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(1200);
    while tokio::time::Instant::now() < until {
        // Reading lets tungstenite answer the server's pings.
        match timeout(Duration::from_millis(50), ws.next()).await {
            Err(_) => {}
            Ok(Some(Ok(TMessage::Ping(_)))) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 2, "only {pings} pings");
    ws.send(TMessage::text("alive")).await.unwrap();
    assert_eq!(next(&mut ws).await, TMessage::text("alive"));
    drop(ws);
    server.shutdown();
}

#[test]
fn upgrade_to_an_unknown_path_is_refused_with_404() {
    let server = start(default_ws(), &Seen::default());
    let mut raw = Raw::to(&server);
    raw.send(
        b"GET /nowhere HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(raw.response(false).status, 404);
    server.shutdown();
}
