//! Pub/sub topics, flow control and the upgrade hook, against independent clients
//! (tokio-tungstenite, raw TCP). Every server runs two workers, so publishes cross cores.

mod engine_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use imphnen::{App, Config, Ctx, Publisher, SendStatus, Server, WsCallbacks, WsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use engine_support::{Transport, Ws, transport, tungstenite, tungstenite_with, url};

/// How long any single step may take.
const T: Duration = Duration::from_secs(10);

/// What the servers' handlers count.
#[derive(Clone, Default)]
struct Counters {
    drains: Arc<AtomicUsize>,
    closes: Arc<std::sync::Mutex<Vec<u16>>>,
    dropped_sends: Arc<AtomicUsize>,
    /// The flood's last two statuses, `"<first not Sent>:<the next>"`.
    stops: Arc<std::sync::Mutex<Vec<String>>>,
}

/// The test application on two workers:
/// - `WS /sub/:topic` subscribes to `topic` on open; text commands:
///   `unsub` → `unsubscribed:<returned>:<is_subscribed>`, `subs` → the subscriptions joined
///   by `,`, `pub:<text>` → `ws.publish(topic, text)` then `published:<count>`,
///   `check` → a server-level publish of `after` to the topic, then `marker` to this client only,
///   `echo:<text>` → `<text>`, `mix:<n>` → n times: a 4 KiB server-level publish `P<i>:...` to
///   the topic, then `own<i>` to this client;
/// - `WS /flood`: on `flood`, sends 64 KiB binaries until one is not `Sent`, sends once more, and
///   records both statuses in `counters.stops`;
/// - `POST /publish/:topic`: publishes the body, answers the subscriber count.
///
/// Every route's `drain` counts into `counters.drains` and sends `drained`.
fn start(ws: WsConfig, counters: &Counters) -> Server {
    let mut app = App::new(Config {
        workers: 2,
        websocket: ws,
        // Clients still open when a test ends do not answer the shutdown's close frames.
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let drains = counters.drains.clone();
    let closes = counters.closes.clone();
    app.ws(
        "/sub/:topic",
        WsCallbacks::new()
            .on_open(|ctx| {
                let topic = ctx.param("topic").unwrap_or_default();
                assert!(ctx.ws.subscribe(&topic));
                assert!(!ctx.ws.subscribe(&topic), "a second subscribe is a no-op");
                Ok(())
            })
            .on_message(|ctx, msg| {
                let topic = ctx.param("topic").unwrap_or_default().into_owned();
                let text = msg.as_text().unwrap_or_default();
                if text == "unsub" {
                    let r = ctx.ws.unsubscribe(&topic);
                    let now = ctx.ws.is_subscribed(&topic);
                    ctx.ws.send(format!("unsubscribed:{r}:{now}"));
                } else if text == "subs" {
                    ctx.ws.subscribe("extra");
                    let mut subs = ctx.ws.subscriptions();
                    subs.sort();
                    ctx.ws.send(subs.join(","));
                } else if let Some(m) = text.strip_prefix("pub:") {
                    let n = ctx.ws.publish(&topic, m.to_owned());
                    ctx.ws.send(format!("published:{n}"));
                } else if text == "check" {
                    Publisher::current().unwrap().publish(&topic, "after");
                    ctx.ws.send("marker");
                } else if let Some(m) = text.strip_prefix("echo:") {
                    ctx.ws.send(m.to_owned());
                } else if let Some(n) = text.strip_prefix("mix:") {
                    // Large published frames (shared, not copied) interleaved with this
                    // connection's own sends: each must arrive in the order written.
                    let publisher = Publisher::current().unwrap();
                    for i in 0..n.parse::<usize>().unwrap_or(0) {
                        publisher.publish(&topic, format!("P{i}:{}", "p".repeat(4 << 10)));
                        ctx.ws.send(format!("own{i}"));
                    }
                }
                Ok(())
            })
            .on_drain({
                let drains = drains.clone();
                move |ctx| {
                    drains.fetch_add(1, Ordering::SeqCst);
                    ctx.ws.send("drained");
                    Ok(())
                }
            })
            .on_close({
                let closes = closes.clone();
                move |_, code, _| {
                    closes.lock().unwrap().push(code);
                    Ok(())
                }
            }),
    );
    let dropped_sends = counters.dropped_sends.clone();
    let stops = counters.stops.clone();
    app.ws(
        "/flood",
        WsCallbacks::new()
            .on_message(move |ctx, _| {
                let chunk = vec![7u8; 64 << 10];
                for _ in 0..100_000 {
                    match ctx.ws.send(chunk.clone()) {
                        SendStatus::Sent(_) => {}
                        other => {
                            // A second send after the limit: dropped (and, with
                            // close_on_backpressure_limit, the connection is shed).
                            let again = ctx.ws.send(chunk.clone());
                            if matches!(again, SendStatus::Dropped) {
                                dropped_sends.fetch_add(1, Ordering::SeqCst);
                            }
                            stops.lock().unwrap().push(format!("{other:?}:{again:?}"));
                            break;
                        }
                    }
                }
                Ok(())
            })
            .on_drain(move |ctx| {
                drains.fetch_add(1, Ordering::SeqCst);
                ctx.ws.send("drained");
                Ok(())
            })
            .on_close(move |_, code, _| {
                closes.lock().unwrap().push(code);
                Ok(())
            }),
    );
    app.post("/publish/:topic", |ctx: Ctx| {
        let topic = ctx.param("topic").unwrap_or_default().into_owned();
        let body = ctx.body().text().unwrap_or_default().to_owned();
        ctx.publisher().publish(&topic, body).to_string()
    });
    app.listen("127.0.0.1:0").expect("listen")
}

async fn connect(server: &Server, path: &str) -> Ws {
    let (ws, resp) = timeout(T, tungstenite(server, path))
        .await
        .expect("handshake timed out")
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

async fn next(ws: &mut Ws) -> TMessage {
    loop {
        let m = timeout(T, ws.next())
            .await
            .expect("receive timed out")
            .expect("stream ended")
            .expect("websocket error");
        if !matches!(m, TMessage::Ping(_) | TMessage::Pong(_)) {
            return m;
        }
    }
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        TMessage::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Waits until `f` holds, or fails after `T`.
async fn until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < T, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `POST path` with `body` over a fresh connection; returns the response body.
async fn post(server: &Server, path: &str, body: &str) -> String {
    let mut tcp = transport(server).await;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    timeout(T, tcp.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let resp = String::from_utf8(resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    resp.split("\r\n\r\n").nth(1).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_subscribers_on_two_workers_receive_every_message_in_order() {
    const CLIENTS: usize = 1000;
    const PER_PUBLISHER: usize = 100;
    let server = start(WsConfig::default(), &Counters::default());
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 50 {
        let batch: Vec<_> = (0..50).map(|_| connect(&server, "/sub/news")).collect();
        clients.extend(futures_util::future::join_all(batch).await);
    }
    until("1,000 subscribers", || {
        server.subscriber_count("news") == CLIENTS
    })
    .await;

    // Two plain threads publish at once; each one's order must hold for every subscriber.
    let publishers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let publisher = server.publisher();
            std::thread::spawn(move || {
                for i in 0..PER_PUBLISHER {
                    assert_eq!(publisher.publish("news", format!("{name}{i}")), CLIENTS);
                }
            })
        })
        .collect();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut next_of = [0usize; 2];
                for _ in 0..2 * PER_PUBLISHER {
                    let text = next_text(&mut ws).await;
                    let (who, n) = text.split_at(1);
                    let k = usize::from(who == "b");
                    assert_eq!(n.parse::<usize>().unwrap(), next_of[k], "order of {who}");
                    next_of[k] += 1;
                }
                ws
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    let mut clients = Vec::new();
    for r in readers {
        clients.push(r.await.expect("a subscriber missed or reordered a message"));
    }
    for ws in &mut clients {
        let _ = ws.close(None).await;
    }
    drop(clients);
    until("every subscriber left the topic", || {
        server.subscriber_count("news") == 0
    })
    .await;
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_stops_delivery() {
    let server = start(WsConfig::default(), &Counters::default());
    let mut a = connect(&server, "/sub/t").await;
    let mut b = connect(&server, "/sub/t").await;
    until("two subscribers", || server.subscriber_count("t") == 2).await;

    a.send(TMessage::text("unsub")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "unsubscribed:true:false");
    assert_eq!(server.subscriber_count("t"), 1);
    a.send(TMessage::text("unsub")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "unsubscribed:false:false");

    // `check` publishes on a's own core, then sends `marker` to a: had a still been
    // subscribed, `after` would come first.
    a.send(TMessage::text("check")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "marker");
    assert_eq!(next_text(&mut b).await, "after");

    // From another thread too: b gets it, a's next message is its own echo.
    assert_eq!(server.publish("t", "later"), 1);
    assert_eq!(next_text(&mut b).await, "later");
    a.send(TMessage::text("echo:still here")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "still here");
    server.shutdown();
}

/// One worker; `WS /flip` subscribes to `t` on open, and changes its subscriptions from two
/// threads in a row: `on` → unsubscribed from `t` on a plain thread (joined), then subscribed
/// again in the handler; `off` → subscribed to `g` on a plain thread (joined), then
/// unsubscribed in the handler. Both answer `<is_subscribed to t>:<is_subscribed to g>`;
/// `echo:<text>` → `<text>`.
fn start_flip() -> Server {
    let mut app = App::new(Config {
        workers: 1,
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    app.ws(
        "/flip",
        WsCallbacks::new()
            .on_open(|ctx| {
                assert!(ctx.ws.subscribe("t"));
                Ok(())
            })
            .on_message(|ctx, msg| {
                let text = msg.as_text().unwrap_or_default();
                let other = ctx.ws.clone();
                match text {
                    "on" => {
                        let off = std::thread::spawn(move || other.unsubscribe("t"));
                        assert!(off.join().unwrap());
                        assert!(ctx.ws.subscribe("t"));
                    }
                    "off" => {
                        let on = std::thread::spawn(move || other.subscribe("g"));
                        assert!(on.join().unwrap());
                        assert!(ctx.ws.unsubscribe("g"));
                    }
                    _ => {
                        if let Some(m) = text.strip_prefix("echo:") {
                            ctx.ws.send(m.to_owned());
                        }
                        return Ok(());
                    }
                }
                let (t, g) = (ctx.ws.is_subscribed("t"), ctx.ws.is_subscribed("g"));
                ctx.ws.send(format!("{t}:{g}"));
                Ok(())
            }),
    );
    app.ws(
        "/sub/:topic",
        WsCallbacks::new().on_open(|ctx| {
            assert!(ctx.ws.subscribe(&ctx.param("topic").unwrap_or_default()));
            Ok(())
        }),
    );
    app.listen("127.0.0.1:0").expect("listen")
}

/// A connection's subscribe and unsubscribe may reach its core by different paths (the
/// handler's own, at once; a plain thread's queue, at the core's next turn), so in another
/// order than the registry saw them. Delivery must still follow the registry: subscribed
/// last means every publish arrives, unsubscribed last means none does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_follows_the_last_subscription_change_whatever_path_it_took() {
    let server = start_flip();
    let mut a = connect(&server, "/flip").await;
    // `g` has another subscriber on the same (only) core, so a publish to it reaches that core.
    let mut b = connect(&server, "/sub/g").await;
    until("both subscribed", || {
        server.subscriber_count("t") == 1 && server.subscriber_count("g") == 1
    })
    .await;

    a.send(TMessage::text("on")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "true:false");
    a.send(TMessage::text("echo:turned")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "turned");
    assert_eq!(server.publish("t", "to t"), 1);
    assert_eq!(
        next_text(&mut a).await,
        "to t",
        "subscribed, yet not delivered"
    );

    a.send(TMessage::text("off")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "true:false");
    a.send(TMessage::text("echo:turned")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "turned");
    assert_eq!(server.publish("g", "to g"), 1);
    assert_eq!(next_text(&mut b).await, "to g");
    a.send(TMessage::text("echo:last")).await.unwrap();
    assert_eq!(
        next_text(&mut a).await,
        "last",
        "unsubscribed, yet delivered"
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_lists_every_topic_and_closing_leaves_them_all() {
    let server = start(WsConfig::default(), &Counters::default());
    let mut a = connect(&server, "/sub/t").await;
    a.send(TMessage::text("subs")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "extra,t");
    assert_eq!(server.subscriber_count("extra"), 1);
    a.close(None).await.unwrap();
    drop(a);
    until("the closed connection left its topics", || {
        server.subscriber_count("t") == 0 && server.subscriber_count("extra") == 0
    })
    .await;
    assert_eq!(server.publish("t", "nobody"), 0);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_publish_reaches_every_subscriber_but_the_sender() {
    let server = start(WsConfig::default(), &Counters::default());
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(&server, "/sub/room").await);
    }
    until("four subscribers", || server.subscriber_count("room") == 4).await;
    clients[0].send(TMessage::text("pub:hello")).await.unwrap();
    // The sender's own output: the publish (skipped for it) came before this answer.
    assert_eq!(next_text(&mut clients[0]).await, "published:4");
    for ws in &mut clients[1..] {
        assert_eq!(next_text(ws).await, "hello");
    }
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_to_self_reaches_the_sender_too() {
    let ws = WsConfig {
        publish_to_self: true,
        ..Default::default()
    };
    let server = start(ws, &Counters::default());
    let mut a = connect(&server, "/sub/room").await;
    let mut b = connect(&server, "/sub/room").await;
    until("two subscribers", || server.subscriber_count("room") == 2).await;
    a.send(TMessage::text("pub:hi")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "hi");
    assert_eq!(next_text(&mut a).await, "published:2");
    assert_eq!(next_text(&mut b).await, "hi");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_from_a_std_thread_and_from_an_http_handler() {
    let server = start(WsConfig::default(), &Counters::default());
    let mut subs = Vec::new();
    for _ in 0..4 {
        subs.push(connect(&server, "/sub/news").await);
    }
    until("four subscribers", || server.subscriber_count("news") == 4).await;

    let publisher = server.publisher();
    let n = std::thread::spawn(move || publisher.publish("news", "from a thread"))
        .join()
        .unwrap();
    assert_eq!(n, 4);
    for ws in &mut subs {
        assert_eq!(next_text(ws).await, "from a thread");
    }

    assert_eq!(post(&server, "/publish/news", "from HTTP").await, "4");
    for ws in &mut subs {
        assert_eq!(next_text(ws).await, "from HTTP");
    }
    assert_eq!(post(&server, "/publish/nobody", "x").await, "0");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_published_frames_and_own_sends_arrive_in_write_order() {
    let server = start(WsConfig::default(), &Counters::default());
    let mut me = connect(&server, "/sub/mixed").await;
    let mut other = connect(&server, "/sub/mixed").await;
    until("two subscribers", || server.subscriber_count("mixed") == 2).await;
    me.send(TMessage::text("mix:20")).await.unwrap();
    for i in 0..20 {
        let shared = next_text(&mut me).await;
        assert!(
            shared.starts_with(&format!("P{i}:")),
            "{i}: {}",
            &shared[..8]
        );
        assert_eq!(shared.len(), format!("P{i}:").len() + (4 << 10));
        assert_eq!(next_text(&mut me).await, format!("own{i}"));
        let seen = next_text(&mut other).await;
        assert_eq!(seen, shared, "every subscriber gets the same bytes");
    }
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_limit_in_one_turn_reaches_a_reading_subscriber() {
    // Four 48 KiB publishes from one HTTP handler land in one core turn: 192 KiB for a
    // subscriber whose limit is 64 KiB. A subscriber that reads must get all four: the core
    // writes to the socket when a subscriber's output passes the limit, not only at the turn's end.
    let counters = Counters::default();
    let server = start(WsConfig::default(), &counters);
    let mut subs = Vec::new();
    for _ in 0..4 {
        subs.push(connect(&server, "/sub/burst").await);
    }
    until("four subscribers", || server.subscriber_count("burst") == 4).await;
    let publisher = server.publisher();
    let body = "x".repeat(48 << 10);
    std::thread::spawn(move || {
        for i in 0..4 {
            publisher.publish("burst", format!("{i}{body}"));
        }
    })
    .join()
    .unwrap();
    for ws in &mut subs {
        for i in 0..4 {
            let m = next_text(ws).await;
            assert_eq!(m.len(), 1 + (48 << 10));
            assert!(m.starts_with(&i.to_string()), "message {i} missing");
        }
    }
    server.shutdown();
}

/// A raw WebSocket client with a tiny receive buffer that never reads until told to.
async fn stalled_subscriber(server: &Server, path: &str) -> Transport {
    let mut tcp = match server.memory_net() {
        // A pipe holds what a socket buffer would (256 KiB) and then stops taking more.
        Some(_) => transport(server).await,
        None => {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            Transport::Tcp(socket.connect(server.local_addr()).await.unwrap())
        }
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    // Read the 101 head byte by byte, so no frame after it is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        timeout(T, tcp.read_exact(&mut b)).await.unwrap().unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

/// Reads server frames until none arrives for `quiet`; returns the text payloads.
async fn read_frames_until_quiet(tcp: &mut Transport, quiet: Duration) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let mut frames = Vec::new();
    loop {
        match timeout(quiet, tcp.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) => return frames,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => panic!("read: {e}"),
        }
        loop {
            if buf.len() < 2 {
                break;
            }
            let (len, hdr) = match buf[1] & 0x7F {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => (
                    u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if buf.len() < hdr + len {
                break;
            }
            if buf[0] & 0x0F == 1 {
                frames.push(buf[hdr..hdr + len].to_vec());
            }
            buf.drain(..hdr + len);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_does_not_delay_the_others_and_misses_messages() {
    const MESSAGES: usize = 1200;
    const SIZE: usize = 16 << 10;
    let counters = Counters::default();
    let server = start(WsConfig::default(), &counters);
    let mut stalled = stalled_subscriber(&server, "/sub/feed").await;
    let mut readers = Vec::new();
    let received = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        readers.push(connect(&server, "/sub/feed").await);
    }
    until("four subscribers", || server.subscriber_count("feed") == 4).await;

    let readers: Vec<_> = readers
        .into_iter()
        .map(|mut ws| {
            let received = received.clone();
            tokio::spawn(async move {
                for i in 0..MESSAGES {
                    let m = next_text(&mut ws).await;
                    assert_eq!(m.split(':').next().unwrap(), i.to_string(), "order");
                    received.fetch_add(1, Ordering::SeqCst);
                }
                ws
            })
        })
        .collect();

    // 19 MiB in total, two messages at a time, each pair once the readers have the last:
    // far more than the stalled client's socket buffers and its 64 KiB limit can hold.
    let started = Instant::now();
    let pad = "y".repeat(SIZE);
    for i in (0..MESSAGES).step_by(2) {
        server.publish("feed", format!("{i}:{pad}"));
        server.publish("feed", format!("{}:{pad}", i + 1));
        let want = 3 * (i + 2);
        until("the reading subscribers", || {
            received.load(Ordering::SeqCst) >= want
        })
        .await;
    }
    let mut readers_back = Vec::new();
    for r in readers {
        readers_back.push(r.await.expect("a reading subscriber missed a message"));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(20),
        "the readers were held up: {elapsed:?}"
    );

    // The stalled subscriber now reads what it was given: fewer messages, still in order.
    let frames = read_frames_until_quiet(&mut stalled, Duration::from_millis(500)).await;
    let numbers: Vec<usize> = frames
        .iter()
        .filter_map(|f| std::str::from_utf8(f).ok()?.split(':').next()?.parse().ok())
        .collect();
    assert!(
        numbers.len() < MESSAGES,
        "the stalled subscriber got all {MESSAGES} messages: nothing was dropped"
    );
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "out of order for the stalled subscriber"
    );
    // Having reported backpressure (its publishes were dropped) and flushed, it drained.
    assert!(
        frames.iter().any(|f| f == b"drained"),
        "drain did not fire for the stalled subscriber"
    );
    assert!(counters.drains.load(Ordering::SeqCst) >= 1);
    // Every message it did not get is counted as missed (the readers missed none).
    assert_eq!(
        numbers.len() as u64 + server.metrics().publish_missed,
        MESSAGES as u64,
        "a missed delivery went uncounted"
    );
    server.shutdown();
}

/// A publish from a plain thread that finds the subscribers' core's queue full is lost for
/// that core's subscribers, and counted: what the subscriber receives and what the server
/// counts as refused add up to what was published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_a_full_core_refuses_are_counted() {
    const PUBLISHES: u64 = 6000;
    let blocked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut app = App::new(Config {
        workers: 1,
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let flag = blocked.clone();
    app.ws(
        "/busy",
        WsCallbacks::new()
            .on_open(|ctx| {
                ctx.ws.subscribe("t");
                Ok(())
            })
            .on_message(move |_, _| {
                // Holds the core while the test publishes: nothing drains its queue.
                flag.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            }),
    );
    let server = app.listen("127.0.0.1:0").unwrap();
    let mut ws = connect(&server, "/busy").await;
    until("the subscriber", || server.subscriber_count("t") == 1).await;
    ws.send(TMessage::text("block")).await.unwrap();
    until("the core to block", || blocked.load(Ordering::SeqCst)).await;
    let publisher = server.publisher();
    std::thread::spawn(move || {
        for i in 0..PUBLISHES {
            publisher.publish("t", format!("{i}"));
        }
    })
    .join()
    .unwrap();
    let mut received = 0u64;
    while let Ok(Some(m)) = timeout(Duration::from_millis(500), ws.next()).await {
        if let TMessage::Text(_) = m.expect("websocket error") {
            received += 1;
        }
    }
    let refused = server.metrics().commands_refused;
    assert!(
        refused > 0,
        "the core's queue never filled: {received} received"
    );
    assert_eq!(
        received + refused,
        PUBLISHES,
        "a lost publish went uncounted"
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_fires_after_backpressure_is_flushed() {
    let counters = Counters::default();
    let server = start(WsConfig::default(), &counters);
    let mut ws = connect(&server, "/flood").await;
    ws.send(TMessage::text("flood")).await.unwrap();
    // Read everything: the binaries the server queued, then `drained` once they are flushed.
    let mut binaries = 0usize;
    let last = loop {
        match next(&mut ws).await {
            TMessage::Binary(b) => {
                assert_eq!(b.len(), 64 << 10);
                binaries += 1;
            }
            TMessage::Text(t) => break t.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(last, "drained");
    assert!(binaries > 1);
    assert_eq!(
        *counters.stops.lock().unwrap(),
        vec!["Backpressure:Dropped"]
    );
    assert_eq!(counters.drains.load(Ordering::SeqCst), 1);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_on_backpressure_limit_sheds_the_connection() {
    let counters = Counters::default();
    let ws_cfg = WsConfig {
        close_on_backpressure_limit: true,
        ..Default::default()
    };
    let server = start(ws_cfg, &counters);
    let mut tcp = stalled_subscriber(&server, "/flood").await;
    // A masked text frame "flood".
    tcp.write_all(&engine_support::frame(1, b"flood", Some([1, 2, 3, 4])))
        .await
        .unwrap();
    let start = Instant::now();
    while counters.closes.lock().unwrap().is_empty() {
        assert!(start.elapsed() < T, "the connection was not shed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // No close frame can reach a client that does not read: TCP is closed and the server's
    // close handler sees 1006, as with uWebSockets.
    assert_eq!(*counters.closes.lock().unwrap(), vec![1006]);
    assert_eq!(counters.dropped_sends.load(Ordering::SeqCst), 1);
    server.shutdown();
}

// ---------------------------------------------------------------- the upgrade hook

/// What `/auth/:room`'s hook keeps for each connection.
struct Session {
    user: String,
    room: String,
    client: String,
    loopback: bool,
}

/// `WS /auth/:room?token=user-<name>`: the hook refuses a missing or wrong token with 401,
/// picks subprotocol `v2` when offered, and panics on `?token=panic`; every handler sends back
/// what the hook stored.
fn start_hooked() -> Server {
    let mut app = App::new(Config {
        workers: 2,
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    app.ws_with(
        "/auth/:room",
        |req| {
            let token = req.query().get("token").unwrap_or_default().into_owned();
            if token == "panic" {
                panic!("hook panics on purpose");
            }
            let Some(user) = token.strip_prefix("user-") else {
                return Err(imphnen::Response::text("Unauthorized").with_status(401));
            };
            assert!(!req.select_protocol("never-offered"));
            req.select_protocol("v2");
            Ok(Session {
                user: user.to_owned(),
                room: req.param("room").unwrap_or_default().into_owned(),
                client: req.header("x-client").unwrap_or("-").to_owned(),
                loopback: req.remote_addr().ip().is_loopback(),
            })
        },
        WsCallbacks::with_data()
            .on_open(describe)
            .on_message(|ctx, _| describe(ctx)),
    );
    app.listen("127.0.0.1:0").expect("listen")
}

fn describe(ctx: &imphnen::WsCtx<Session>) -> imphnen::HandlerResult {
    let d = &ctx.data;
    ctx.ws.send(format!(
        "{} in {} via {} loopback={} protocol={}",
        d.user,
        d.room,
        d.client,
        d.loopback,
        ctx.protocol().unwrap_or("-")
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_hook_rejects_with_401_and_the_client_sees_401() {
    let server = start_hooked();
    for path in ["/auth/lobby", "/auth/lobby?token=wrong"] {
        let url = url(&server, path);
        match timeout(
            T,
            tungstenite_with(&server, url.into_client_request().unwrap()),
        )
        .await
        .unwrap()
        {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401);
                assert_eq!(resp.body().as_deref(), Some(&b"Unauthorized"[..]));
            }
            other => panic!("expected a 401, got {other:?}"),
        }
    }
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_hook_data_reaches_every_handler() {
    let server = start_hooked();
    let url = url(&server, "/auth/lobby?token=user-alice");
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("x-client", "integration-test".parse().unwrap());
    let (mut ws, _) = timeout(T, tungstenite_with(&server, req))
        .await
        .unwrap()
        .unwrap();
    let expected = "alice in lobby via integration-test loopback=true protocol=-";
    assert_eq!(next_text(&mut ws).await, expected);
    ws.send(TMessage::text("again")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, expected);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_hook_selects_an_offered_subprotocol() {
    let server = start_hooked();
    let url = url(&server, "/auth/r1?token=user-bob");
    let mut req = url.into_client_request().unwrap();
    // No space after the comma: tungstenite 0.24 compares the answer with the untrimmed
    // pieces of its own header (the server trims, as RFC 9110's list syntax allows).
    req.headers_mut()
        .insert("sec-websocket-protocol", "v1,v2".parse().unwrap());
    let (mut ws, resp) = timeout(T, tungstenite_with(&server, req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some("v2")
    );
    assert_eq!(
        next_text(&mut ws).await,
        "bob in r1 via - loopback=true protocol=v2"
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_upgrade_hook_refuses_with_500_and_the_server_stays_up() {
    let server = start_hooked();
    let first = url(&server, "/auth/x?token=panic");
    match timeout(
        T,
        tungstenite_with(&server, first.into_client_request().unwrap()),
    )
    .await
    .unwrap()
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 500),
        other => panic!("expected a 500, got {other:?}"),
    }
    let second = url(&server, "/auth/x?token=user-carol");
    let (mut ws, _) = timeout(
        T,
        tungstenite_with(&server, second.into_client_request().unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(next_text(&mut ws).await.starts_with("carol in x"));
    server.shutdown();
}
