//! Chat rooms on pub/sub topics: the guide's `/room/:roomId` example, where each room is a
//! topic. Connect with `ws://localhost:3000/room/rust?name=alice` (e.g. `websocat`); every
//! message goes to everyone else in the room. `GET /rooms/rust` tells how many are in it;
//! `POST /rooms/rust/announce` (body: text) speaks to the whole room.
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
        "rooms: ws://localhost:{}/room/<roomId>?name=<you>",
        server.local_addr().port()
    );
    server.wait_for_shutdown_signal()
}
