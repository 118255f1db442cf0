//! Real-time chat: the guide's chat example. Open http://localhost:3000 in two browser tabs and
//! type in one; the message, with its time, appears in both, and each tab shows how many people
//! are online.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core) and `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off) come from the environment;
//! Ctrl-C shuts down gracefully.

mod app;

fn main() -> std::io::Result<()> {
    let app = app::app(imphnen::Config::from_env());
    let server = app.listen(env_or::<u16>("PORT", 3000))?;
    println!("chat: http://localhost:{}", server.local_addr().port());
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
