//! WebSocket routes: the handler trait, its closure builder, and the per-connection context.
//!
//! A route's handler is shared by every connection on every core (`Send + Sync`, like the
//! guide's module-level `clients` set); each connection gets its own [`WsCtx`]. Handler methods
//! are async and run on the connection's core, so their futures need not be `Send`.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use imphnen_engine::{
    HandlerError, HandlerResult, LocalFuture, Message, Request, WebSocket, WsSession,
};
use imphnen_router::{Params, Query, Router};

/// Handles the events of a WebSocket route. Every method is optional (default: do nothing) and
/// async; return `Ok(())`, or an error, which is passed to [`error`](Self::error).
///
/// ```no_run
/// use imphnen::{App, Config, HandlerResult, Message, WebSocketHandler, WsCtx};
///
/// struct Echo;
///
/// impl WebSocketHandler for Echo {
///     async fn open(&self, ctx: &WsCtx) -> HandlerResult {
///         ctx.ws.send("Welcome!");
///         Ok(())
///     }
///     async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
///         ctx.ws.send(format!("Echo: {message}"));
///         Ok(())
///     }
/// }
///
/// let mut app = App::new(Config::default());
/// app.ws("/chat", Echo);
/// ```
pub trait WebSocketHandler: Send + Sync + 'static {
    /// The connection is open; `ctx.ws` can send.
    fn open(&self, ctx: &WsCtx) -> impl Future<Output = HandlerResult> {
        let _ = ctx;
        async { Ok(()) }
    }

    /// A message arrived. Messages of one connection are handled in order: the next one waits
    /// until this future finishes.
    fn message(&self, ctx: &WsCtx, message: Message) -> impl Future<Output = HandlerResult> {
        let _ = (ctx, message);
        async { Ok(()) }
    }

    /// The connection closed with `code` (the peer's, ours if the peer never answered, 1006 if
    /// TCP dropped) and `reason`.
    fn close(&self, ctx: &WsCtx, code: u16, reason: &str) -> impl Future<Output = HandlerResult> {
        let _ = (ctx, code, reason);
        async { Ok(()) }
    }

    /// A handler returned an error or panicked (after a panic the connection closes with 1011).
    fn error(&self, ctx: &WsCtx, error: &HandlerError) -> impl Future<Output = ()> {
        let _ = ctx;
        eprintln!("imphnen: WebSocket handler error: {error}");
        async {}
    }

    /// The connection had reported backpressure (`ctx.ws.send` returned
    /// [`SendStatus::Backpressure`](crate::SendStatus), or a publish was dropped for it) and its
    /// queued output is back under `backpressure_limit`: a good moment to send more.
    fn drain(&self, ctx: &WsCtx) -> impl Future<Output = HandlerResult> {
        let _ = ctx;
        async { Ok(()) }
    }
}

/// Everything a WebSocket handler knows about its connection: the guide's
/// `ctx.ws`, `ctx.params`, `ctx.query`, `ctx.headers` and `ctx.url`.
pub struct WsCtx {
    /// The connection: `ctx.ws.send(..)`, `ctx.ws.close(..)`, `ctx.ws.ready_state()`.
    pub ws: WebSocket,
    request: Request,
    routes: Rc<Router<WsRoute>>,
}

impl WsCtx {
    /// The route parameters (`/room/:roomId` → `params().get("roomId")`), percent-decoded on
    /// access; `params().parse::<T>()` deserializes them into a struct.
    pub fn params(&self) -> Params<'_, '_> {
        self.routes
            .at(self.request.path())
            .map(|m| m.params)
            .expect("the upgrade matched this route")
    }

    /// One route parameter, percent-decoded; `None` when absent (an optional `:id?`).
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params().get(name)
    }

    /// The query string's pairs (`?token=abc` → `query().get("token")`).
    pub fn query(&self) -> Query<'_> {
        Query::new(self.request.query().unwrap_or(""))
    }

    /// The first value of request header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.header(name)
    }

    /// Every header of the upgrade request, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.request.headers()
    }

    /// The full URL the client connected to, e.g. `ws://localhost:3000/connect?token=abc`.
    pub fn url(&self) -> String {
        let host = self.request.header("host").unwrap_or("localhost");
        match self.request.query() {
            Some(q) => format!("ws://{host}{}?{q}", self.request.path()),
            None => format!("ws://{host}{}", self.request.path()),
        }
    }

    /// The request path (still percent-encoded).
    pub fn path(&self) -> &str {
        self.request.path()
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.request.remote_addr()
    }
}

/// A registered WebSocket route: the user's handler behind a factory of sessions.
#[derive(Clone)]
pub(crate) struct WsRoute(Arc<dyn MakeSession>);

impl WsRoute {
    pub(crate) fn new<H: WebSocketHandler>(handler: H) -> WsRoute {
        WsRoute(Arc::new(Arc::new(handler)))
    }

    pub(crate) fn session(
        &self,
        ws: WebSocket,
        request: Request,
        routes: Rc<Router<WsRoute>>,
    ) -> Rc<dyn WsSession> {
        self.0.make(WsCtx {
            ws,
            request,
            routes,
        })
    }
}

pub(crate) trait MakeSession: Send + Sync {
    fn make(&self, ctx: WsCtx) -> Rc<dyn WsSession>;
}

impl<H: WebSocketHandler> MakeSession for Arc<H> {
    fn make(&self, ctx: WsCtx) -> Rc<dyn WsSession> {
        Rc::new(Session {
            handler: self.clone(),
            ctx,
        })
    }
}

/// One connection of a route: the shared handler plus this connection's context.
struct Session<H> {
    handler: Arc<H>,
    ctx: WsCtx,
}

impl<H: WebSocketHandler> WsSession for Session<H> {
    fn on_open(self: Rc<Self>) -> LocalFuture<HandlerResult> {
        Box::pin(async move { self.handler.open(&self.ctx).await })
    }

    fn on_message(self: Rc<Self>, msg: Message) -> LocalFuture<HandlerResult> {
        Box::pin(async move { self.handler.message(&self.ctx, msg).await })
    }

    fn on_close(self: Rc<Self>, code: u16, reason: String) -> LocalFuture<HandlerResult> {
        Box::pin(async move { self.handler.close(&self.ctx, code, &reason).await })
    }

    fn on_error(self: Rc<Self>, error: HandlerError) -> LocalFuture<HandlerResult> {
        Box::pin(async move {
            self.handler.error(&self.ctx, &error).await;
            Ok(())
        })
    }

    fn on_drain(self: Rc<Self>) -> LocalFuture<HandlerResult> {
        Box::pin(async move { self.handler.drain(&self.ctx).await })
    }
}

type OpenFn = dyn Fn(&WsCtx) -> HandlerResult + Send + Sync;
type MessageFn = dyn Fn(&WsCtx, Message) -> HandlerResult + Send + Sync;
type CloseFn = dyn Fn(&WsCtx, u16, &str) -> HandlerResult + Send + Sync;
type ErrorFn = dyn Fn(&WsCtx, &HandlerError) + Send + Sync;
type DrainFn = dyn Fn(&WsCtx) -> HandlerResult + Send + Sync;

/// A WebSocket handler from closures, for small cases (each closure is optional).
///
/// ```no_run
/// use imphnen::{App, Config, WsHandler};
///
/// let mut app = App::new(Config::default());
/// app.ws(
///     "/echo",
///     WsHandler::new().on_message(|ctx, msg| {
///         ctx.ws.send(format!("Echo: {msg}"));
///         Ok(())
///     }),
/// );
/// ```
#[derive(Default)]
pub struct WsHandler {
    open: Option<Box<OpenFn>>,
    message: Option<Box<MessageFn>>,
    close: Option<Box<CloseFn>>,
    error: Option<Box<ErrorFn>>,
    drain: Option<Box<DrainFn>>,
}

impl WsHandler {
    /// A handler that does nothing until closures are added.
    pub fn new() -> WsHandler {
        WsHandler::default()
    }

    /// Runs `f` when a connection opens.
    pub fn on_open(mut self, f: impl Fn(&WsCtx) -> HandlerResult + Send + Sync + 'static) -> Self {
        self.open = Some(Box::new(f));
        self
    }

    /// Runs `f` for every message.
    pub fn on_message(
        mut self,
        f: impl Fn(&WsCtx, Message) -> HandlerResult + Send + Sync + 'static,
    ) -> Self {
        self.message = Some(Box::new(f));
        self
    }

    /// Runs `f` when a connection closes.
    pub fn on_close(
        mut self,
        f: impl Fn(&WsCtx, u16, &str) -> HandlerResult + Send + Sync + 'static,
    ) -> Self {
        self.close = Some(Box::new(f));
        self
    }

    /// Runs `f` when a connection that reported backpressure has flushed below the limit.
    pub fn on_drain(mut self, f: impl Fn(&WsCtx) -> HandlerResult + Send + Sync + 'static) -> Self {
        self.drain = Some(Box::new(f));
        self
    }

    /// Runs `f` when a handler fails.
    pub fn on_error(mut self, f: impl Fn(&WsCtx, &HandlerError) + Send + Sync + 'static) -> Self {
        self.error = Some(Box::new(f));
        self
    }
}

impl WebSocketHandler for WsHandler {
    async fn open(&self, ctx: &WsCtx) -> HandlerResult {
        self.open.as_ref().map_or(Ok(()), |f| f(ctx))
    }

    async fn message(&self, ctx: &WsCtx, message: Message) -> HandlerResult {
        self.message.as_ref().map_or(Ok(()), |f| f(ctx, message))
    }

    async fn close(&self, ctx: &WsCtx, code: u16, reason: &str) -> HandlerResult {
        self.close.as_ref().map_or(Ok(()), |f| f(ctx, code, reason))
    }

    async fn error(&self, ctx: &WsCtx, error: &HandlerError) {
        match &self.error {
            Some(f) => f(ctx, error),
            None => eprintln!("imphnen: WebSocket handler error: {error}"),
        }
    }

    async fn drain(&self, ctx: &WsCtx) -> HandlerResult {
        self.drain.as_ref().map_or(Ok(()), |f| f(ctx))
    }
}
