//! What every example shares: its settings from the environment (README's table) and its log
//! output. Not an example itself: each one includes it with `#[path]`.

/// `PORT`, default 3000. A value that is not a port number stops the example with a message
/// naming the variable.
pub fn port() -> u16 {
    port_from("PORT").unwrap_or(3000)
}

/// `TLS_PORT`, when set: with `TLS_CERT` and `TLS_KEY`, TLS is served on this port while
/// `PORT` serves plain ws:// and http://, in one server. A value that is not a port number, or
/// `TLS_PORT` without the certificate, stops the example with a message.
pub fn tls_port() -> Option<u16> {
    let port = port_from("TLS_PORT")?;
    if tls_files().is_none() {
        eprintln!("TLS_PORT={port} needs TLS_CERT and TLS_KEY (PEM files) to serve TLS with");
        std::process::exit(2);
    }
    Some(port)
}

/// The port number in the variable `name`; `None` when it is unset.
fn port_from(name: &str) -> Option<u16> {
    let v = std::env::var(name).ok()?;
    Some(v.trim().parse().unwrap_or_else(|_| {
        eprintln!("{name}={v:?} is not a port number");
        std::process::exit(2);
    }))
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

/// The URLs the example is reached at, for the line it prints: one per listening port, with
/// its scheme (`ws`/`wss`, or `http`/`https` when `web`), `host` and `rest` (a path), joined
/// by " and " (`ws://localhost:3000/echo and wss://localhost:3443/echo` with `TLS_PORT`).
#[allow(dead_code)] // bench_server and static_bench print their address only
pub fn urls(server: &imphnen::Server, web: bool, host: &str, rest: &str) -> String {
    let urls: Vec<String> = server
        .listeners()
        .iter()
        .map(|l| {
            let scheme = match (web, l.tls) {
                (false, false) => "ws",
                (false, true) => "wss",
                (true, false) => "http",
                (true, true) => "https",
            };
            format!("{scheme}://{host}:{}{rest}", l.addr.port())
        })
        .collect();
    urls.join(" and ")
}

/// Listens on `host:PORT` — with TLS (wss://, https://) when `TLS_CERT` and `TLS_KEY` are set,
/// or, with `TLS_PORT` as well, plain on `PORT` and TLS on `TLS_PORT` in one server — says so
/// in the log (addresses, workers, driver, compression, TLS), or fails naming the addresses
/// and the variables that chose their ports.
pub fn listen(app: &imphnen::App, host: &str) -> std::io::Result<imphnen::Server> {
    let port = port();
    let addr = format!("{host}:{port}");
    let tls = tls_files();
    let tls_port = tls_port();
    let (listening, asked) = match (&tls, tls_port) {
        (None, _) => (app.listen(addr.as_str()), format!("{addr} (PORT={port})")),
        (Some((cert, key)), None) => (
            listen_tls(app, &addr, None, cert, key),
            format!("{addr} (PORT={port})"),
        ),
        (Some((cert, key)), Some(tls_port)) => {
            let tls_addr = format!("{host}:{tls_port}");
            (
                listen_tls(app, &addr, Some(&tls_addr), cert, key),
                format!("{addr} (PORT={port}) and {tls_addr} (TLS_PORT={tls_port})"),
            )
        }
    };
    let server = listening
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {asked}: {e}")))?;
    tracing::info!(
        address = %server.local_addr(),
        // Only with `TLS_PORT`: a second port, serving TLS beside `address`'s plain one.
        tls_address = server
            .tls_addr()
            .filter(|a| *a != server.local_addr())
            .map(tracing::field::display),
        tls = tls.is_some(),
        workers = server.workers(),
        driver = ?server.driver(),
        compression = std::env::var("COMPRESSION").as_deref().unwrap_or("off"),
        "listening"
    );
    Ok(server)
}

/// TLS on `addr`, or plain on `addr` and TLS on `tls_addr`.
#[cfg(feature = "tls")]
fn listen_tls(
    app: &imphnen::App,
    addr: &str,
    tls_addr: Option<&str>,
    cert: &str,
    key: &str,
) -> std::io::Result<imphnen::Server> {
    let tls = imphnen::TlsConfig::from_pem_files(cert, key)?;
    match tls_addr {
        None => app.listen_tls(addr, tls),
        Some(tls_addr) => app.listen_with_tls(addr, tls_addr, tls),
    }
}

#[cfg(not(feature = "tls"))]
fn listen_tls(
    _: &imphnen::App,
    _: &str,
    _: Option<&str>,
    _: &str,
    _: &str,
) -> std::io::Result<imphnen::Server> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "TLS_CERT and TLS_KEY are set, but this build has no TLS: build with `--features tls`",
    ))
}
