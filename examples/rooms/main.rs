//! Chat rooms on pub/sub topics: the guide's `/room/:roomId` example, where each room is a
//! topic. Connect with `ws://localhost:3000/room/rust?name=alice` (e.g. `websocat`); every
//! message goes to everyone else in the room. `GET /rooms/rust` tells how many are in it;
//! `POST /rooms/rust/announce` (body: text) speaks to the whole room.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core) and `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off) come from the environment;
//! Ctrl-C shuts down gracefully.

mod app;

fn main() -> std::io::Result<()> {
    let app = app::app(imphnen::Config::from_env());
    let server = app.listen(env_or::<u16>("PORT", 3000))?;
    println!(
        "rooms: ws://localhost:{}/room/<roomId>?name=<you>",
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
