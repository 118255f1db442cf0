//! `App`: route registration and `listen`; and the per-core service that routes each request.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use http::Method;
use imphnen_engine::memory::Stepper;
use imphnen_engine::{Config, Listen, Response, Server};

use crate::handler::{Ctx, HttpHandler};
use crate::middleware::IntoMiddleware;
use crate::routes::{self, Routes};
use crate::service::{AppService, CoreApp, upgrade_endpoint};
use crate::static_files::{Mount, StaticFiles};
use crate::upgrade::UpgradeRequest;
use crate::ws::{WebSocketHandler, WsRoute};

/// An application: WebSocket and HTTP routes plus the configuration, started with
/// [`listen`](App::listen).
///
/// ```
/// use imphnen::{App, Config, Ctx, WsCallbacks};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config { workers: 1, ..Config::default() });
/// app.ws("/echo", WsCallbacks::new().on_message(|ctx, msg| { ctx.ws.send(msg); Ok(()) }));
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
    routes: Routes,
}

impl App {
    /// An application with no routes.
    pub fn new(config: Config) -> App {
        App {
            config,
            routes: Routes::default(),
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
        let route = WsRoute::new(path, handler);
        self.routes.add_ws(path, route, upgrade_endpoint());
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
    /// use imphnen::{App, Config, Response, WsCallbacks};
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
    ///     WsCallbacks::with_data().on_open(|ctx| {
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
        let route = WsRoute::with_upgrade(path, upgrade, handler);
        self.routes.add_ws(path, route, upgrade_endpoint());
        self
    }

    /// Registers an HTTP route for `method` (`Method::GET`, or any other `http::Method`).
    ///
    /// # Panics
    /// When `path` is malformed, conflicts with another route, or `method` already has a
    /// handler for it.
    pub fn route<M, H: HttpHandler<M>>(
        &mut self,
        method: Method,
        path: &str,
        handler: H,
    ) -> &mut App {
        let endpoint = routes::endpoint(path, handler);
        self.routes.add_http(method, path, endpoint);
        self
    }

    /// Registers a `GET` route (also answers `HEAD`).
    pub fn get<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route(Method::GET, path, handler)
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

    /// Serves the files under directory `dir` at `prefix` (`GET` and `HEAD`):
    /// `app.static_files("/assets", "public/")` answers `/assets/app.js` with `public/app.js`.
    /// Content types, `ETag`/`Last-Modified` and `304`, byte ranges, precompressed `.br`/`.gz`
    /// siblings and the index file are described at [`StaticFiles`], which also takes the
    /// options: `app.static_files("/", StaticFiles::new("public").no_index())`. Files are read
    /// on a small thread pool, never on a core; no path can leave `dir`.
    ///
    /// ```
    /// use imphnen::testing::TestServer;
    /// use imphnen::{App, Config};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let dir = std::env::temp_dir().join(format!("imphnen-doc-static-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// std::fs::write(dir.join("site.css"), "body { margin: 0 }")?;
    ///
    /// let mut app = App::new(Config::default());
    /// app.static_files("/assets", dir.as_path());
    /// let server = TestServer::start(app)?;
    ///
    /// let css = server.get("/assets/site.css")?;
    /// assert_eq!(css.status, 200);
    /// assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    /// assert_eq!(css.text(), "body { margin: 0 }");
    /// assert_eq!(server.get("/assets/%2e%2e/etc/passwd")?.status, 404);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// When `dir` cannot be opened as a directory, or the route `prefix/*` is malformed or
    /// taken.
    pub fn static_files(&mut self, prefix: &str, dir: impl Into<StaticFiles>) -> &mut App {
        let mount = Mount::directory(dir.into());
        let pattern = format!("{}/*", prefix.trim_end_matches('/'));
        self.get(&pattern, move |ctx: Ctx| mount.serve(ctx))
    }

    /// Serves one file at `path` (`GET` and `HEAD`), with everything [`static_files`]
    /// does for a file: `app.static_file("/", "public/index.html")`. The file is opened at
    /// each request, so it may be written after the app starts (a missing file answers `404`).
    ///
    /// [`static_files`]: App::static_files
    ///
    /// # Panics
    /// When `path` is malformed or taken.
    pub fn static_file(&mut self, path: &str, file: impl Into<StaticFiles>) -> &mut App {
        let mount = Mount::file(file.into());
        self.get(path, move |ctx: Ctx| mount.serve(ctx))
    }

    /// Registers a `POST` route.
    pub fn post<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route(Method::POST, path, handler)
    }

    /// Registers a `PUT` route.
    pub fn put<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route(Method::PUT, path, handler)
    }

    /// Registers a `DELETE` route.
    pub fn delete<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route(Method::DELETE, path, handler)
    }

    /// Registers a `PATCH` route.
    pub fn patch<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route(Method::PATCH, path, handler)
    }

    /// Registers a `HEAD` route (otherwise `HEAD` is answered by the `GET` route).
    pub fn head<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route(Method::HEAD, path, handler)
    }

    /// Registers an `OPTIONS` route.
    pub fn options<M, H: HttpHandler<M>>(&mut self, path: &str, handler: H) -> &mut App {
        self.route(Method::OPTIONS, path, handler)
    }

    /// Shares `state` with every handler of the server, HTTP and WebSocket alike:
    /// `ctx.state::<S>()`. One value for all cores, so it is `Send + Sync` (an `Arc` is made
    /// for it): a connection pool, settings, atomic counters. For state without locks, see
    /// [`per_core`](Self::per_core). Several states of different types may be registered.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use imphnen::testing::TestServer;
    /// use imphnen::{App, Config, Ctx};
    ///
    /// struct Visits(AtomicU64);
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut app = App::new(Config::default());
    /// app.with_state(Visits(AtomicU64::new(0)));
    /// app.get("/", |ctx: Ctx| {
    ///     let n = ctx.state::<Visits>().0.fetch_add(1, Ordering::Relaxed) + 1;
    ///     format!("visit {n}")
    /// });
    ///
    /// let server = TestServer::start(app)?;
    /// assert_eq!(server.get("/")?.text(), "visit 1");
    /// assert_eq!(server.get("/")?.text(), "visit 2");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// When a state of type `S` is registered already.
    pub fn with_state<S: Send + Sync + 'static>(&mut self, state: S) -> &mut App {
        self.routes.states.add_shared(state);
        self
    }

    /// Gives each core its own `S`, made by `make` once on that core's thread when the server
    /// starts: `ctx.state::<S>()` in a handler is the value of the core it runs on. Nothing is
    /// shared, so `S` need not be `Send` or `Sync` and no lock is taken: a
    /// `RefCell<HashMap<..>>` cache, an `Rc`, a `Cell` counter. Handlers of one connection
    /// always run on the same core. Do not hold a `RefCell` borrow across an `.await`.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use imphnen::testing::TestServer;
    /// use imphnen::{App, Config, Ctx, WsCallbacks};
    ///
    /// struct Served(Cell<u64>);
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut app = App::new(Config { workers: 1, ..Config::default() });
    /// app.per_core(|| Served(Cell::new(0)));
    /// app.ws("/count", WsCallbacks::new().on_message(|ctx, _| {
    ///     let served = ctx.state::<Served>();
    ///     served.0.set(served.0.get() + 1);
    ///     ctx.ws.send(served.0.get().to_string());
    ///     Ok(())
    /// }));
    ///
    /// let server = TestServer::start(app)?;
    /// let mut client = server.connect("/count")?;
    /// client.send("a")?;
    /// assert_eq!(client.recv()?.as_text(), Some("1"));
    /// client.send("b")?;
    /// assert_eq!(client.recv()?.as_text(), Some("2"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// When a state of type `S` is registered already.
    pub fn per_core<S: 'static>(
        &mut self,
        make: impl Fn() -> S + Send + Sync + 'static,
    ) -> &mut App {
        self.routes.states.add_per_core(make);
        self
    }

    /// Adds a middleware around every request's handler and every WebSocket upgrade (see
    /// [`middleware`](crate::middleware)), after those added before: the first added is the
    /// outermost. It runs for requests no route matches too (a 404, a CORS preflight).
    /// This is imphnen.js's `app.use`, named `middleware` because `use` is a Rust keyword.
    #[doc(alias = "use")]
    pub fn middleware<M>(&mut self, middleware: impl IntoMiddleware<M>) -> &mut App {
        self.routes.middleware.push(middleware.into_erased());
        self
    }

    /// Answers HTTP requests that no route matches with `handler` instead of `404 Not Found`
    /// (a path with routes for other methods still gets `405`).
    pub fn fallback<M, H: HttpHandler<M>>(&mut self, handler: H) -> &mut App {
        self.routes.fallback = Some(routes::endpoint("fallback", handler));
        self
    }

    /// Serves `other`'s routes under `prefix` (`"/api"`: its `/users` becomes `/api/users`,
    /// its `/` is `/api`). Its middleware wraps its own routes only, inside this app's (the
    /// `405` of a path only it serves included: its `Cors` answers preflights there); its
    /// state joins this app's; its fallback answers the paths under `prefix` that none of its
    /// routes matches. Its configuration is not used: this app's serves.
    ///
    /// ```
    /// use imphnen::middleware::Next;
    /// use imphnen::testing::TestServer;
    /// use imphnen::{App, Config, Ctx, Response};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut api = App::new(Config::default());
    /// api.middleware(|ctx: Ctx, next: Next| {
    ///     next.run(ctx).map(|res| res.with_header("cache-control", "no-store"))
    /// });
    /// api.get("/users/:id", |ctx: Ctx| format!("user {}", ctx.param("id").unwrap_or_default()));
    /// api.fallback(|_: Ctx| Response::text("no such API").with_status(404));
    ///
    /// let mut app = App::new(Config::default());
    /// app.get("/", |_: Ctx| "home");
    /// app.nest("/api", api);
    ///
    /// let server = TestServer::start(app)?;
    /// let user = server.get("/api/users/7")?;
    /// assert_eq!(user.text(), "user 7");
    /// assert_eq!(user.header("cache-control"), Some("no-store"));
    /// assert_eq!(server.get("/")?.header("cache-control"), None);
    /// assert_eq!(server.get("/api/nothing")?.text(), "no such API");
    /// assert_eq!(server.get("/nothing")?.text(), "Not Found");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// When a route of `other` conflicts with one of this app's, or both registered a state
    /// of the same type.
    pub fn nest(&mut self, prefix: &str, other: App) -> &mut App {
        self.routes.absorb(prefix, other.routes);
        self
    }

    /// Serves `other`'s routes beside this app's, as [`nest`](Self::nest) does under a prefix
    /// (its middleware wraps its own routes only; its fallback becomes this app's, which must
    /// not have one).
    ///
    /// # Panics
    /// As [`nest`](Self::nest), and when both apps have a fallback.
    pub fn merge(&mut self, other: App) -> &mut App {
        self.routes.absorb("", other.routes);
        self
    }

    /// Binds `addr` (`3000` or `":3000"` for every interface, `"127.0.0.1:0"` for a free port,
    /// any `SocketAddr`) on every worker core and starts serving. Returns once every core is bound;
    /// a busy port is an `AddrInUse` error.
    pub fn listen(&self, addr: impl ListenAddr) -> io::Result<Server> {
        // A config that already holds a TLS configuration serves TLS here, as `Server::start`.
        #[cfg(feature = "tls")]
        let tls = self.config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        let addr = addr.socket_addr()?;
        self.start(self.config.clone(), &[Listen { addr, tls }])
    }

    /// Starts a server of this app's routes with `config` on `listeners`.
    fn start(&self, config: Config, listeners: &[Listen]) -> io::Result<Server> {
        let routes = self.routes.clone();
        Server::start_on(config, listeners, move |_core| {
            // Each core gets its own copy of the tables and its own state, made on its thread:
            // matching never touches shared state.
            Rc::new(AppService(CoreApp::build(&routes)))
        })
    }

    /// Like [`listen`](Self::listen), serving TLS with `tls`: wss:// and https:// (TLS 1.3 and
    /// 1.2, ALPN `http/1.1`). For plain and TLS ports side by side in one server, see
    /// [`listen_with_tls`](Self::listen_with_tls). The returned server's
    /// [`reload_tls`](Server::reload_tls) replaces the certificate.
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
        let mut config = self.config.clone();
        config.tls = Some(tls);
        self.start(config, &[Listen::tls(addr)])
    }

    /// One server on two ports: plain ws:// and http:// on `addr`, wss:// and https:// with
    /// `tls` on `tls_addr`. Every core accepts on both; the routes, pub/sub topics (a message
    /// published by a wss:// client reaches the ws:// subscribers), metrics and shutdown are
    /// the one server's. [`Server::local_addr`] is the plain address, [`Server::tls_addr`]
    /// the TLS one (the real ports when port 0 was asked for);
    /// [`reload_tls`](Server::reload_tls) replaces the certificate.
    ///
    /// ```no_run
    /// # fn demo(app: imphnen::App) -> std::io::Result<()> {
    /// use imphnen::TlsConfig;
    /// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
    /// let server = app.listen_with_tls(8080, 8443, tls)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn listen_with_tls(
        &self,
        addr: impl ListenAddr,
        tls_addr: impl ListenAddr,
        tls: crate::TlsConfig,
    ) -> io::Result<Server> {
        let listeners = [
            Listen::plain(addr.socket_addr()?),
            Listen::tls(tls_addr.socket_addr()?),
        ];
        let mut config = self.config.clone();
        config.tls = Some(tls);
        self.start(config, &listeners)
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
        // Static files read in place on this thread: a turn sees the answer.
        crate::static_files::run_in_place_on_this_thread();
        Stepper::new(
            self.config.clone(),
            Rc::new(AppService(CoreApp::build(&self.routes))),
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
