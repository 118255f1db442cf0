//! A tour of the guide: every WebSocket snippet besides the chat example, each at its own path
//! (see `app.rs` for the table), on one server. Try it with any WebSocket client, e.g.
//! `websocat ws://localhost:3000/room/lobby` or `ws://localhost:3000/connect?token=abc123&username=alice`.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core), `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off) and `RUST_LOG` (default `info`) come from the environment;
//! SIGINT (Ctrl-C) or SIGTERM shuts down gracefully.

#[path = "../support/mod.rs"]
mod support;

mod app;

fn main() -> std::io::Result<()> {
    support::init_tracing();
    let app = app::app(imphnen::Config::from_env());
    let server = support::listen(&app, "0.0.0.0")?;
    println!(
        "seed_tour: {}, /echo, /room/:roomId, ...",
        support::urls(&server, false, "localhost", "/quickstart")
    );
    server.wait_for_shutdown_signal()
}
