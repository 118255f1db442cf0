//! Echo server: `/echo` answers every message with the same message (text stays text, binary
//! stays binary). The server the conformance suite and the load generator run against.
//!
//! `PORT` (default 3000), `WORKERS` (default: every core) and `COMPRESSION` (`off`, `shared`,
//! `dedicated`; default off) come from the environment;
//! Ctrl-C shuts down gracefully.

use imphnen::{App, Config, WsHandler};

fn main() -> std::io::Result<()> {
    let config = Config::from_env();
    let mut app = App::new(config);
    app.ws(
        "/echo",
        WsHandler::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    // Autobahn|Testsuite connects to the root path.
    app.ws(
        "/",
        WsHandler::new().on_message(|ctx, msg| {
            ctx.ws.send(msg);
            Ok(())
        }),
    );
    let server =
        app.listen(("0.0.0.0:".to_owned() + &env_or::<u16>("PORT", 3000).to_string()).as_str())?;
    println!("echo: ws://127.0.0.1:{}/echo", server.local_addr().port());
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
