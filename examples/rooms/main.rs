//! Chat rooms on pub/sub topics: the guide's `/room/:roomId` example, where each room is a
//! topic. Connect with `ws://localhost:3000/room/rust?name=alice` (e.g. `websocat`); every
//! message goes to everyone else in the room. `GET /rooms/rust` tells how many are in it;
//! `POST /rooms/rust/announce` (body: text) speaks to the whole room.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core), `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off), `REDIS_URL` and `RUST_LOG` (default `info`) come from the
//! environment; SIGINT (Ctrl-C) or SIGTERM shuts down gracefully. With `REDIS_URL` set, two
//! processes on two ports share their rooms: a message typed in a room on one appears in the
//! same room on the other (member counts stay each process's own).

#[path = "../support/mod.rs"]
mod support;

mod app;

fn main() -> std::io::Result<()> {
    support::init_tracing();
    let app = app::app(imphnen::Config::from_env());
    let server = support::listen(&app, "0.0.0.0")?;
    println!(
        "rooms: {}",
        support::urls(&server, false, "localhost", "/room/<roomId>?name=<you>")
    );
    server.wait_for_shutdown_signal()
}
