//! Pub/sub across nodes through a real `redis-server` (Debian's package): servers in this process
//! with distinct node ids, and two processes of the `rooms` example, all on one broker that each
//! test starts on a free loopback port and stops by PID. Clients are tokio-tungstenite; the
//! broker is inspected with the `redis` crate's own client. The flood test is a binary of its
//! own (`broker_flood.rs`): it measures latency, so nothing else may run beside it.

mod broker_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_support::*;
use futures_util::SinkExt;
use imphnen::{App, Broker, BrokerEvent, Config, Server};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_reaches_every_node_exactly_once() {
    let redis = Redis::start();
    let events = Events::default();
    let nodes: Vec<Server> = (0..3)
        .map(|_| node(Broker::redis(redis.url()), &events))
        .collect();
    let mut a1 = connect(&nodes[0], "/sub/t").await;
    let mut a2 = connect(&nodes[0], "/sub/t").await;
    let mut b = connect(&nodes[1], "/sub/t").await;
    let mut c = connect(&nodes[2], "/sub/t").await;
    redis.await_numsub("t", 3, false).await;

    a1.send(Message::text("pub:hello")).await.unwrap();
    for ws in [&mut a2, &mut b, &mut c] {
        assert_eq!(next(ws).await, "hello");
    }
    // Once each: the echo of A's own message from the broker was dropped, not delivered again.
    for (ws, probe) in [
        (&mut a1, "a1"),
        (&mut a2, "a2"),
        (&mut b, "b"),
        (&mut c, "c"),
    ] {
        nothing_else(ws, probe).await;
    }
    let a = nodes[0].broker_stats().unwrap();
    assert_eq!(a.published, 1);
    assert_eq!(a.echoes, 1);
    let b_stats = nodes[1].broker_stats().unwrap();
    assert_eq!((b_stats.received, b_stats.gaps), (1, 0));
    // The same counters in the Prometheus exposition that a `/metrics` route serves.
    let exposition = nodes[0].metrics().to_prometheus();
    for line in [
        "imphnen_broker_connected 1",
        "imphnen_broker_published_total 1",
        "imphnen_broker_echoes_total 1",
    ] {
        assert!(
            exposition.lines().any(|l| l == line),
            "no {line:?} in\n{exposition}"
        );
    }
    // A server-level publish on B reaches A's two subscribers too.
    nodes[1].publish("t", "from b");
    for ws in [&mut a1, &mut a2, &mut b, &mut c] {
        assert_eq!(next(ws).await, "from b");
    }
    for n in &nodes {
        n.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_of_one_publisher_arrive_in_order_on_every_node() {
    let redis = Redis::start();
    let events = Events::default();
    let nodes: Vec<Server> = (0..3)
        .map(|_| node(Broker::redis(redis.url()), &events))
        .collect();
    let mut b = connect(&nodes[1], "/sub/seq").await;
    let mut c = connect(&nodes[2], "/sub/seq").await;
    redis.await_numsub("seq", 2, false).await;
    let publisher = nodes[0].publisher();
    std::thread::spawn(move || {
        for i in 0..10_000 {
            publisher.publish("seq", format!("{i}"));
            if i % 1000 == 999 {
                // Paced so the bounded queue never fills: this test is about order.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    for ws in [&mut b, &mut c] {
        for i in 0..10_000 {
            assert_eq!(next(ws).await, i.to_string());
        }
    }
    let a = nodes[0].broker_stats().unwrap();
    assert_eq!((a.published, a.dropped), (10_000, 0));
    for n in &nodes[1..] {
        let s = n.broker_stats().unwrap();
        assert_eq!((s.received, s.gaps, s.undelivered), (10_000, 0, 0));
    }
    for n in &nodes {
        n.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_over_two_nodes_get_a_third_nodes_publishes() {
    let redis = Redis::start();
    let events = Events::default();
    // Sharded pub/sub (SSUBSCRIBE/SPUBLISH) here; the other tests use the classic commands.
    let nodes: Vec<Server> = (0..3)
        .map(|_| node(Broker::redis(redis.url()).sharded(true), &events))
        .collect();
    let mut clients = Vec::new();
    for i in 0..1000 {
        clients.push(connect(&nodes[1 + i % 2], "/sub/many").await);
    }
    redis.await_numsub("many", 2, true).await;
    for i in 0..5 {
        nodes[0].publish("many", format!("m{i}"));
    }
    for ws in &mut clients {
        for i in 0..5 {
            assert_eq!(next(ws).await, format!("m{i}"));
        }
    }
    for n in &nodes[1..] {
        assert_eq!(n.broker_stats().unwrap().received, 5);
    }
    for n in &nodes {
        n.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_follows_local_subscribers_and_forgets_a_topic_with_none() {
    let redis = Redis::start();
    let events = Events::default();
    let a = node(Broker::redis(redis.url()), &events);
    let b = node(Broker::redis(redis.url()), &events);
    let mut a1 = connect(&a, "/sub/room").await;
    let mut a2 = connect(&a, "/sub/room").await;
    let mut b1 = connect(&b, "/sub/room").await;
    // One subscription per node, however many local subscribers.
    redis.await_numsub("room", 2, false).await;
    a1.send(Message::text("leave")).await.unwrap();
    assert_eq!(next(&mut a1).await, "left");
    nothing_else(&mut b1, "still two").await;
    assert_eq!(redis.numsub("room", false), 2, "a2 still listens on A");
    a2.close(None).await.unwrap();
    redis.await_numsub("room", 1, false).await;
    b1.send(Message::text("leave")).await.unwrap();
    assert_eq!(next(&mut b1).await, "left");
    redis.await_numsub("room", 0, false).await;
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_broker_restart_the_nodes_resubscribe_by_themselves() {
    let mut redis = Redis::start();
    let (events_a, events_b) = (Events::default(), Events::default());
    let a = node(Broker::redis(redis.url()), &events_a);
    let b = node(Broker::redis(redis.url()), &events_b);
    let mut a1 = connect(&a, "/sub/news").await;
    let mut a2 = connect(&a, "/sub/news").await;
    let mut b1 = connect(&b, "/sub/news").await;
    redis.await_numsub("news", 2, false).await;

    redis.kill();
    eventually("A did not notice the broker is gone", || {
        !a.broker_stats().unwrap().connected
    })
    .await;
    // Local publish and delivery go on; what could not reach the broker is counted.
    a1.send(Message::text("pub:during")).await.unwrap();
    assert_eq!(next(&mut a2).await, "during");
    // Counted by A's broker thread, which may learn of the outage only when this publish fails.
    eventually("the publish during the outage was not counted", || {
        a.broker_stats().unwrap().dropped > 0
    })
    .await;

    redis.restart();
    await_connected(&a);
    await_connected(&b);
    redis.await_numsub("news", 2, false).await;
    a1.send(Message::text("pub:after")).await.unwrap();
    assert_eq!(next(&mut a2).await, "after");
    assert_eq!(
        next(&mut b1).await,
        "after",
        "B missed nothing it could have got"
    );
    nothing_else(&mut b1, "no duplicate").await;
    for events in [&events_a, &events_b] {
        let events = events.lock().unwrap();
        assert!(
            matches!(events.last(), Some(BrokerEvent::Connected { reconnect: true, outage, .. }) if !outage.is_zero()),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, BrokerEvent::Disconnected { .. })),
            "{events:?}"
        );
    }
    let stats = a.broker_stats().unwrap();
    assert_eq!(stats.reconnects, 1);
    a.shutdown();
    b.shutdown();
}

/// A node that published nothing while the broker was down has a publishing connection the
/// old broker closed: once the link says it is back, its next publish must reach the others, not
/// be written into that dead connection and counted as dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_publish_after_a_broker_restart_reaches_the_other_nodes() {
    let mut redis = Redis::start();
    let (events_a, events_b) = (Events::default(), Events::default());
    let a = node(Broker::redis(redis.url()), &events_a);
    let b = node(Broker::redis(redis.url()), &events_b);
    let mut a1 = connect(&a, "/sub/news").await;
    let mut b1 = connect(&b, "/sub/news").await;
    redis.await_numsub("news", 2, false).await;

    redis.kill();
    eventually("the nodes did not notice the broker is gone", || {
        !a.broker_stats().unwrap().connected && !b.broker_stats().unwrap().connected
    })
    .await;
    redis.restart();
    await_connected(&a);
    await_connected(&b);
    redis.await_numsub("news", 2, false).await;

    a1.send(Message::text("pub:after")).await.unwrap();
    assert_eq!(
        next(&mut b1).await,
        "after",
        "the first publish after the restart"
    );
    assert_eq!(a.broker_stats().unwrap().dropped, 0);
    nothing_else(&mut a1, "A's own").await;
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_broker_queue_drops_for_the_other_nodes_only_and_never_blocks_a_core() {
    const CAPACITY: usize = 4;
    const BURST: usize = 40;
    let redis = Redis::start();
    let events = Events::default();
    let a = node(Broker::redis(redis.url()).queue_capacity(CAPACITY), &events);
    let b = node(Broker::redis(redis.url()), &events);
    let mut sender = connect(&a, "/sub/burst").await;
    let mut locals = [
        connect(&a, "/sub/burst").await,
        connect(&a, "/sub/burst").await,
    ];
    let mut echo = connect(&a, "/sub/quiet").await;
    let mut remote = connect(&b, "/sub/burst").await;
    redis.await_numsub("burst", 2, false).await;
    let a_publisher = format!("imphnen-{:016x}-pub", a.broker_stats().unwrap().node_id);

    // Redis holds every connection's writes (`PUBLISH` among them) until it is unpaused, or
    // for 4 s, less than the link's 5 s reply timeout. A's writing thread takes the first
    // publish from the queue, sends it, and waits for the reply: the queue is empty, and
    // stays undrained while the pause lasts.
    redis.command(&["CLIENT", "PAUSE", "4000", "WRITE"]);
    sender.send(Message::text("pub:first")).await.unwrap();
    eventually("A's publisher is not held by the pause", || {
        redis.client_field(&a_publisher, "flags").as_deref() == Some("b")
    })
    .await;

    // A burst from a WebSocket client while the link is stalled: the first CAPACITY wait in
    // the queue, the rest are dropped for the other nodes and counted. Every local subscriber
    // gets every message, and an unrelated connection on the same node is answered, while
    // the broker still holds the first publish.
    for i in 0..BURST {
        sender
            .send(Message::text(format!("pub:m{i}")))
            .await
            .unwrap();
    }
    for ws in &mut locals {
        assert_eq!(next(ws).await, "first");
        for i in 0..BURST {
            assert_eq!(next(ws).await, format!("m{i}"));
        }
    }
    let sent = Instant::now();
    nothing_else(&mut echo, "still here").await;
    let rtt = sent.elapsed();
    // A core that waited for the broker would answer only after the pause: seconds.
    assert!(rtt < Duration::from_secs(1), "echo took {rtt:?}");
    assert_eq!(
        redis.client_field(&a_publisher, "flags").as_deref(),
        Some("b"),
        "the pause ended before the burst was delivered locally: did a core wait for the broker?"
    );
    let stalled = a.broker_stats().unwrap();
    assert_eq!(
        (stalled.published, stalled.dropped),
        (0, (BURST - CAPACITY) as u64),
        "while the broker stalls, every publish beyond the queue's {CAPACITY} is dropped and counted"
    );

    redis.command(&["CLIENT", "UNPAUSE"]);
    // B gets what fitted, in order, and nothing of what did not.
    assert_eq!(next(&mut remote).await, "first");
    for i in 0..CAPACITY {
        assert_eq!(next(&mut remote).await, format!("m{i}"));
    }
    nothing_else(&mut remote, "no more").await;
    let after = a.broker_stats().unwrap();
    assert_eq!(
        (after.published, after.dropped, after.reconnects),
        (1 + CAPACITY as u64, (BURST - CAPACITY) as u64, 0)
    );
    assert!(after.connected);
    for ws in &mut locals {
        nothing_else(ws, "no more").await;
    }
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_starts_without_its_broker_and_joins_when_it_appears() {
    let port = free_port();
    let events = Events::default();
    let recorded = events.clone();
    let mut app = App::new(Config {
        workers: 1,
        broker: Some(
            Broker::redis(format!("redis://127.0.0.1:{port}"))
                .on_event(move |e| recorded.lock().unwrap().push(e.clone())),
        ),
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    app.get("/", |_| "up");
    let server = app
        .listen("127.0.0.1:0")
        .expect("starts with the broker unreachable");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!server.broker_stats().unwrap().connected);
    server.publish("t", "nobody hears this");
    assert_eq!(server.broker_stats().unwrap().dropped, 1);
    let mut redis = Redis { port, child: None };
    redis.restart();
    await_connected(&server);
    let events = events.lock().unwrap();
    assert!(
        matches!(
            events.last(),
            Some(BrokerEvent::Connected {
                reconnect: false,
                dropped: 1,
                ..
            })
        ),
        "{events:?}"
    );
    drop(events);
    server.shutdown();
}

/// A broker that takes connections but never answers (a stopped process: the kernel still
/// completes the TCP handshake) holds the link's threads in the Redis handshake. Shutting the
/// server down must not wait for that handshake's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_a_broker_that_never_answers() {
    let redis = Redis::start();
    let pid = redis.child.as_ref().unwrap().id() as libc::pid_t;
    // SAFETY: signals our own child, reaped only by `Redis::kill`.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let mut app = App::new(Config {
        workers: 1,
        broker: Some(Broker::redis(redis.url())),
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    app.get("/", |_| "up");
    let server = app.listen("127.0.0.1:0").unwrap();
    // Both connections are open by now, each waiting for its first reply.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!server.broker_stats().unwrap().connected);
    let started = Instant::now();
    server.shutdown();
    let took = started.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
}

/// The `rooms` example as cargo test builds it, next to this test's own binary.
fn rooms_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join("examples").join("rooms");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test`",
        path.display()
    );
    path
}

/// A `rooms` process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_example_spans_two_processes_with_redis_url() {
    let redis = Redis::start();
    let ports = [free_port(), free_port()];
    let _processes: Vec<Process> = ports
        .iter()
        .map(|port| {
            Process(
                Command::new(rooms_binary())
                    .env("PORT", port.to_string())
                    .env("WORKERS", "1")
                    .env("REDIS_URL", redis.url())
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("start examples/rooms"),
            )
        })
        .collect();
    let join = |port: u16, name: &'static str| async move {
        let url = format!("ws://127.0.0.1:{port}/room/rust?name={name}");
        let deadline = Instant::now() + T;
        loop {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((ws, _)) => return ws,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("rooms on {port}: {e}"),
            }
        }
    };
    let mut alice = join(ports[0], "alice").await;
    assert!(
        next(&mut alice)
            .await
            .starts_with("Joined room: rust as alice")
    );
    // The room is a topic of the same name on the broker.
    redis.await_numsub("room:rust", 1, false).await;
    redis.await_publishers(2).await;
    let mut bob = join(ports[1], "bob").await;
    assert!(next(&mut bob).await.starts_with("Joined room: rust as bob"));
    redis.await_numsub("room:rust", 2, false).await;
    // Bob's arrival was published in the room on the other process too.
    assert_eq!(next(&mut alice).await, "bob joined");
    alice.send(Message::text("hi from one")).await.unwrap();
    // Alice's own arrival was published before Bob was in the room, but it may still have been
    // on its way to the broker when Bob's node subscribed (a loaded machine can hold the
    // publishing thread that long): nothing orders one node's publish against another node's
    // subscribe, so Bob may or may not see it, and only before her message.
    let mut first = next(&mut bob).await;
    if first == "alice joined" {
        first = next(&mut bob).await;
    }
    assert_eq!(first, "alice: hi from one");
    bob.send(Message::text("hello from two")).await.unwrap();
    assert_eq!(next(&mut alice).await, "bob: hello from two");
}
