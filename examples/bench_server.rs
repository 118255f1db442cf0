//! The imphnen side of `benches/compare.sh`, mirroring `benches/anchors/bun_server.ts`:
//! `GET /` answers `Hello, World!`; `/echo` sends every message back with its own type;
//! `/broadcast` subscribes every connection to one topic when it opens and publishes every
//! message to all subscribers, the sender included (Bun's `server.publish`, here
//! `ctx.publisher()`; `ctx.ws.publish` would skip the sender). Limits are the defaults, as Bun's
//! anchor sets them: 16 MiB max payload, 64 KiB backpressure, 120 s idle timeout.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core) and `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off) come from the environment.

use imphnen::{App, Config, Ctx, Response, WsHandler};

/// The one topic of `/broadcast` (the anchor's name for it).
const TOPIC: &str = "bench";

fn main() -> std::io::Result<()> {
    let config = Config::from_env();
    let mut app = App::new(config);
    app.get("/", |_ctx: Ctx| {
        Response::text("Hello, World!").with_header("content-type", "text/plain")
    });
    app.ws(
        "/echo",
        WsHandler::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    app.ws(
        "/broadcast",
        WsHandler::new()
            .on_open(|ctx| {
                ctx.ws.subscribe(TOPIC);
                Ok(())
            })
            .on_message(|ctx, msg| {
                ctx.publisher().publish(TOPIC, msg);
                Ok(())
            }),
    );
    let port: u16 = env_or("PORT", 3000);
    let server = app.listen(format!("127.0.0.1:{port}"))?;
    println!("bench_server listening on {}", server.local_addr());
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
