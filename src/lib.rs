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
//! app.listen(3000).expect("port 3000 is free").wait();
//! ```
#![deny(missing_docs)]

mod app;
mod http;
pub mod testing;
mod upgrade;
mod ws;

pub use app::{App, ListenAddr};
pub use http::{Async, Body, Ctx, HttpHandler, IntoResponse, Sync};
pub use imphnen_engine::{
    BoxError, CloseCode, Config, HandlerError, HandlerResult, HttpConfig, HttpLimits, Message,
    Publisher, ReadyState, Request, Response, SendStatus, Server, ServerHandle, WebSocket,
    WsConfig,
};
pub use imphnen_router::{Params, Query};
pub use upgrade::UpgradeRequest;
pub use ws::{WebSocketHandler, WsCtx, WsHandler};
