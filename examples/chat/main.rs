//! Real-time chat: the guide's chat example. Open http://localhost:3000 in two browser tabs, pick
//! a name in each and type in one; the message, with its sender and time, appears in both, and
//! each tab shows how many people are online. The page is `public/` beside this file.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core), `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off), `TLS_CERT` + `TLS_KEY` (serve https and wss; needs the `tls`
//! feature), `REDIS_URL` and `RUST_LOG` (default `info`) come from the environment; SIGINT
//! (Ctrl-C) or SIGTERM shuts down gracefully.

#[path = "../support/mod.rs"]
mod support;

mod app;

fn main() -> std::io::Result<()> {
    support::init_tracing();
    let app = app::app(imphnen::Config::from_env());
    let server = support::listen(&app, "0.0.0.0")?;
    let scheme = if support::tls_files().is_some() {
        "https"
    } else {
        "http"
    };
    println!("chat: {scheme}://localhost:{}", server.local_addr().port());
    server.wait_for_shutdown_signal()
}
