//! Echo server: `/echo` answers every message with the same message (text stays text, binary
//! stays binary). The server the conformance suite and the load generator run against.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core), `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off) and `RUST_LOG` (default `info`) come from the environment;
//! SIGINT (Ctrl-C) or SIGTERM shuts down gracefully.

#[path = "support/mod.rs"]
mod support;

use imphnen::{App, Config, WsCallbacks};

fn main() -> std::io::Result<()> {
    support::init_tracing();
    let config = Config::from_env();
    let mut app = App::new(config);
    app.ws(
        "/echo",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    // 200 while serving, 503 once the graceful shutdown has started.
    app.health("/healthz");
    // The server's counters, for Prometheus.
    app.metrics("/metrics");
    // Autobahn|Testsuite connects to the root path.
    app.ws(
        "/",
        WsCallbacks::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    let server = support::listen(&app, "0.0.0.0")?;
    println!(
        "echo: {}",
        support::urls(&server, false, "127.0.0.1", "/echo")
    );
    server.wait_for_shutdown_signal()
}
