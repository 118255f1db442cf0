//! What the broker link says in the log, through a real `redis-server` (Debian's package): a
//! binary of its own, since it installs the global `tracing` subscriber.

mod broker_support;
mod log_support;

use std::time::{Duration, Instant};

use broker_support::*;
use imphnen::{App, Broker, Config};
use log_support::Captured;

/// A link that cannot come up at all (here Redis refuses the URL's password) drops every
/// publish for the other nodes: the log must say so and why, not stay silent for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_refused_from_the_start_is_logged_with_the_reason() {
    let log = Captured::install("imphnen_engine=warn");
    let redis = Redis::start();
    redis.config_set("requirepass", "right");
    let mut app = App::new(Config {
        workers: 1,
        broker: Some(Broker::redis(format!(
            "redis://:wrong@127.0.0.1:{}",
            redis.port
        ))),
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    app.get("/", |_| "up");
    let server = app.listen("127.0.0.1:0").unwrap();
    let deadline = Instant::now() + T;
    while !log.text().contains("WRONGPASS") {
        assert!(
            Instant::now() < deadline,
            "nothing logged: {:?}",
            log.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!server.broker_stats().unwrap().connected);
    server.shutdown();

    // The URL's password is what the link authenticates with.
    let mut app = App::new(Config {
        workers: 1,
        broker: Some(Broker::redis(format!(
            "redis://:right@127.0.0.1:{}",
            redis.port
        ))),
        ..Default::default()
    });
    app.get("/", |_| "up");
    let server = app.listen("127.0.0.1:0").unwrap();
    await_connected(&server);
    server.shutdown();
}

/// A subscription the broker refuses (here an ACL that allows no channel but `allowed*`)
/// leaves the topic without its messages from other nodes: the log must say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_broker_refuses_is_logged() {
    let log = Captured::install("imphnen_engine=warn");
    let redis = Redis::start();
    redis.command(&[
        "ACL",
        "SETUSER",
        "limited",
        "on",
        ">pw",
        "~*",
        "+@all",
        "resetchannels",
        "&allowed*",
    ]);
    let events = Events::default();
    let server = node_on(
        1,
        Broker::redis(format!("redis://limited:pw@127.0.0.1:{}", redis.port)),
        &events,
    );
    let _ws = connect(&server, "/sub/forbidden").await;
    let deadline = Instant::now() + T;
    while !log.text().contains("refused a subscription") {
        assert!(
            Instant::now() < deadline,
            "nothing logged: {:?}",
            log.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(log.text().contains("no permissions"), "{:?}", log.text());
    // The link itself came up at its first try: nothing may say it could not.
    assert!(
        !log.text().contains("error=\"connection closed\""),
        "a link that came up was logged as failing: {:?}",
        log.text()
    );
    server.shutdown();
}
