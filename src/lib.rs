//! imphnen: a WebSocket + HTTP/1.1 server framework on a thread-per-core io_uring engine.
//!
//! The API follows imphnen.js's WebSocket guide: an [`App`] with WebSocket routes
//! ([`App::ws`]) whose handlers have `open`, `message`, `close` and `error`, HTTP routes
//! ([`App::get`] and friends) answering with `ctx.json`, `ctx.text`, `ctx.html`, and
//! [`App::listen`].
//!
//! ```no_run
//! use std::time::Duration;
//! use imphnen::{App, Config, HandlerResult, Message, WebSocketHandler, WsConfig, WsCtx};
//!
//! struct Chat;
//!
//! impl WebSocketHandler for Chat {
//!     async fn open(&self, ctx: &WsCtx) -> HandlerResult {
//!         ctx.ws.send("Welcome!");
//!         Ok(())
//!     }
//!     async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
//!         ctx.ws.send(format!("Echo: {message}"));
//!         Ok(())
//!     }
//! }
//!
//! let mut app = App::new(Config {
//!     websocket: WsConfig {
//!         max_payload_length: 1024 * 1024,
//!         idle_timeout: Duration::from_secs(120),
//!         backpressure_limit: 64 * 1024,
//!         ..Default::default()
//!     },
//!     ..Default::default()
//! });
//! app.ws("/chat", Chat);
//! // Serves until SIGINT or SIGTERM, then drains and returns.
//! app.listen(3000).expect("port 3000 is free").wait_for_shutdown_signal().expect("signals");
//! ```
//!
//! The connection handle ([`WebSocket`]) is `Clone + Send + Sync + Eq + Hash`: keep it in sets
//! and maps, send from any thread, check its [`ReadyState`], read the [`SendStatus`] of each send,
//! close with application codes, and use pub/sub topics, here tested with [`testing`]. The map of
//! sessions is the app's state ([`App::with_state`]), shared by the cores because a user's two
//! sessions may be on two of them; state a core keeps to itself needs no lock
//! ([`App::per_core`]).
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use imphnen::testing::TestServer;
//! use imphnen::{App, Config, Message, ReadyState, SendStatus, WebSocket, WsCallbacks};
//!
//! /// Each user's open session.
//! #[derive(Default)]
//! struct Sessions(Mutex<HashMap<String, WebSocket>>);
//!
//! # fn main() -> std::io::Result<()> {
//! let mut app = App::new(Config::default());
//! app.with_state(Sessions::default());
//! app.ws(
//!     "/user/:userId",
//!     WsCallbacks::new().on_open(|ctx| {
//!         let user = ctx.param("userId").unwrap_or_default().into_owned();
//!         let sessions = &ctx.state::<Sessions>().0;
//!         // A second session for the same user replaces the first, as in the guide (the lock
//!         // is released at the end of the statement, before the close).
//!         let replaced = sessions.lock().unwrap().insert(user, ctx.ws.clone());
//!         if let Some(old) = replaced {
//!             old.close(4000, "New session started");
//!         }
//!         assert_eq!(ctx.ws.ready_state(), ReadyState::Open);
//!         assert_eq!(ctx.ws.send(Message::text("hello")), SendStatus::Sent(5));
//!         ctx.ws.subscribe("news");
//!         Ok(())
//!     }),
//! );
//!
//! let server = TestServer::start(app)?;
//! let mut first = server.connect("/user/ann")?;
//! assert_eq!(first.recv()?.as_text(), Some("hello"));
//! let mut second = server.connect("/user/ann")?;
//! assert_eq!(second.recv()?.as_text(), Some("hello"));
//! assert_eq!(first.recv_close()?, (4000, "New session started".to_owned()));
//!
//! // Publish from outside any handler: every subscriber of "news", on every core.
//! let publisher = server.server().publisher();
//! std::thread::spawn(move || publisher.publish("news", "extra!")).join().unwrap();
//! assert_eq!(second.recv()?.as_text(), Some("extra!"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod app;
mod error;
mod handler;
mod kept;
pub mod marker;
pub mod middleware;
mod routes;
mod service;
mod state;
mod static_files;
pub mod testing;
mod upgrade;
mod ws;

/// The `http` crate, whose types the API uses: [`StatusCode`](http::StatusCode),
/// [`Method`](http::Method), [`header`](http::header) names, [`Uri`](http::Uri), and
/// `http::Request`/`http::Response` for conversions.
pub use imphnen_engine::http;

pub use app::{App, ListenAddr};
pub use error::{Error, JsonRejection};
pub use handler::{Body, Ctx, HttpHandler, IntoResponse, Json};
pub use imphnen_engine::{
    AllowedOrigins, BoxError, Broker, BrokerEvent, BrokerStats, CloseCode, Compression, Config,
    DriverKind, HandlerError, HandlerResult, HttpConfig, HttpLimits, Listen, Message, Metrics,
    Publisher, ReadyState, Request, Response, SendStatus, Server, ServerHandle, UringConfig,
    WebSocket, WsConfig, memory,
};
#[cfg(feature = "tls")]
pub use imphnen_engine::{TlsConfig, rustls};
pub use imphnen_router::{Params, Query};
pub use static_files::StaticFiles;
pub use upgrade::UpgradeRequest;
pub use ws::{WebSocketHandler, WsCallbacks, WsCtx};
