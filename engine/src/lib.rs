//! The thread-per-core engine of imphnen.
//!
//! One monoio runtime per core, one `SO_REUSEPORT` listening socket per core on each listening
//! address (plain or TLS, [`Listen`]), and every connection served by the core that accepted
//! it. A connection is a small struct in its core's slab; the core's driver reports what
//! happened on its sockets and carries out what the core asks of them. The protocol is
//! `imphnen-protocol`'s; the application is reached through [`Service`], which the `imphnen`
//! facade implements with its router and user handlers. `ARCHITECTURE.md` at the repository
//! root is the map; in short, the layers, each depending only on those below it:
//!
//! ```text
//! server, memory::Stepper     start cores (threads, or one stepped by hand), shut them down
//!   core                      the loop and the turn; every connection's life; tasks, timers,
//!    |                        commands, delivery of published frames
//!    +-- proto                protocol phases as functions: (state, bytes, limits) -> event
//!    +-- tls                  (feature `tls`) TLS records <-> plaintext, rustls per connection
//!    +-- conn                 connection state, the slab, output and its byte count
//!    +-- driver               the completion-shaped IO seam: io_uring, epoll, memory
//!    |     +-- sys            syscalls: sockets, listeners, epoll, io_uring, eventfd, timerfd
//!    +-- buf                  byte containers shared by conn and driver
//!   shared                    the Send + Sync side: WebSocket handles, per-slot atomics, rings,
//!                             inboxes, the topic registry, the hub
//!   broker                    the link to the other nodes through Redis, on threads of its own
//!   config, message, request, response, service     the types of the API
//! ```
#![deny(missing_docs)]

mod broker;
mod buf;
mod config;
mod conn;
mod core;
mod driver;
mod header;
mod listen;
mod message;
mod proto;
mod request;
mod response;
mod server;
mod service;
mod shared;
mod stepper;
mod sys;
#[cfg(feature = "tls")]
mod tls;

pub use broker::{Broker, BrokerEvent, BrokerStats};
pub use config::{
    AllowedOrigins, Compression, Config, DriverKind, HttpConfig, HttpLimits, UringConfig, WsConfig,
};
pub use header::{AsHeaderName, HeaderValue, IntoHeaderName};
pub use http;
pub use imphnen_protocol::ws::CloseCode;
pub use listen::Listen;
pub use message::Message;
pub use request::Request;
pub use response::Response;
/// rustls, whose `ServerConfig` [`TlsConfig::from_rustls`] takes (the version this crate
/// is built with).
#[cfg(feature = "tls")]
pub use rustls;
pub use server::{Publisher, Server, ServerHandle};
pub use service::{
    BoxError, Call, HandlerError, HandlerResult, LocalFuture, Service, Upgrade, WsSession,
};
pub use shared::handle::{ReadyState, SendStatus, WebSocket};
pub use shared::metrics::{Metrics, SendCounts};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;

/// The core-to-core ring, for its benchmark (`benches/rings.rs`); not part of the API.
#[doc(hidden)]
pub mod bench {
    pub use crate::shared::ring::{Consumer, Producer, ring};
}

/// The memory driver's public side: an in-process network for tests, and a core stepped by hand.
pub mod memory {
    pub use crate::driver::memory::{MemoryNet, MemoryStream, PIPE_CAPACITY};
    pub use crate::stepper::Stepper;
}
