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

/// `TLS_CERT` and `TLS_KEY`, the PEM files of the certificate chain and its key, when both are
/// set; `None` when neither is. One without the other stops the example with a message.
pub fn tls_files() -> Option<(String, String)> {
    match (std::env::var("TLS_CERT"), std::env::var("TLS_KEY")) {
        (Ok(cert), Ok(key)) => Some((cert, key)),
        (Err(_), Err(_)) => None,
        _ => {
            eprintln!("TLS_CERT and TLS_KEY go together: set both (PEM files) or neither");
            std::process::exit(2);
        }
    }
}

/// `wss` when the example serves TLS (`TLS_CERT` and `TLS_KEY` set), else `ws`: for the URL it
/// prints.
#[allow(dead_code)] // the chat and bench_server examples print no ws:// URL
pub fn ws_scheme() -> &'static str {
    if tls_files().is_some() { "wss" } else { "ws" }
}

/// Listens on `host:PORT` — with TLS (wss://, https://) when `TLS_CERT` and `TLS_KEY` are set —
/// says so in the log (address, workers, driver, compression, TLS), or fails naming the
/// address and the variable that chose its port.
pub fn listen(app: &imphnen::App, host: &str) -> std::io::Result<imphnen::Server> {
    let port = port();
    let addr = format!("{host}:{port}");
    let tls = tls_files();
    let listening = match &tls {
        None => app.listen(addr.as_str()),
        Some((cert, key)) => listen_tls(app, addr.as_str(), cert, key),
    };
    let server = listening.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} (PORT={port}): {e}"),
        )
    })?;
    tracing::info!(
        address = %server.local_addr(),
        tls = tls.is_some(),
        workers = server.workers(),
        driver = ?server.driver(),
        compression = std::env::var("COMPRESSION").as_deref().unwrap_or("off"),
        "listening"
    );
    Ok(server)
}

#[cfg(feature = "tls")]
fn listen_tls(
    app: &imphnen::App,
    addr: &str,
    cert: &str,
    key: &str,
) -> std::io::Result<imphnen::Server> {
    app.listen_tls(addr, imphnen::TlsConfig::from_pem_files(cert, key)?)
}

#[cfg(not(feature = "tls"))]
fn listen_tls(_: &imphnen::App, _: &str, _: &str, _: &str) -> std::io::Result<imphnen::Server> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "TLS_CERT and TLS_KEY are set, but this build has no TLS: build with `--features tls`",
    ))
}
