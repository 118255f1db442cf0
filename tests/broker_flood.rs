//! A broker flood does not stall the cores: another client of the broker publishes a million
//! messages to one subscriber of a node while an unrelated connection of the same node is
//! echoed every 2 ms; its round trips are the figure. A binary of its own, so that cargo runs
//! no other test beside it.

mod broker_support;

use std::time::{Duration, Instant};

use broker_support::*;
use futures_util::StreamExt;
use imphnen::Broker;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_flood_does_not_stall_the_cores() {
    let redis = Redis::start();
    let events = Events::default();
    let server = node(Broker::redis(redis.url()), &events);
    let mut flooded = connect(&server, "/sub/flood").await;
    let mut echo = connect(&server, "/sub/quiet").await;
    redis.await_numsub("flood", 1, false).await;
    // Another client of the broker publishes a million messages (foreign: no envelope).
    const FLOOD: u64 = 1_000_000;
    let client = redis.client();
    let flood = std::thread::spawn(move || {
        let mut con = client.get_connection().unwrap();
        for _ in 0..FLOOD / 10_000 {
            let mut pipe = redis::pipe();
            for i in 0..10_000 {
                pipe.cmd("PUBLISH").arg("flood").arg(i).ignore();
            }
            pipe.query::<()>(&mut con).unwrap();
        }
    });
    // The flooded subscriber reads all it gets, in a task of its own.
    let reader = tokio::spawn(async move {
        let mut got = 0u64;
        while let Ok(Some(Ok(_))) = timeout(Duration::from_secs(2), flooded.next()).await {
            got += 1;
        }
        got
    });
    let mut rtts = Vec::new();
    while !flood.is_finished() {
        let sent = Instant::now();
        nothing_else(&mut echo, "ping").await;
        rtts.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    flood.join().unwrap();
    let got = reader.await.unwrap();
    rtts.sort();
    let p99 = rtts[rtts.len() * 99 / 100];
    let stats = server.broker_stats().unwrap();
    eprintln!(
        "flood: {} echo samples, p99 {p99:?}; {stats:?}; the subscriber got {got}",
        rtts.len()
    );
    assert!(rtts.len() >= 50, "the flood ended before it was measured");
    // The target is 5 ms for the optimised build (3.8 ms measured with `cargo test --release`
    // on 2 cores shared with redis-server, the flooding client and this test's clients); an
    // unoptimised build spends about twice the CPU per delivered message.
    let limit = Duration::from_millis(if cfg!(debug_assertions) { 10 } else { 5 });
    assert!(
        p99 < limit,
        "echo p99 {p99:?} during the flood (limit {limit:?})"
    );
    // Everything the broker sent was either delivered or counted.
    assert_eq!(stats.foreign, stats.received);
    assert!(stats.received <= FLOOD);
    assert!(got <= stats.received - stats.undelivered);
    server.shutdown();
}
