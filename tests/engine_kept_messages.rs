//! Messages a handler keeps stay intact, and keeping them does not stop the server receiving.
//!
//! The server has only 8 receive buffers of 4 KiB on io_uring and keeps every message it gets
//! for good, far more than the buffers could hold: a message whose bytes still lay in a receive
//! buffer the kernel fills again would be overwritten, and one that kept a buffer from the
//! kernel would, a few messages on, stop receiving. (A design that kept large payloads in the
//! receive buffers was measured and not kept: benches/README.md, "large payloads kept in the
//! receive buffer".) The peer is tokio-tungstenite; every echo and every kept message is checked
//! byte for byte, also after the server stopped and from another thread.

mod engine_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_support::{Ws, tungstenite};
use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Config, Message, Server, UringConfig, WsCallbacks};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as TMessage;

const T: Duration = Duration::from_secs(10);

fn start(kept: Arc<Mutex<Vec<Message>>>) -> Server {
    let mut app = App::new(Config {
        workers: 1,
        uring: UringConfig {
            buffers: 8,
            buffer_size: 4096,
        },
        ..Config::default()
    });
    app.ws(
        "/keep",
        WsCallbacks::new().on_message(move |ctx, msg| {
            ctx.ws.send(msg.clone());
            kept.lock().unwrap().push(msg);
            Ok(())
        }),
    );
    app.listen("127.0.0.1:0").expect("listen")
}

/// A payload no other message has.
fn payload(seq: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(29) ^ seq.wrapping_mul(101) ^ (seq >> 8)) as u8)
        .collect()
}

/// Sizes from 1 KiB (where the send path stops copying payloads) to past a buffer.
fn size_of(seq: usize) -> usize {
    [1024, 1500, 2048, 3000, 4000, 5000][seq % 6]
}

async fn echo(ws: &mut Ws, sent: &[u8], text: bool) {
    let message = if text {
        TMessage::text(String::from_utf8(sent.to_vec()).unwrap())
    } else {
        TMessage::binary(sent.to_vec())
    };
    ws.send(message).await.expect("send");
    let got = timeout(T, ws.next())
        .await
        .expect("the echo timed out: receiving stopped?")
        .expect("stream ended")
        .expect("websocket error");
    assert_eq!(got.into_data(), sent, "the echo differs");
}

#[tokio::test]
async fn kept_messages_stay_intact_and_receiving_goes_on() {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let server = start(kept.clone());
    let (mut ws, _) = timeout(T, tungstenite(&server, "/keep"))
        .await
        .expect("handshake timed out")
        .expect("handshake");

    let mut sent = Vec::new();
    for seq in 0..600 {
        let text = seq % 5 == 0;
        let bytes = if text {
            // Text, validated as UTF-8 on the way.
            "é€".repeat(size_of(seq) / 5).into_bytes()
        } else {
            payload(seq, size_of(seq))
        };
        echo(&mut ws, &bytes, text).await;
        sent.push((text, bytes));
    }
    // Many in flight at once: receives that fill the buffers faster than they are sent back.
    let burst: Vec<Vec<u8>> = (600..700).map(|seq| payload(seq, 3000)).collect();
    for bytes in &burst {
        ws.feed(TMessage::binary(bytes.clone()))
            .await
            .expect("feed");
    }
    ws.flush().await.expect("flush");
    for bytes in &burst {
        let got = timeout(T, ws.next()).await.expect("burst echo timed out");
        assert_eq!(&got.unwrap().unwrap().into_data(), bytes);
        sent.push((false, bytes.clone()));
    }

    let check = |kept: &[Message]| {
        assert_eq!(kept.len(), sent.len());
        for (i, (message, (text, bytes))) in kept.iter().zip(&sent).enumerate() {
            assert_eq!(message.is_text(), *text, "message {i}");
            assert!(
                message.as_bytes() == bytes,
                "kept message {i} was overwritten"
            );
        }
    };
    check(&kept.lock().unwrap());

    drop(ws);
    server.shutdown();
    // The server and its buffers' owner are gone; what the handler kept is still readable,
    // here and on another thread.
    let kept = std::mem::take(&mut *kept.lock().unwrap());
    check(&kept);
    let lens = std::thread::spawn(move || {
        kept.iter()
            .map(|m| m.as_bytes().iter().map(|&b| usize::from(b)).sum::<usize>())
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let expected: Vec<usize> = sent
        .iter()
        .map(|(_, b)| b.iter().map(|&b| usize::from(b)).sum())
        .collect();
    assert_eq!(lens, expected);
}
