//! The thread-per-core engine of imphnen.
//!
//! One monoio runtime per core (io_uring, with the legacy epoll driver where io_uring is
//! unavailable), one `SO_REUSEPORT` listening socket per core, and every connection served by the
//! core that accepted it. A connection is a small struct in its core's slab; the core's epoll set
//! says which ones are ready, and the core's shared buffer receives their bytes
//! (see `DESIGN.md`). The protocol is `imphnen-protocol`'s; the application is reached through
//! [`Service`], which the `imphnen` facade implements with its router and user handlers.
//!
//! Layout: `server` (threads, start, shutdown), `listener` (binding), `core` (the loop: accept,
//! reads, writes, closing), `slab` (connection slots), `conn` (a connection's state), `http` and
//! `ws` (the two phases of a connection), `timers` (timeouts), `mailbox` and `commands`
//! (cross-thread commands, shutdown), `handle` ([`WebSocket`]) and `local` (its direct paths on
//! its own core), `pubsub` (topics), `invoke` (running user futures), `poller` and `socket`
//! (syscalls).
#![deny(missing_docs)]

mod commands;
mod config;
mod conn;
mod core;
mod handle;
mod http;
mod invoke;
mod listener;
mod local;
mod mailbox;
mod message;
mod output;
mod poller;
mod pubsub;
mod request;
mod response;
mod server;
mod service;
mod slab;
mod socket;
mod timers;
mod ws;

use std::sync::atomic::{AtomicU64, Ordering};

pub use config::{Config, HttpConfig, HttpLimits, WsConfig};
pub use handle::{ReadyState, SendStatus, WebSocket};
pub use imphnen_protocol::ws::CloseCode;
pub use message::Message;
pub use request::Request;
pub use response::{HeaderValue, Response};
pub use server::{Publisher, Server, ServerHandle};
pub use service::{
    BoxError, Call, HandlerError, HandlerResult, LocalFuture, Service, Upgrade, WsSession,
};

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// A process-unique connection id.
pub(crate) fn next_connection_id() -> u64 {
    NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed)
}
