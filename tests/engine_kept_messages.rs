//! Messages a handler keeps stay intact, and keeping them does not stop the server receiving.
//!
//! On io_uring a large received payload is kept where the kernel wrote it, in the core's
//! receive buffers, rather than copied out. Here the server has only 8 buffers of 4 KiB and keeps
//! every message it gets for good, far more than the buffers could hold: if a buffer went back to
//! the kernel while a kept message still lay in it, later receives would overwrite that message;
//! if kept messages could take every buffer, receiving would stop. The peer is tokio-tungstenite;
//! every echo and every kept message is checked byte for byte, also after the server stopped
//! and from another thread.

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

/// Sizes from 1 KiB (where messages start being kept in place) to past a buffer.
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
            // Text is kept in place too, once validated as UTF-8.
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
