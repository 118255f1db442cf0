//! A tour of the guide: every WebSocket snippet besides the chat example, each at its own path
//! (see `app.rs` for the table), on one server. Try it with any WebSocket client, e.g.
//! `websocat ws://localhost:3000/room/lobby` or `ws://localhost:3000/connect?token=abc123&username=alice`.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core) and `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off) come from the environment;
//! Ctrl-C shuts down gracefully.

mod app;

fn main() -> std::io::Result<()> {
    let app = app::app(imphnen::Config::from_env());
    let server = app.listen(env_or::<u16>("PORT", 3000))?;
    println!(
        "seed_tour: ws://localhost:{}/quickstart, /echo, /room/:roomId, ...",
        server.local_addr().port()
    );
    let handle = server.handle();
    ctrlc::set_handler(move || handle.shutdown()).expect("install the Ctrl-C handler");
    server.wait();
    Ok(())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
