//! What every example shares: its settings from the environment (README's table) and its log
//! output. Not an example itself: each one includes it with `#[path]`.

/// `PORT`, default 3000. A value that is not a port number stops the example with a message
/// naming the variable.
pub fn port() -> u16 {
    match std::env::var("PORT") {
        Err(_) => 3000,
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("PORT={v:?} is not a port number");
            std::process::exit(2);
        }),
    }
}

/// Log output on stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// Listens on `host:PORT`, says so in the log (address, workers, driver, compression), or
/// fails naming the address and the variable that chose its port.
pub fn listen(app: &imphnen::App, host: &str) -> std::io::Result<imphnen::Server> {
    let port = port();
    let addr = format!("{host}:{port}");
    let server = app.listen(addr.as_str()).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} (PORT={port}): {e}"),
        )
    })?;
    tracing::info!(
        address = %server.local_addr(),
        workers = server.workers(),
        driver = ?server.driver(),
        compression = std::env::var("COMPRESSION").as_deref().unwrap_or("off"),
        "listening"
    );
    Ok(server)
}
