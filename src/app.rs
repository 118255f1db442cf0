//! `App`: route registration and `listen`; and the per-core service that routes each request.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;

use imphnen_engine::memory::Stepper;
use imphnen_engine::{Call, Config, Request, Response, Server, Service, Upgrade, WebSocket};
use imphnen_router::Router;

use crate::http::{Ctx, HttpHandler};
use crate::upgrade::UpgradeRequest;
use crate::ws::{WebSocketHandler, WsRoute};

type ErasedHttp = Arc<dyn Fn(Ctx) -> Call<Response> + Send + Sync>;

/// The handlers of one path, by method.
#[derive(Clone, Default)]
pub(crate) struct MethodTable {
    handlers: Vec<(&'static str, ErasedHttp)>,
}

impl MethodTable {
    fn get(&self, method: &str) -> Option<&ErasedHttp> {
        let found = self.handlers.iter().find(|(m, _)| *m == method);
        // RFC 9110 §9.3.2: HEAD is answered like GET, without the body.
        match found {
            None if method == "HEAD" => self.handlers.iter().find(|(m, _)| *m == "GET"),
            other => other,
        }
        .map(|(_, h)| h)
    }

    fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.handlers.iter().map(|(m, _)| *m).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        methods.join(", ")
    }
}

/// An application: WebSocket and HTTP routes plus the configuration, started with
/// [`listen`](App::listen).
///
/// ```
/// use imphnen::{App, Config, Ctx, WsHandler};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config { workers: 1, ..Config::default() });
/// app.ws("/echo", WsHandler::new().on_message(|ctx, msg| { ctx.ws.send(msg); Ok(()) }));
/// app.get("/", |ctx: Ctx| ctx.text("Hello"));
///
/// let server = app.listen("127.0.0.1:0")?; // returns once every core is bound
/// let port = server.local_addr().port();
/// assert_ne!(port, 0);
/// server.shutdown(); // graceful: WebSockets get 1001, in-flight requests finish
/// # Ok(())
/// # }
/// ```
pub struct App {
    config: Config,
    http: Router<MethodTable>,
    ws: Router<WsRoute>,
}

impl App {
    /// An application with no routes.
    pub fn new(config: Config) -> App {
        App {
            config,
            http: Router::new(),
            ws: Router::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Registers a WebSocket route.
    ///
    /// # Panics
    /// When `path` is malformed or conflicts with a WebSocket route already registered (the
    /// message names both patterns), as a misconfigured program should fail at start-up.
    pub fn ws<H: WebSocketHandler>(&mut self, path: &str, handler: H) -> &mut App {
        if let Err(e) = self.ws.insert(path, WsRoute::new(path, handler)) {
            panic!("imphnen: cannot register WebSocket route: {e}");
        }
        self
    }

    /// Registers a WebSocket route whose `upgrade` hook runs before the `101 Switching
    /// Protocols`, on the connection's core, with the request's params, query, headers, remote
    /// address and offered subprotocols ([`UpgradeRequest`]). It either accepts with this
    /// connection's data `D` (every handler reads it as `ctx.data`), after maybe choosing a
    /// subprotocol with [`select_protocol`](UpgradeRequest::select_protocol), or refuses with
    /// any response, which the client gets instead of the 101 (then the connection closes).
    /// A hook that panics refuses with 500.
    ///
    /// The guide checks the token in `open` and closes with 4001; here the check happens before
    /// the connection is opened, and the client sees a plain `401`:
    ///
    /// ```
    /// use imphnen::testing::TestServer;
    /// use imphnen::{App, Config, Response, WsHandler};
    ///
    /// struct User {
    ///     name: String,
    /// }
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut app = App::new(Config::default());
    /// app.ws_with(
    ///     "/connect",
    ///     |req| {
    ///         let token = req.query().get("token");
    ///         let Some(name) = token.as_deref().and_then(|t| t.strip_prefix("user-")) else {
    ///             return Err(Response::text("Unauthorized").with_status(401));
    ///         };
    ///         req.select_protocol("chat.v1"); // when the client offered it
    ///         Ok(User { name: name.to_owned() })
    ///     },
    ///     WsHandler::with_data().on_open(|ctx| {
    ///         let user: &User = &ctx.data;
    ///         ctx.ws.send(format!("Welcome, {}!", user.name));
    ///         Ok(())
    ///     }),
    /// );
    ///
    /// let server = TestServer::start(app)?;
    /// let refused = server.connect("/connect?token=nope").unwrap_err();
    /// assert!(refused.to_string().contains("401"), "{refused}");
    /// let mut client = server.connect("/connect?token=user-alice")?;
    /// assert_eq!(client.recv()?.as_text(), Some("Welcome, alice!"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// As [`ws`](App::ws), on a malformed or conflicting `path`.
    pub fn ws_with<D, U, H>(&mut self, path: &str, upgrade: U, handler: H) -> &mut App
    where
        D: 'static,
        U: Fn(&mut UpgradeRequest<'_>) -> Result<D, Response> + Send + Sync + 'static,
        H: WebSocketHandler<D>,
    {
        if let Err(e) = self
            .ws
            .insert(path, WsRoute::with_upgrade(path, upgrade, handler))
        {
            panic!("imphnen: cannot register WebSocket route: {e}");
        }
        self
    }

    /// Registers an HTTP route for `method` (an uppercase token such as `"GET"`).
    ///
    /// # Panics
    /// When `path` is malformed, conflicts with another route, or `method` already has a
    /// handler for it.
    pub fn route<M, H: HttpHandler<M>>(
        &mut self,
        method: &'static str,
        path: &str,
        handler: H,
    ) -> &mut App {
        let handler = Arc::new(handler);
        let route: Arc<str> = path.into();
        let erased: ErasedHttp = Arc::new(move |ctx| {
            // Events of the handler (its error, a failed serialization) carry the route. With
            // nothing listening at `error` the span is disabled and costs one check.
            let span = tracing::error_span!("request", method, route = &*route);
            if span.is_disabled() {
                return handler.call(ctx);
            }
            match span.in_scope(|| handler.call(ctx)) {
                Call::Future(fut) => {
                    Call::Future(Box::pin(tracing::Instrument::instrument(fut, span)))
                }
                ready => ready,
            }
        });
        let table = match self.http.get_or_insert_with(path, MethodTable::default) {
            Ok(t) => t,
            Err(e) => panic!("imphnen: cannot register HTTP route: {e}"),
        };
        if table.handlers.iter().any(|(m, _)| *m == method) {
            panic!("imphnen: {method} {path} is registered twice");
        }
        table.handlers.push((method, erased));
        self
    }

    /// Registers a `GET` route (also answers `HEAD`).
    pub fn get<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route("GET", path, handler)
    }

    /// Registers a health check at `path` (`GET` and `HEAD`): `200 ok` while the server
    /// serves, `503 shutting down` once its graceful shutdown has started, so that a load
    /// balancer stops sending new work while open connections drain.
    pub fn health(&mut self, path: &str) -> &mut App {
        self.get(path, |ctx: Ctx| {
            if ctx.publisher().is_shutting_down() {
                Response::text("shutting down").with_status(503)
            } else {
                Response::text("ok")
            }
        })
    }

    /// Serves the server's counters at `path` (`GET`) in the Prometheus text format: open
    /// connections and WebSockets, upgrades, messages and bytes in and out, closes by code,
    /// backpressure pauses, handler errors and panics, loop turns, compressed messages. Each
    /// core keeps its own counters; a scrape sums them.
    pub fn metrics(&mut self, path: &str) -> &mut App {
        self.get(path, |ctx: Ctx| {
            Response::text(ctx.publisher().metrics().to_prometheus())
                .with_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        })
    }

    /// Registers a `POST` route.
    pub fn post<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route("POST", path, handler)
    }

    /// Registers a `PUT` route.
    pub fn put<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route("PUT", path, handler)
    }

    /// Registers a `DELETE` route.
    pub fn delete<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route("DELETE", path, handler)
    }

    /// Registers a `PATCH` route.
    pub fn patch<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route("PATCH", path, handler)
    }

    /// Registers a `HEAD` route (otherwise `HEAD` is answered by the `GET` route).
    pub fn head<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route("HEAD", path, handler)
    }

    /// Registers an `OPTIONS` route.
    pub fn options<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route("OPTIONS", path, handler)
    }

    /// Binds `addr` (`3000` or `":3000"` for every interface, `"127.0.0.1:0"` for a free port,
    /// any `SocketAddr`) on every worker core and starts serving. Returns once every core is bound;
    /// a busy port is an `AddrInUse` error.
    pub fn listen(&self, addr: impl ListenAddr) -> io::Result<Server> {
        let addr = addr.socket_addr()?;
        let http = self.http.clone();
        let ws = self.ws.clone();
        Server::start(self.config.clone(), addr, move |_core| {
            // Each core gets its own copy of the tables: matching never touches shared state.
            AppService::for_core(&http, &ws)
        })
    }

    /// Like [`listen`](Self::listen), serving TLS with `tls`: wss:// and https:// (TLS 1.3 and
    /// 1.2, ALPN `http/1.1`). Call both `listen` and `listen_tls` for plain and TLS ports side
    /// by side; they are two servers with the same routes (pub/sub topics are each server's).
    /// The returned server's [`reload_tls`](Server::reload_tls) replaces the certificate.
    ///
    /// ```no_run
    /// # fn demo(app: imphnen::App) -> std::io::Result<()> {
    /// use imphnen::TlsConfig;
    /// let server = app.listen_tls(8443, TlsConfig::from_pem_files("cert.pem", "key.pem")?)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn listen_tls(&self, addr: impl ListenAddr, tls: crate::TlsConfig) -> io::Result<Server> {
        let addr = addr.socket_addr()?;
        let http = self.http.clone();
        let ws = self.ws.clone();
        let mut config = self.config.clone();
        config.tls = Some(tls);
        Server::start(config, addr, move |_core| AppService::for_core(&http, &ws))
    }

    /// The app on one core of the memory driver, stepped by hand on this thread: no threads,
    /// no sockets, a clock that moves only when told. For deterministic tests and fuzzing.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use imphnen::{App, Config, Ctx};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut app = App::new(Config::default());
    /// app.get("/", |_: Ctx| "hi");
    /// let mut core = app.stepper()?;
    /// let mut client = core.connect()?;
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// core.run();
    /// let mut answer = Vec::new();
    /// client.read_to_end(&mut answer)?;
    /// assert!(answer.ends_with(b"\r\n\r\nhi"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn stepper(&self) -> io::Result<Stepper> {
        Stepper::new(
            self.config.clone(),
            AppService::for_core(&self.http, &self.ws),
        )
    }
}

/// What `App::listen` accepts: a port, a `"host:port"` or `":port"` string, or a socket address.
///
/// ```
/// use imphnen::ListenAddr;
///
/// # fn main() -> std::io::Result<()> {
/// assert_eq!(3000u16.socket_addr()?.to_string(), "0.0.0.0:3000");
/// assert_eq!(":3000".socket_addr()?.to_string(), "0.0.0.0:3000");
/// assert_eq!("127.0.0.1:0".socket_addr()?.port(), 0);
/// # Ok(())
/// # }
/// ```
pub trait ListenAddr {
    /// The address to bind.
    fn socket_addr(self) -> io::Result<SocketAddr>;
}

impl ListenAddr for u16 {
    fn socket_addr(self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from(([0, 0, 0, 0], self)))
    }
}

impl ListenAddr for SocketAddr {
    fn socket_addr(self) -> io::Result<SocketAddr> {
        Ok(self)
    }
}

/// `"host:port"`, or `":port"` for every interface (as Node and Go read it).
impl ListenAddr for &str {
    fn socket_addr(self) -> io::Result<SocketAddr> {
        if let Some(port) = self.strip_prefix(':') {
            let port = port.parse::<u16>().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("bad port in {self:?}"))
            })?;
            return port.socket_addr();
        }
        self.to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))
    }
}

impl ListenAddr for String {
    fn socket_addr(self) -> io::Result<SocketAddr> {
        self.as_str().socket_addr()
    }
}

/// One core's application: its copies of the route tables.
struct AppService {
    http: Rc<Router<MethodTable>>,
    ws: Rc<Router<WsRoute>>,
}

impl AppService {
    fn for_core(http: &Router<MethodTable>, ws: &Router<WsRoute>) -> Rc<dyn Service> {
        Rc::new(AppService {
            http: Rc::new(http.clone()),
            ws: Rc::new(ws.clone()),
        })
    }
}

impl Service for AppService {
    fn call(&self, req: Request) -> Call<Response> {
        let found = match self.http.at(req.path()) {
            Some(m) => m.value.get(req.method()).ok_or_else(|| m.value.allow()),
            None => {
                if self.ws.at(req.path()).is_some() {
                    // A WebSocket route asked for without the upgrade (RFC 9110 §15.5.22).
                    return Call::Ready(
                        Response::text("Upgrade Required")
                            .with_status(426)
                            .with_header("upgrade", "websocket")
                            .with_header("connection", "Upgrade"),
                    );
                }
                return Call::Ready(Response::text("Not Found").with_status(404));
            }
        };
        let handler = match found {
            Ok(handler) => handler,
            Err(allow) => {
                return Call::Ready(
                    Response::text("Method Not Allowed")
                        .with_status(405)
                        .with_header("allow", allow),
                );
            }
        };
        handler(Ctx::new(req, self.http.clone()))
    }

    fn upgrade(&self, req: Request, ws: &WebSocket) -> Upgrade {
        let Some(route) = self.ws.at(req.path()).map(|m| m.value.clone()) else {
            return Upgrade::Reject(Response::text("Not Found").with_status(404));
        };
        route.upgrade(ws.clone(), req)
    }
}
