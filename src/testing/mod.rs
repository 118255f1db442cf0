//! Testing helpers: start an [`App`] on a free local port inside a test and talk to it with a
//! small blocking client, without another crate.
//!
//! The guide tests its echo route with Bun's test runner; this is the same test with
//! `cargo test`:
//!
//! ```
//! use imphnen::testing::TestServer;
//! use imphnen::{App, Config, WsCallbacks};
//!
//! # fn main() -> std::io::Result<()> {
//! let mut app = App::new(Config::default());
//! app.ws(
//!     "/echo",
//!     WsCallbacks::new().on_message(|ctx, message| {
//!         ctx.ws.send(format!("Echo: {message}"));
//!         Ok(())
//!     }),
//! );
//!
//! let server = TestServer::start(app)?; // 127.0.0.1, a free port
//! let mut client = server.connect("/echo")?;
//! client.send("Hello!")?;
//! assert_eq!(client.recv()?.as_text(), Some("Echo: Hello!"));
//! client.close(1000, "done")?;
//! # Ok(())
//! # }
//! ```
//!
//! Owns: the test server's lifetime and the blocking clients (a WebSocket client that masks its
//! frames, answers pings and checks the handshake, `ws_client.rs`; a one-request HTTP client,
//! `http_client.rs`). Does not own:
//! the protocol (encoding, decoding and the handshake keys are `imphnen-protocol`'s), nor any
//! async runtime: every call blocks the test's thread, with a timeout, so a hang fails fast.

use std::fmt;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{App, Server};

mod http_client;
mod ws_client;

pub use http_client::TestResponse;
use http_client::{http_request, send_http};
pub use ws_client::{Received, TestClient};

/// How long a receive waits by default before it fails with `TimedOut`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response head the clients accept, in bytes.
const MAX_HEAD: usize = 64 << 10;

/// An application serving on `127.0.0.1` at a free port for the length of a test; shut down
/// (gracefully: WebSockets get 1001) when dropped.
///
/// Declare clients after the server, so they are dropped (and closed) first; a client still
/// open when the server drops makes the drop wait for it, up to the configured close timeout.
pub struct TestServer {
    server: Option<Server>,
    addr: SocketAddr,
}

impl TestServer {
    /// Starts `app` on `127.0.0.1:0` with the app's own configuration.
    pub fn start(app: App) -> io::Result<TestServer> {
        let server = app.listen("127.0.0.1:0")?;
        let addr = server.local_addr();
        Ok(TestServer {
            server: Some(server),
            addr,
        })
    }

    /// The bound address (a real port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL of `path`, e.g. `ws://127.0.0.1:40123/echo`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// The running server, e.g. for `server().handle()`.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the server runs until drop")
    }

    /// Opens a WebSocket to `path` (which may carry a query, `/connect?token=abc`).
    pub fn connect(&self, path: &str) -> io::Result<TestClient> {
        TestClient::connect(self.addr, path, &[])
    }

    /// Opens a WebSocket to `path`, adding `headers` to the upgrade request.
    pub fn connect_with_headers(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<TestClient> {
        TestClient::connect(self.addr, path, headers)
    }

    /// `GET path` on a fresh connection.
    pub fn get(&self, path: &str) -> io::Result<TestResponse> {
        self.request("GET", path, b"")
    }

    /// `method path` with `body` (sent with a `Content-Length`) on a fresh connection.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> io::Result<TestResponse> {
        http_request(self.addr, method, path, &[], body)
    }

    /// `POST path` with `body` as `Content-Type: application/json`.
    pub fn post_json(&self, path: &str, body: &[u8]) -> io::Result<TestResponse> {
        http_request(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body,
        )
    }

    /// Sends `req`, an `http::Request` as the ecosystem's tools build it, on a fresh connection
    /// and returns the answer as an `http::Response`. The head goes out as given (its method,
    /// the URI's path and query, HTTP/1.0 or HTTP/1.1, every header field), adding `Host` (the
    /// URI's authority, else the server's address), `Connection: close` and `Content-Length`
    /// where `req` has none; any `Into<Bytes>` body fits (`Vec<u8>`, `String`, `&'static str`,
    /// `Bytes`). Interim `1xx` answers are skipped; the answer to `HEAD` has an empty body.
    ///
    /// ```
    /// use imphnen::http::{self, StatusCode, header};
    /// use imphnen::testing::TestServer;
    /// use imphnen::{App, Config, Ctx, Json};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut app = App::new(Config::default());
    /// app.post("/echo", |ctx: Ctx| -> Result<_, imphnen::Error> {
    ///     let value: serde_json::Value = ctx.body().json()?;
    ///     Ok((StatusCode::CREATED, Json(value)))
    /// });
    ///
    /// let server = TestServer::start(app)?;
    /// let req = http::Request::post("/echo")
    ///     .header(header::CONTENT_TYPE, "application/json")
    ///     .body(r#"{"n":1}"#)
    ///     .unwrap();
    /// let res: http::Response<_> = server.send_http(req)?;
    /// assert_eq!(res.status(), StatusCode::CREATED);
    /// assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    /// assert_eq!(res.body().as_ref(), br#"{"n":1}"#);
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_http<B: Into<Bytes>>(
        &self,
        req: http::Request<B>,
    ) -> io::Result<http::Response<Bytes>> {
        send_http(self.addr, req)
    }

    /// Shuts the server down now and waits for its cores to stop (the same as dropping it).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Reads what is available into `buf`, waiting at most until `deadline`. EOF is
/// `UnexpectedEof`, the deadline `TimedOut`.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "receive timed out"));
    }
    stream.set_read_timeout(Some(left))?;
    let mut chunk = [0u8; 16 << 10];
    match stream.read(&mut chunk) {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed TCP without a close frame",
        )),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(io::Error::new(io::ErrorKind::TimedOut, "receive timed out"))
        }
        Err(e) => Err(e),
    }
}

/// An `InvalidData` error saying `e`.
fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}
