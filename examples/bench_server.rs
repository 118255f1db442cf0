//! The imphnen side of `benches/compare.sh`, mirroring `benches/anchors/bun_server.ts`:
//! `GET /` answers `Hello, World!`; `/echo` sends every message back with its own type;
//! `/broadcast` subscribes every connection to one topic when it opens and publishes every
//! message to all subscribers, the sender included (Bun's `server.publish`, here
//! `ctx.publisher()`; `ctx.ws.publish` would skip the sender). Limits are the defaults, as Bun's
//! anchor sets them: 16 MiB max payload, 64 KiB backpressure, 120 s idle timeout. `GET /metrics`
//! (which the anchor lacks) is for scripts reading counters after a run.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core), `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off), `REDIS_URL` (a broker shared with other nodes; default none) and
//! `RUST_LOG` (default `info`) come from the environment.

#[path = "support/mod.rs"]
mod support;

use imphnen::{App, Config, Ctx, Response, WsCallbacks};

/// The one topic of `/broadcast` (the anchor's name for it).
const TOPIC: &str = "bench";

fn main() -> std::io::Result<()> {
    support::init_tracing();
    let config = Config::from_env();
    let mut app = App::new(config);
    app.get("/", |_ctx: Ctx| {
        Response::text("Hello, World!").with_header("content-type", "text/plain")
    });
    // For scripts that read the counters after a run (benches/cross_node.sh: the broker's).
    app.metrics("/metrics");
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app.ws(
        "/broadcast",
        WsCallbacks::new()
            .on_open(|ctx| {
                ctx.ws.subscribe(TOPIC);
                Ok(())
            })
            .on_message(|ctx, msg| {
                ctx.publisher().publish(TOPIC, msg);
                Ok(())
            }),
    );
    let server = support::listen(&app, "127.0.0.1")?;
    println!("bench_server listening on {}", server.local_addr());
    server.wait_for_shutdown_signal()
}
