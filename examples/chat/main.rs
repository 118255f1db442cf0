//! Real-time chat: the guide's chat example. Open http://localhost:3000 in two browser tabs, pick
//! a name in each and type in one; the message, with its sender and time, appears in both, and
//! each tab shows how many people are online. The page is `public/` beside this file.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core), `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off), `TLS_CERT` + `TLS_KEY` (serve https and wss; needs the `tls`
//! feature), `TLS_PORT` (with those two: http and ws on `PORT`, https and wss on `TLS_PORT`, in
//! one server), `REDIS_URL` and `RUST_LOG` (default `info`) come from the environment; SIGINT
//! (Ctrl-C) or SIGTERM shuts down gracefully.

#[path = "../support/mod.rs"]
mod support;

mod app;

fn main() -> std::io::Result<()> {
    support::init_tracing();
    let app = app::app(imphnen::Config::from_env());
    let server = support::listen(&app, "0.0.0.0")?;
    println!("chat: {}", support::urls(&server, true, "localhost", ""));
    server.wait_for_shutdown_signal()
}
