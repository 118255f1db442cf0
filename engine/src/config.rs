//! Server configuration: WebSocket limits, HTTP limits and timeouts, worker count.
//!
//! Every field documents its default and what the default protects against. All structs are
//! `Default`, so a user writes only what differs:
//! `Config { websocket: WsConfig { idle_timeout: Duration::from_secs(300), ..Default::default() }, ..Default::default() }`.

use std::time::Duration;

pub use imphnen_protocol::http::Limits as HttpLimits;

use crate::broker::Broker;
use crate::memory::MemoryNet;

/// The longest timeout the core clock can measure (24 days): longer ones are treated as this.
pub(crate) const MAX_TIMEOUT_MS: u32 = i32::MAX as u32;

/// Which IO driver the cores use.
///
/// ```
/// use imphnen_engine::{Config, DriverKind};
/// let config = Config { driver: DriverKind::Epoll, ..Config::default() };
/// assert_eq!(config.driver.resolve(), DriverKind::Epoll);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DriverKind {
    /// The best driver this machine allows: io_uring where the kernel has it and allows it
    /// (not disabled by `kernel.io_uring_disabled` or a container's seccomp profile), else
    /// epoll, said once in the log. `IMPHNEN_DRIVER=uring`, `epoll` (or `memory`, with a
    /// network of the server's own, [`Server::memory_net`](crate::Server::memory_net)) in the
    /// environment picks one instead, so a test suite or a deployment can switch without a
    /// rebuild.
    #[default]
    Auto,
    /// Each core's own io_uring ring: one multishot receive per connection into a ring of
    /// kernel-provided buffers, and every send of a turn in one submission. Starting a server
    /// with it fails where io_uring is unavailable.
    Uring,
    /// Sockets on an epoll set, read and written with one syscall each when ready.
    Epoll,
    /// In-process pipes instead of sockets: connections come from [`MemoryNet::connect`];
    /// nothing is bound. For tests.
    Memory(MemoryNet),
}

impl DriverKind {
    /// The driver `Auto` stands for here and now (the others stand for themselves).
    pub fn resolve(&self) -> DriverKind {
        match self {
            DriverKind::Auto => match std::env::var("IMPHNEN_DRIVER").as_deref() {
                Ok("uring") => DriverKind::Uring,
                Ok("epoll") => DriverKind::Epoll,
                // A network of its own: the server's clients connect through
                // `Server::memory_net` (a test suite run on the memory driver).
                Ok("memory") => DriverKind::Memory(MemoryNet::new()),
                Err(_) | Ok("" | "auto") => best_network_driver(),
                Ok(other) => {
                    let best = best_network_driver();
                    tracing::warn!(
                        driver = other,
                        using = best.name(),
                        "unknown IMPHNEN_DRIVER (uring, epoll or memory)"
                    );
                    best
                }
            },
            other => other.clone(),
        }
    }

    /// The driver's name as `IMPHNEN_DRIVER` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            DriverKind::Auto => "auto",
            DriverKind::Uring => "uring",
            DriverKind::Epoll => "epoll",
            DriverKind::Memory(_) => "memory",
        }
    }
}

/// io_uring if this process may use it, else epoll (checked once per process, said once).
fn best_network_driver() -> DriverKind {
    static BEST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let uring = *BEST.get_or_init(|| match crate::driver::uring::available() {
        Ok(()) => true,
        Err(error) => {
            tracing::info!(%error, "io_uring is not available here; using the epoll driver");
            false
        }
    });
    if uring {
        DriverKind::Uring
    } else {
        DriverKind::Epoll
    }
}

/// The whole server configuration.
///
/// ```
/// use std::time::Duration;
/// use imphnen_engine::{Config, HttpConfig, WsConfig};
///
/// // The guide's `websocket: { maxPayloadLength, idleTimeout, backpressureLimit }`.
/// let config = Config {
///     websocket: WsConfig {
///         max_payload_length: 1024 * 1024,
///         idle_timeout: Duration::from_secs(300),
///         backpressure_limit: 128 * 1024,
///         ..Default::default()
///     },
///     http: HttpConfig { keep_alive_timeout: Duration::from_secs(30), ..Default::default() },
///     workers: 2,
///     ..Default::default()
/// };
/// assert_eq!(config.effective_workers(), 2);
/// assert!(config.websocket.send_pings); // defaults fill the rest
/// assert_eq!(WsConfig::default().max_payload_length, 16 << 20);
/// assert_eq!(HttpConfig::default().limits.max_body_size, 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// WebSocket behaviour (the guide's `websocket` option).
    pub websocket: WsConfig,
    /// HTTP/1.1 limits and timeouts.
    pub http: HttpConfig,
    /// Worker threads, one monoio runtime and one listening socket each. Default `0`: one per
    /// available core. More workers than cores only adds context switches.
    pub workers: usize,
    /// How long `Server::shutdown` waits for WebSockets to flush their queued messages and
    /// complete the close handshake, and for in-flight HTTP requests to finish. Default 10 s.
    pub shutdown_timeout: Duration,
    /// The IO driver. Default [`DriverKind::Auto`].
    pub driver: DriverKind,
    /// The io_uring driver's receive buffers.
    pub uring: UringConfig,
    /// At most this many TCP connections open in the whole server (HTTP and WebSocket). Beyond
    /// it a new connection is answered `503 Service Unavailable` with `Retry-After: 1` and
    /// closed, without reading its request. Default `None`: no limit but the descriptors.
    pub max_connections: Option<usize>,
    /// At most this many connections open from one client address (an IPv4 address, or an
    /// IPv6 /64 network), answered like `max_connections` beyond it. Default `None`.
    pub max_connections_per_address: Option<usize>,
    /// The broker that carries publishes to the server's other nodes (processes or machines
    /// serving the same application), so a topic's subscribers on every node get them.
    /// Default `None`: publishes stay in this process.
    pub broker: Option<Broker>,
    /// Serve TLS (wss:// and https://) with this certificate: every connection accepted starts
    /// with a TLS handshake, which must end within `http.request_timeout` (as a request must
    /// arrive within it). `Server::reload_tls` replaces it for later handshakes. Default
    /// `None`: plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::TlsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            websocket: WsConfig::default(),
            http: HttpConfig::default(),
            workers: 0,
            shutdown_timeout: Duration::from_secs(10),
            driver: DriverKind::Auto,
            uring: UringConfig::default(),
            max_connections: None,
            max_connections_per_address: None,
            broker: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// The io_uring driver's receive buffers: one ring of them per core, shared by the core's
/// connections (an idle connection holds none).
///
/// Where the kernel consumes buffers a receive at a time (Linux 6.12), small messages of many
/// connections share a buffer, so a few large ones serve a busy core; elsewhere each receive
/// takes a whole buffer, and the driver uses eight times as many of a quarter of the size.
/// When every buffer is in use a receive waits for the next turn (counted, nothing lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UringConfig {
    /// Buffers per core, a power of two (others are rounded up, and at most 32,768 are used).
    /// Default 32.
    pub buffers: u16,
    /// Bytes per buffer. Default 64 KiB (2 MiB per core with the default count).
    pub buffer_size: u32,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            buffers: 32,
            buffer_size: 64 << 10,
        }
    }
}

impl UringConfig {
    /// (count, size) consumed a receive at a time, and for kernels that take whole buffers.
    pub(crate) fn shapes(&self) -> ((u16, u32), (u16, u32)) {
        let count = self.buffers.clamp(1, 1 << 15).next_power_of_two();
        let size = self.buffer_size.max(4096);
        let whole = (count.saturating_mul(8).min(1 << 15), (size / 4).max(4096));
        ((count, size), whole)
    }
}

impl Config {
    /// The defaults, with what the environment sets: `WORKERS` (the worker count, 0 for every
    /// core), `COMPRESSION` (`off`, `shared` or `dedicated`: permessage-deflate both ways,
    /// dedicated with 15-bit windows) and `REDIS_URL` (a [`Broker::redis`] to share topics
    /// with the other nodes). `IMPHNEN_DRIVER` is read when the driver is resolved
    /// ([`DriverKind::Auto`]). A value that does not parse is reported once and ignored.
    pub fn from_env() -> Config {
        let mut config = Config::default();
        if let Some(workers) = env_setting("WORKERS", |v| v.parse().ok()) {
            config.workers = workers;
        }
        if let Some(mode) = env_setting("COMPRESSION", Compression::parse) {
            config.websocket.compression = mode;
            config.websocket.decompression = mode;
        }
        if let Some(url) = env_setting("REDIS_URL", |v| (!v.is_empty()).then(|| v.to_string())) {
            config.broker = Some(Broker::redis(url));
        }
        config
    }

    /// The worker count to start: `workers`, or the available cores when it is 0.
    pub fn effective_workers(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// WebSocket options, named as in the guide (`maxPayloadLength`, `idleTimeout`, `backpressureLimit`).
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Largest incoming message, in bytes, inclusive. Default 16 MiB. A frame or fragmented
    /// message that would exceed it is refused from its header, before its payload is buffered,
    /// with close code 1009: this bounds the memory a single client can make the server hold.
    pub max_payload_length: usize,
    /// A connection that sends nothing (not even a pong) for this long is closed with 1001.
    /// When `send_pings` is on, a ping goes out after half of it, so a live but quiet peer keeps
    /// the connection open by answering. Default 120 s. `Duration::ZERO` disables the timeout.
    pub idle_timeout: Duration,
    /// Outbound bytes a connection may have queued before `send` reports `Backpressure`; once the
    /// queue is above it, further sends are `Dropped`. Inbound, it bounds how many unprocessed
    /// bytes are buffered while a handler is busy before the engine stops reading the socket.
    /// Default 64 KiB: memory per slow connection stays bounded.
    pub backpressure_limit: usize,
    /// When a send or a publish finds the connection already over `backpressure_limit` (the
    /// message is `Dropped`), close the connection instead of keeping a client that does not
    /// keep up. Default `false`, as in Bun.
    ///
    /// The connection is closed at once, without a close frame: one queued behind the backlog
    /// that caused the close would reach the peer only after the backlog, which is what the
    /// option means to stop waiting for. This is what uWebSockets (under Bun) does as well. The
    /// peer sees the TCP connection end (its close code is 1006), and the server's `close`
    /// handler gets 1006.
    pub close_on_backpressure_limit: bool,
    /// Send a ping after half of `idle_timeout` of silence. Default `true`.
    pub send_pings: bool,
    /// `ws.publish(topic, ..)` also reaches the publishing connection when it is subscribed.
    /// Default `false`, as in Bun: a chat client sees its own message only if it echoes it.
    pub publish_to_self: bool,
    /// How long to wait for the peer's close frame after sending ours, before closing TCP.
    /// Default 5 s: a peer that never answers cannot hold the connection open.
    pub close_timeout: Duration,
    /// permessage-deflate (RFC 7692) for the messages the server sends. Default
    /// [`Compression::Off`], as in Bun. With either this or `decompression` on, the server
    /// accepts a client's permessage-deflate offer.
    pub compression: Compression,
    /// permessage-deflate for the messages clients send. Default [`Compression::Off`]; once the
    /// extension is negotiated (because `compression` is on) a client may compress whatever
    /// this says, and `Off` then behaves as `Shared`.
    pub decompression: Compression,
    /// Messages shorter than this are sent uncompressed (deflating them costs more than it
    /// saves). Default 1 KiB, as in Node's `ws`.
    pub compress_min_size: usize,
    /// zlib compression level, 1 (fastest) to 9 (smallest). Default 1: on 16 KiB of JSON-like
    /// text, measured here, level 1 takes 66 µs and gives 4,462 bytes, level 6 (zlib's own
    /// default) 262 µs for 3,787 bytes: a quarter of the CPU for 18 % more bytes, the right
    /// trade for a latency-sensitive server. Inflating costs the same at any level.
    pub compression_level: u8,
    /// Connections per core that may hold [`Compression::Dedicated`] streams; connections
    /// upgraded beyond it are offered the shared mode. Default 10,000.
    pub max_dedicated_streams: usize,
    /// Which pages may open a WebSocket, by the `Origin` a browser sends (RFC 6455 §10.2):
    /// the defence against cross-site WebSocket hijacking, where a page on another site opens
    /// a socket that carries the user's cookies. Default [`AllowedOrigins::Any`], as in Bun;
    /// an app that authenticates by cookie should choose [`AllowedOrigins::SameHost`] or a
    /// list. A refused upgrade is answered `403 Forbidden` after the route's upgrade hook ran
    /// (the hook sees every request).
    pub allowed_origins: AllowedOrigins,
}

/// The pages allowed to open a WebSocket (see [`WsConfig::allowed_origins`]). A request
/// without an `Origin` field comes from a program, not a browser page, and is always allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Every origin.
    #[default]
    Any,
    /// Only pages of the host the request was sent to: the `Origin`'s host and port equal the
    /// `Host` field (gorilla/websocket's default check).
    SameHost,
    /// Only these origins, compared case-insensitively: `"https://example.com"`,
    /// `"http://localhost:3000"` (scheme, host, and the port when it is not the default one,
    /// as browsers serialize an origin).
    List(Vec<String>),
}

impl AllowedOrigins {
    /// Whether a request with these `Origin` and `Host` fields may upgrade.
    pub fn allows(&self, origin: Option<&[u8]>, host: Option<&[u8]>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::SameHost => {
                let authority = origin
                    .windows(3)
                    .position(|w| w == b"://")
                    .map(|i| &origin[i + 3..]);
                matches!((authority, host), (Some(a), Some(h)) if !a.is_empty() && a.eq_ignore_ascii_case(h.trim_ascii()))
            }
            AllowedOrigins::List(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.trim_ascii())),
        }
    }
}

/// The value of environment variable `name`, parsed; a value that does not parse is reported.
fn env_setting<T>(name: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    let value = std::env::var(name).ok()?;
    let parsed = parse(value.trim());
    if parsed.is_none() {
        tracing::warn!(variable = name, %value, "ignored an environment setting that does not parse");
    }
    parsed
}

impl Compression {
    /// `off`, `shared` or `dedicated` (with 15-bit windows), as `COMPRESSION` says it.
    pub fn parse(s: &str) -> Option<Compression> {
        match s.to_ascii_lowercase().as_str() {
            "off" | "" => Some(Compression::Off),
            "shared" => Some(Compression::Shared),
            "dedicated" => Some(Compression::Dedicated { window_bits: 15 }),
            _ => None,
        }
    }
}

/// How permessage-deflate (RFC 7692) runs in one direction.
///
/// | | memory per connection | compression ratio |
/// |---|---|---|
/// | `Off` | none | none |
/// | `Shared` | none: one stream per core, reset after every message | each message alone |
/// | `Dedicated` | a stream per connection, made on first use | messages build on earlier ones |
///
/// `Shared` negotiates "no context takeover" for its direction, so one compressor (or
/// decompressor) serves every connection of a core, and a message published to a topic is
/// compressed once per core for all of them. `Dedicated` keeps each connection's LZ77 window
/// ("context takeover"): repetitive traffic compresses far better, at the cost of zlib's state
/// per connection: for compressing about 2^(window_bits + 2) bytes plus 128 KiB (zlib's memory
/// level is fixed at 8 by `flate2`), for decompressing 2^window_bits bytes plus about 7 KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Nothing is compressed in this direction.
    #[default]
    Off,
    /// One stream per core, reset after every message.
    Shared,
    /// A stream per connection with an LZ77 window of `window_bits` (9..=15; 15 is 32 KiB).
    Dedicated {
        /// log2 of the LZ77 window, 9..=15.
        window_bits: u8,
    },
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_payload_length: 16 << 20,
            idle_timeout: Duration::from_secs(120),
            backpressure_limit: 64 << 10,
            close_on_backpressure_limit: false,
            send_pings: true,
            publish_to_self: false,
            close_timeout: Duration::from_secs(5),
            compression: Compression::Off,
            decompression: Compression::Off,
            compress_min_size: 1024,
            compression_level: 1,
            max_dedicated_streams: 10_000,
            allowed_origins: AllowedOrigins::Any,
        }
    }
}

/// HTTP/1.1 options.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Size limits on request heads, URIs and bodies (431/414/413).
    pub limits: HttpLimits,
    /// An idle keep-alive connection (no request in progress) is closed after this long; so is
    /// one whose peer takes none of the unsent response for this long (it stopped reading).
    /// Default 10 s: idle sockets cost kernel memory and a file descriptor.
    pub keep_alive_timeout: Duration,
    /// A request whose head or body has not fully arrived this long after its first byte gets
    /// 408 and the connection closes. Default 10 s: a client trickling a request byte by byte
    /// ("slow loris") cannot hold a connection forever.
    pub request_timeout: Duration,
    /// Bytes of responses a connection may have waiting for the peer before the engine stops
    /// reading its next pipelined requests. Default 64 KiB: a client that pipelines requests but
    /// never reads the answers cannot make the server buffer every response.
    pub pipeline_limit: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            limits: HttpLimits::default(),
            keep_alive_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            pipeline_limit: 64 << 10,
        }
    }
}

#[cfg(test)]
mod origin_tests {
    use super::AllowedOrigins;

    #[test]
    fn same_host_compares_the_origin_authority_with_host() {
        let same = AllowedOrigins::SameHost;
        assert!(same.allows(Some(b"http://127.0.0.1:3000"), Some(b"127.0.0.1:3000")));
        assert!(same.allows(Some(b"https://Example.COM"), Some(b"example.com")));
        assert!(!same.allows(Some(b"http://127.0.0.1:3000"), Some(b"localhost:3000")));
        assert!(!same.allows(Some(b"http://evil.example"), Some(b"example.com")));
        assert!(!same.allows(Some(b"null"), Some(b"example.com")));
        assert!(!same.allows(Some(b"http://example.com"), None));
        assert!(
            same.allows(None, Some(b"example.com")),
            "no Origin: not a browser page"
        );
    }

    #[test]
    fn a_list_admits_exactly_its_origins() {
        let list = AllowedOrigins::List(vec!["https://app.example".into()]);
        assert!(list.allows(Some(b"https://APP.example"), Some(b"api.example")));
        assert!(!list.allows(Some(b"http://app.example"), Some(b"api.example")));
        assert!(!list.allows(Some(b"https://app.example.evil"), Some(b"api.example")));
    }
}
