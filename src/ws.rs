//! WebSocket routes: the handler trait, its closure builder, and the per-connection context.
//!
//! A route's handler is shared by every connection on every core (`Send + Sync`, like the
//! guide's module-level `clients` set); each connection gets its own [`WsCtx`], which carries the
//! data its route's upgrade hook returned (`ctx.data`). Handler methods are async and run on the
//! connection's core, so their futures need not be `Send`.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

use imphnen_engine::{
    Call, HandlerError, HandlerResult, LocalFuture, Message, Publisher, Request, Response, Upgrade,
    WebSocket, WsSession,
};
use imphnen_router::{Params, Query, Router};

use crate::kept::KeptRequest;
use crate::state::States;
use crate::upgrade::UpgradeRequest;

/// Handles the events of a WebSocket route. Every method is optional (default: do nothing) and
/// async; return `Ok(())`, or an error, which is passed to [`error`](Self::error).
///
/// `D` is the per-connection data the route's upgrade hook returns (see
/// [`App::ws_with`](crate::App::ws_with)), read as `ctx.data`; routes without a hook have `()`.
///
/// ```
/// use imphnen::testing::TestServer;
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
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// app.ws("/chat", Echo);
///
/// let server = TestServer::start(app)?;
/// let mut client = server.connect("/chat")?;
/// assert_eq!(client.recv()?.as_text(), Some("Welcome!"));
/// client.send("hi")?;
/// assert_eq!(client.recv()?.as_text(), Some("Echo: hi"));
/// # Ok(())
/// # }
/// ```
pub trait WebSocketHandler<D: 'static = ()>: Send + Sync + 'static {
    /// The connection is open; `ctx.ws` can send.
    fn open(&self, ctx: &WsCtx<D>) -> impl Future<Output = HandlerResult> {
        let _ = ctx;
        async { Ok(()) }
    }

    /// A message arrived. Messages of one connection are handled in order: the next one waits
    /// until this future finishes.
    fn message(&self, ctx: &WsCtx<D>, message: Message) -> impl Future<Output = HandlerResult> {
        let _ = (ctx, message);
        async { Ok(()) }
    }

    /// The connection closed with `code` (the peer's, ours if the peer never answered, 1006 if
    /// TCP dropped) and `reason`.
    fn close(
        &self,
        ctx: &WsCtx<D>,
        code: u16,
        reason: &str,
    ) -> impl Future<Output = HandlerResult> {
        let _ = (ctx, code, reason);
        async { Ok(()) }
    }

    /// A handler returned an error or panicked (after a panic the connection closes with 1011).
    fn error(&self, ctx: &WsCtx<D>, error: &HandlerError) -> impl Future<Output = ()> {
        log_handler_error(ctx, error);
        async {}
    }

    /// The connection had reported backpressure (`ctx.ws.send` returned
    /// [`SendStatus::Backpressure`](crate::SendStatus), or a publish was dropped for it) and its
    /// queued output is back under `backpressure_limit`: a good moment to send more.
    fn drain(&self, ctx: &WsCtx<D>) -> impl Future<Output = HandlerResult> {
        let _ = ctx;
        async { Ok(()) }
    }
}

/// Everything a WebSocket handler knows about its connection: the guide's
/// `ctx.ws`, `ctx.data`, `ctx.params`, `ctx.query`, `ctx.headers` and `ctx.url`.
///
/// Route parameters, the query and the path are there in every callback. Header fields cost
/// memory on every open connection (uWebSockets and Bun keep none after the upgrade), so they
/// are kept only for connections whose upgrade hook asks for it with
/// [`UpgradeRequest::keep_headers`](crate::UpgradeRequest::keep_headers); otherwise
/// [`header`](Self::header) is `None` and [`headers`](Self::headers) is empty after the upgrade.
/// A hook can also copy what it needs into `ctx.data`.
///
/// ```
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, WsCallbacks};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// app.ws_with(
///     "/room/:roomId",
///     |req| {
///         req.keep_headers(); // `ctx.header` in the callbacks below
///         Ok(())
///     },
///     WsCallbacks::with_data().on_open(|ctx| {
///         let room = ctx.param("roomId").unwrap_or_default();
///         let user = ctx.query().get("user").unwrap_or_default();
///         let client = ctx.header("x-client-id").unwrap_or("anonymous");
///         ctx.ws.send(format!("{user} joined {room} as {client}"));
///         Ok(())
///     }),
/// );
///
/// let server = TestServer::start(app)?;
/// let mut client =
///     server.connect_with_headers("/room/caf%C3%A9?user=ann", &[("x-client-id", "7")])?;
/// assert_eq!(client.recv()?.as_text(), Some("ann joined café as 7"));
/// # Ok(())
/// # }
/// ```
pub struct WsCtx<D = ()> {
    /// The connection: `ctx.ws.send(..)`, `ctx.ws.close(..)`, `ctx.ws.subscribe(..)`.
    pub ws: WebSocket,
    /// What the route's upgrade hook returned for this connection (`()` without a hook).
    pub data: D,
    request: KeptRequest,
    route: Rc<CoreRoute>,
}

// With its reference counts, what every open connection's context costs (an allocation of 72
// bytes for `D = ()`): see `Conn`'s size check in the engine.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<WsCtx>() <= 56);

/// What a WebSocket handler's error says in the log when the route does not handle it.
fn log_handler_error<D>(ctx: &WsCtx<D>, error: &HandlerError) {
    tracing::error!(
        route = &*ctx.route.info.pattern,
        peer = %ctx.ws.remote_addr(),
        %error,
        "WebSocket handler error"
    );
}

/// What the connections of one route on one core share: the route, and the core's state.
pub(crate) struct CoreRoute {
    info: Arc<RouteInfo>,
    states: Rc<States>,
}

impl CoreRoute {
    /// `route` on a core whose state is `states`.
    pub(crate) fn new(route: &WsRoute, states: Rc<States>) -> Rc<CoreRoute> {
        Rc::new(CoreRoute {
            info: route.0.info().clone(),
            states,
        })
    }
}

/// What all connections of one route share: its pattern (to find the parameters in a path),
/// and its handler, type-erased so that the context does not depend on the handler's type.
pub(crate) struct RouteInfo {
    pattern: Box<str>,
    params: Router<()>,
    handler: Arc<dyn Any + Send + Sync>,
}

impl RouteInfo {
    fn new(pattern: &str, handler: Arc<dyn Any + Send + Sync>) -> RouteInfo {
        let mut params = Router::new();
        if let Err(e) = params.insert(pattern, ()) {
            panic!("imphnen: cannot register WebSocket route: {e}");
        }
        RouteInfo {
            pattern: pattern.into(),
            params,
            handler,
        }
    }
}

impl<D> WsCtx<D> {
    /// The route parameters (`/room/:roomId` → `params().get("roomId")`), percent-decoded on
    /// access; `params().parse::<T>()` deserializes them into a struct.
    pub fn params(&self) -> Params<'_, '_> {
        self.route
            .info
            .params
            .at(self.path())
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

    /// The first value of request header `name` (case-insensitive), when the connection keeps
    /// its headers (see above).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.header(name)
    }

    /// The header fields of the upgrade request, in order, when the connection keeps them (see
    /// above), except the handshake's own (`Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `-Version`, `-Extensions`), which the engine consumed; the upgrade hook
    /// ([`UpgradeRequest`](crate::UpgradeRequest)) sees all.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.request.headers()
    }

    /// The URL the client connected to, e.g. `ws://localhost:3000/connect?token=abc`: the host
    /// is the `Host` header when the connection keeps its headers, else `localhost`.
    pub fn url(&self) -> String {
        let host = self.request.header("host").unwrap_or("localhost");
        match self.request.query() {
            Some(q) => format!("ws://{host}{}?{q}", self.path()),
            None => format!("ws://{host}{}", self.path()),
        }
    }

    /// The request path (still percent-encoded).
    pub fn path(&self) -> &str {
        self.request.path(&self.route.info.pattern)
    }

    /// The app's state of type `S` (see [`Ctx::state`](crate::Ctx::state)): shared by the
    /// server, or this core's own.
    ///
    /// # Panics
    /// When no state of type `S` was registered (see [`try_state`](Self::try_state)).
    pub fn state<S: 'static>(&self) -> &S {
        self.route.states.expect()
    }

    /// The app's state of type `S`, if one was registered.
    pub fn try_state<S: 'static>(&self) -> Option<&S> {
        self.route.states.get()
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.ws.remote_addr()
    }

    /// The subprotocol the upgrade hook chose, confirmed in the 101.
    pub fn protocol(&self) -> Option<&str> {
        self.request.protocol()
    }

    /// Publishes to topics with the server's semantics: every subscriber, this connection
    /// included if subscribed (`ctx.ws.publish` skips the sender, as Bun's `ws.publish` does).
    pub fn publisher(&self) -> Publisher {
        Publisher::current().expect("WebSocket handlers run on a core of the server")
    }
}

/// A registered WebSocket route: its upgrade hook and handler, behind one object-safe trait.
#[derive(Clone)]
pub(crate) struct WsRoute(Arc<dyn RouteUpgrade>);

impl WsRoute {
    /// A route on `pattern` without a hook: every valid upgrade is accepted with `()`.
    pub(crate) fn new<H: WebSocketHandler>(pattern: &str, handler: H) -> WsRoute {
        WsRoute::with_upgrade(pattern, |_: &mut UpgradeRequest<'_>| Ok(()), handler)
    }

    /// A route on `pattern` whose `hook` decides each upgrade.
    pub(crate) fn with_upgrade<D, U, H>(pattern: &str, hook: U, handler: H) -> WsRoute
    where
        D: 'static,
        U: Fn(&mut UpgradeRequest<'_>) -> Result<D, Response> + Send + Sync + 'static,
        H: WebSocketHandler<D>,
    {
        WsRoute(Arc::new(Route {
            hook: Arc::new(hook),
            info: Arc::new(RouteInfo::new(pattern, Arc::new(handler))),
            data: PhantomData::<fn() -> (D, H)>,
        }))
    }

    /// The same route on another pattern (nested under a prefix).
    pub(crate) fn with_pattern(&self, pattern: &str) -> WsRoute {
        WsRoute(self.0.with_pattern(pattern))
    }

    /// Runs the route's hook for `request` on the core of `route`; on acceptance, the
    /// connection's session.
    pub(crate) fn upgrade(
        &self,
        ws: WebSocket,
        request: Request,
        route: &Rc<CoreRoute>,
    ) -> Upgrade {
        self.0.upgrade(ws, request, route)
    }
}

trait RouteUpgrade: Send + Sync {
    fn info(&self) -> &Arc<RouteInfo>;
    fn with_pattern(&self, pattern: &str) -> Arc<dyn RouteUpgrade>;
    fn upgrade(&self, ws: WebSocket, request: Request, route: &Rc<CoreRoute>) -> Upgrade;
}

struct Route<D, U, H> {
    hook: Arc<U>,
    info: Arc<RouteInfo>,
    /// `fn() -> (D, H)`: the route makes `D`s on the core and never holds one, so it stays
    /// `Send + Sync` whatever `D` is; the handler (an `H`) is in `info`.
    data: PhantomData<fn() -> (D, H)>,
}

impl<D, U, H> RouteUpgrade for Route<D, U, H>
where
    D: 'static,
    U: Fn(&mut UpgradeRequest<'_>) -> Result<D, Response> + Send + Sync + 'static,
    H: WebSocketHandler<D>,
{
    fn info(&self) -> &Arc<RouteInfo> {
        &self.info
    }

    fn with_pattern(&self, pattern: &str) -> Arc<dyn RouteUpgrade> {
        Arc::new(Route {
            hook: self.hook.clone(),
            info: Arc::new(RouteInfo::new(pattern, self.info.handler.clone())),
            data: PhantomData::<fn() -> (D, H)>,
        })
    }

    fn upgrade(&self, ws: WebSocket, request: Request, route: &Rc<CoreRoute>) -> Upgrade {
        let decided = {
            let params = self
                .info
                .params
                .at(request.path())
                .map(|m| m.params)
                .unwrap_or_default();
            let mut req = UpgradeRequest::new(&request, params);
            match catch_unwind(AssertUnwindSafe(|| (self.hook)(&mut req))) {
                Ok(Ok(data)) => Ok((data, req.into_kept())),
                Ok(Err(refusal)) => Err(refusal),
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(route = %self.info.pattern, panic = %msg,
                        "WebSocket upgrade hook panicked; answering 500");
                    Err(Response::text("Internal Server Error").with_status(500))
                }
            }
        };
        let (data, (protocol, keep_headers)) = match decided {
            Ok(accepted) => accepted,
            Err(refusal) => return Upgrade::Reject(refusal),
        };
        let ctx = WsCtx {
            ws,
            data,
            request: KeptRequest::new(
                &request,
                &self.info.pattern,
                protocol.as_deref(),
                keep_headers,
            ),
            route: route.clone(),
        };
        Upgrade::Accept {
            session: Rc::new(Session::<D, H> {
                ctx,
                handler: PhantomData,
            }),
            protocol,
            headers: Vec::new(),
        }
    }
}

/// One connection of a route: its context; the route's handler is reached through it.
struct Session<D, H> {
    ctx: WsCtx<D>,
    handler: PhantomData<fn() -> H>,
}

impl<D: 'static, H: WebSocketHandler<D>> Session<D, H> {
    fn handler(&self) -> &H {
        self.ctx
            .route
            .info
            .handler
            .downcast_ref()
            .expect("a route's sessions hold the route's handler type")
    }
}

impl<D: 'static, H: WebSocketHandler<D>> WsSession for Session<D, H> {
    fn on_open(self: Rc<Self>) -> LocalFuture<HandlerResult> {
        Box::pin(async move { self.handler().open(&self.ctx).await })
    }

    fn on_message(self: Rc<Self>, msg: Message) -> Call<HandlerResult> {
        // Closures never await: they answer at once, without the future `message` would
        // allocate for every message. (A type comparison the compiler settles per handler type.)
        if let Some(callbacks) = (self.handler() as &dyn Any).downcast_ref::<WsCallbacks<D>>() {
            return Call::Ready(callbacks.on_message_now(&self.ctx, msg));
        }
        Call::Future(Box::pin(async move {
            self.handler().message(&self.ctx, msg).await
        }))
    }

    fn on_close(self: Rc<Self>, code: u16, reason: String) -> LocalFuture<HandlerResult> {
        Box::pin(async move { self.handler().close(&self.ctx, code, &reason).await })
    }

    fn on_error(self: Rc<Self>, error: HandlerError) -> LocalFuture<HandlerResult> {
        Box::pin(async move {
            self.handler().error(&self.ctx, &error).await;
            Ok(())
        })
    }

    fn on_drain(self: Rc<Self>) -> LocalFuture<HandlerResult> {
        Box::pin(async move { self.handler().drain(&self.ctx).await })
    }
}

type OpenFn<D> = dyn Fn(&WsCtx<D>) -> HandlerResult + Send + Sync;
type MessageFn<D> = dyn Fn(&WsCtx<D>, Message) -> HandlerResult + Send + Sync;
type CloseFn<D> = dyn Fn(&WsCtx<D>, u16, &str) -> HandlerResult + Send + Sync;
type ErrorFn<D> = dyn Fn(&WsCtx<D>, &HandlerError) + Send + Sync;
type DrainFn<D> = dyn Fn(&WsCtx<D>) -> HandlerResult + Send + Sync;

/// A [`WebSocketHandler`] made of callbacks (closures), for small cases: each is optional, and
/// none awaits, so a message costs no future. `D` is the route's per-connection data
/// (`ctx.data`): `WsCallbacks::new()` for routes without an upgrade
/// hook, `WsCallbacks::with_data()` for [`App::ws_with`](crate::App::ws_with).
///
/// ```
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, WsCallbacks};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// app.ws(
///     "/echo",
///     WsCallbacks::new().on_message(|ctx, msg| {
///         ctx.ws.send(format!("Echo: {msg}"));
///         Ok(())
///     }),
/// );
///
/// let server = TestServer::start(app)?;
/// let mut client = server.connect("/echo")?;
/// client.send("Hello!")?;
/// assert_eq!(client.recv()?.as_text(), Some("Echo: Hello!"));
/// # Ok(())
/// # }
/// ```
pub struct WsCallbacks<D = ()> {
    open: Option<Box<OpenFn<D>>>,
    message: Option<Box<MessageFn<D>>>,
    close: Option<Box<CloseFn<D>>>,
    error: Option<Box<ErrorFn<D>>>,
    drain: Option<Box<DrainFn<D>>>,
}

impl<D> Default for WsCallbacks<D> {
    fn default() -> Self {
        WsCallbacks {
            open: None,
            message: None,
            close: None,
            error: None,
            drain: None,
        }
    }
}

impl WsCallbacks {
    /// A handler that does nothing until closures are added.
    pub fn new() -> WsCallbacks {
        WsCallbacks::default()
    }

    /// A handler for a route whose upgrade hook gives each connection a `D` (`ctx.data`).
    pub fn with_data<D>() -> WsCallbacks<D> {
        WsCallbacks::default()
    }
}

impl<D> WsCallbacks<D> {
    /// Runs `f` when a connection opens.
    pub fn on_open(
        mut self,
        f: impl Fn(&WsCtx<D>) -> HandlerResult + Send + Sync + 'static,
    ) -> Self {
        self.open = Some(Box::new(f));
        self
    }

    /// Runs `f` for every message.
    pub fn on_message(
        mut self,
        f: impl Fn(&WsCtx<D>, Message) -> HandlerResult + Send + Sync + 'static,
    ) -> Self {
        self.message = Some(Box::new(f));
        self
    }

    /// Runs `f` when a connection closes.
    pub fn on_close(
        mut self,
        f: impl Fn(&WsCtx<D>, u16, &str) -> HandlerResult + Send + Sync + 'static,
    ) -> Self {
        self.close = Some(Box::new(f));
        self
    }

    /// Runs `f` when a connection that reported backpressure has flushed below the limit.
    pub fn on_drain(
        mut self,
        f: impl Fn(&WsCtx<D>) -> HandlerResult + Send + Sync + 'static,
    ) -> Self {
        self.drain = Some(Box::new(f));
        self
    }

    /// Runs `f` when a handler fails.
    pub fn on_error(
        mut self,
        f: impl Fn(&WsCtx<D>, &HandlerError) + Send + Sync + 'static,
    ) -> Self {
        self.error = Some(Box::new(f));
        self
    }
}

impl<D> WsCallbacks<D> {
    /// The message callback, run in place.
    fn on_message_now(&self, ctx: &WsCtx<D>, message: Message) -> HandlerResult {
        self.message.as_ref().map_or(Ok(()), |f| f(ctx, message))
    }
}

impl<D: 'static> WebSocketHandler<D> for WsCallbacks<D> {
    async fn open(&self, ctx: &WsCtx<D>) -> HandlerResult {
        self.open.as_ref().map_or(Ok(()), |f| f(ctx))
    }

    async fn message(&self, ctx: &WsCtx<D>, message: Message) -> HandlerResult {
        self.on_message_now(ctx, message)
    }

    async fn close(&self, ctx: &WsCtx<D>, code: u16, reason: &str) -> HandlerResult {
        self.close.as_ref().map_or(Ok(()), |f| f(ctx, code, reason))
    }

    async fn error(&self, ctx: &WsCtx<D>, error: &HandlerError) {
        match &self.error {
            Some(f) => f(ctx, error),
            None => log_handler_error(ctx, error),
        }
    }

    async fn drain(&self, ctx: &WsCtx<D>) -> HandlerResult {
        self.drain.as_ref().map_or(Ok(()), |f| f(ctx))
    }
}
