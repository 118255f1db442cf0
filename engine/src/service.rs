//! The seam between the engine and the application: what the engine calls, per core.
//!
//! The engine owns sockets, protocol state and scheduling; the application (the `imphnen`
//! facade: routing, contexts, user handlers) is reached only through these traits. A
//! [`Service`] is built once per core by the factory given to [`crate::Server::start`], so it may
//! hold `Rc`s and clones of per-core tables; nothing here needs to be `Send`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::{Message, Request, Response, WebSocket};

/// A boxed error a handler may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What WebSocket handlers return: `Ok(())`, or an error that makes the engine call `on_error`.
pub type HandlerResult = Result<(), BoxError>;

/// A future that runs on the connection's core (never crosses threads, so it need not be `Send`).
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// What [`Service::call`] and [`WsSession::on_message`] return: the handler's result when it ran
/// to its end during the call (a synchronous handler), or its future for the engine to poll. A
/// `Ready` costs no allocation, no waker and no poll, on the two paths taken per request and
/// per message.
pub enum Call<T> {
    /// The handler already finished.
    Ready(T),
    /// The handler's future, not polled yet.
    Future(LocalFuture<T>),
}

impl<T> From<LocalFuture<T>> for Call<T> {
    fn from(fut: LocalFuture<T>) -> Self {
        Call::Future(fut)
    }
}

/// The per-core application.
pub trait Service: 'static {
    /// Answers an HTTP request: with [`Call::Ready`] when the response is already made (a
    /// synchronous handler, a 404), else with its future. Called in request order per
    /// connection; the response is written before the next pipelined request is answered.
    fn call(&self, req: Request) -> Call<Response>;

    /// Called for a request that carries a valid RFC 6455 upgrade. Answers the per-connection
    /// session (and the chosen subprotocol) or an HTTP response that refuses the upgrade, at
    /// once ([`Call::Ready`]) or as a future (an async check), while which the connection's
    /// further input waits. `ws` is the handle the connection will have once the 101 is sent.
    fn upgrade(&self, req: Request, ws: &WebSocket) -> Call<Upgrade>;
}

/// The application's answer to an upgrade request.
pub enum Upgrade {
    /// Switch protocols and hand every event of the connection to `session`.
    Accept {
        /// Receives the connection's events.
        session: Rc<dyn WsSession>,
        /// The subprotocol to confirm in `Sec-WebSocket-Protocol`; must be one the client offered.
        protocol: Option<String>,
        /// More header fields for the 101 (a cookie, say); the handshake's own are the engine's.
        headers: Vec<(Cow<'static, str>, Cow<'static, [u8]>)>,
    },
    /// Refuse with this response (e.g. 404 for no route, 401 for a failed token check).
    Reject(Response),
}

/// Events of one WebSocket connection, delivered in order on its core.
///
/// Each returns a future; the engine polls it at once and, only if it is not finished, keeps it
/// running on the core while holding back the connection's next events (messages are handed to
/// the handler in order).
pub trait WsSession: 'static {
    /// The connection is open (the 101 was written).
    fn on_open(self: Rc<Self>) -> LocalFuture<HandlerResult>;
    /// A complete message arrived. A handler that does not await answers with
    /// [`Call::Ready`], saving the future's allocation on the hottest path.
    fn on_message(self: Rc<Self>, msg: Message) -> Call<HandlerResult>;
    /// The connection closed: `code` is the peer's close code, ours if the peer never answered,
    /// or 1006 when TCP ended without a close frame.
    fn on_close(self: Rc<Self>, code: u16, reason: String) -> LocalFuture<HandlerResult>;
    /// A handler returned an error or panicked.
    fn on_error(self: Rc<Self>, error: HandlerError) -> LocalFuture<HandlerResult>;
    /// The connection reported backpressure (a send returned `Backpressure`, or a publish was
    /// dropped for it) and its queued output has since fallen back under the limit.
    fn on_drain(self: Rc<Self>) -> LocalFuture<HandlerResult> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Why a handler failed.
#[derive(Debug)]
pub enum HandlerError {
    /// The handler returned `Err`.
    Failed(BoxError),
    /// The handler panicked; the payload's message when it was a string. The connection is
    /// closed with 1011 after `on_error` runs.
    Panicked(String),
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Failed(e) => write!(f, "handler failed: {e}"),
            HandlerError::Panicked(m) => write!(f, "handler panicked: {m}"),
        }
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandlerError::Failed(e) => Some(e.as_ref()),
            HandlerError::Panicked(_) => None,
        }
    }
}
