//! HTTP handlers: the request context, the handler trait for sync and async closures, and
//! conversions into a response.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http::{Method, StatusCode, Uri};
use imphnen_engine::{AsHeaderName, Call, Publisher, Request, Response};
use imphnen_router::{Params, Query};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::JsonRejection;
use crate::marker::{Awaits, Returns};
use crate::service::{CoreApp, UpgradeSlot};

/// The context of one HTTP request: what came in (method, path, params, query, headers, body,
/// remote address) and helpers that build the response (`json`, `text`, `html`, `redirect`).
///
/// ```
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, Ctx};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// app.get("/api/messages/:roomId", |ctx: Ctx| {
///     let room = ctx.param("roomId").unwrap_or_default().into_owned();
///     ctx.json(&serde_json::json!({ "room": room, "messages": [] }))
/// });
///
/// let server = TestServer::start(app)?;
/// let res = server.get("/api/messages/lobby")?;
/// assert_eq!(res.status, 200);
/// assert_eq!(res.header("content-type"), Some("application/json"));
/// assert_eq!(res.text(), r#"{"messages":[],"room":"lobby"}"#);
/// # Ok(())
/// # }
/// ```
pub struct Ctx {
    request: Request,
    app: Rc<CoreApp>,
    /// Set for a WebSocket upgrade request: what accepting it needs.
    upgrade: Option<Box<UpgradeSlot>>,
}

impl Ctx {
    pub(crate) fn new(
        request: Request,
        app: Rc<CoreApp>,
        upgrade: Option<Box<UpgradeSlot>>,
    ) -> Ctx {
        Ctx {
            request,
            app,
            upgrade,
        }
    }

    /// The method (compares with `"GET"` as well as with `Method::GET`).
    pub fn method(&self) -> &Method {
        self.request.method()
    }

    /// The request path (still percent-encoded).
    pub fn path(&self) -> &str {
        self.request.path()
    }

    /// The request target (path and query) as an `http::Uri`; `None` for a target the `http`
    /// crate cannot represent.
    pub fn uri(&self) -> Option<Uri> {
        self.request.uri()
    }

    /// The route parameters, percent-decoded on access; `params().parse::<T>()` for a struct.
    /// Empty when no route matched (in a fallback or a middleware answering a 404).
    pub fn params(&self) -> Params<'_, '_> {
        self.app
            .params(self.request.path(), self.upgrade.is_some())
            .unwrap_or_default()
    }

    /// The app's state of type `S`, registered with [`App::with_state`](crate::App::with_state)
    /// (shared by the whole server) or [`App::per_core`](crate::App::per_core) (this core's
    /// own).
    ///
    /// # Panics
    /// When no state of type `S` was registered (see [`try_state`](Self::try_state)).
    pub fn state<S: 'static>(&self) -> &S {
        self.app.states.expect()
    }

    /// The app's state of type `S`, if one was registered.
    pub fn try_state<S: 'static>(&self) -> Option<&S> {
        self.app.states.get()
    }

    /// `true` for a WebSocket upgrade request (seen by middleware, before the route's hook).
    pub fn is_upgrade(&self) -> bool {
        self.upgrade.is_some()
    }

    /// The request and what accepting its upgrade needs (for the app's upgrade endpoint).
    pub(crate) fn into_upgrade(self) -> (Request, Option<Box<UpgradeSlot>>, Rc<CoreApp>) {
        (self.request, self.upgrade, self.app)
    }

    /// One route parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params().get(name)
    }

    /// The query string's pairs; `query().parse::<T>()` for a struct.
    pub fn query(&self) -> Query<'_> {
        Query::new(self.request.query().unwrap_or(""))
    }

    /// The first value of header `name`: a `&str` (case-insensitive) or an `http::HeaderName`
    /// (`header::AUTHORIZATION`).
    pub fn header(&self, name: impl AsHeaderName) -> Option<&str> {
        self.request.header(name)
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.request.headers()
    }

    /// The request body: `body().bytes()`, `body().text()`, `body().json::<T>()`.
    pub fn body(&self) -> Body<'_> {
        Body {
            bytes: self.request.body(),
            content_type: self.header(http::header::CONTENT_TYPE),
        }
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.request.remote_addr()
    }

    /// Publishes to WebSocket topics from this handler (`ctx.publisher().publish(topic, msg)`).
    pub fn publisher(&self) -> Publisher {
        Publisher::current().expect("HTTP handlers run on a core of the server")
    }

    /// The underlying request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// `200` with `value` as JSON (`500` if it cannot be serialized).
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Response {
        json_response(value)
    }

    /// `200` with a plain-text body.
    pub fn text(&self, body: impl Into<String>) -> Response {
        Response::text(body)
    }

    /// `200` with an HTML body.
    pub fn html(&self, body: impl Into<String>) -> Response {
        Response::html(body)
    }

    /// `302 Found` to `location`.
    pub fn redirect(&self, location: impl Into<String>) -> Response {
        Response::redirect(location)
    }
}

/// The body of a request.
///
/// ```
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, Ctx, Error};
///
/// #[derive(serde::Deserialize)]
/// struct Note {
///     text: String,
/// }
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// app.post("/notes", |ctx: Ctx| -> Result<String, Error> {
///     let note: Note = ctx.body().json()?;
///     Ok(format!("noted: {}", note.text))
/// });
///
/// let server = TestServer::start(app)?;
/// let res = server.post_json("/notes", br#"{"text":"milk"}"#)?;
/// assert_eq!(res.text(), "noted: milk");
/// assert_eq!(server.post_json("/notes", b"{oops")?.status, 400);
/// let wrong = server.post_json("/notes", br#"{"txt":"milk"}"#)?;
/// assert_eq!(wrong.status, 422);
/// assert_eq!(wrong.text(), r#"{"error":"missing field `text` at line 1 column 14","field":"."}"#);
/// assert_eq!(server.request("POST", "/notes", br#"{"text":"milk"}"#)?.status, 415);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct Body<'a> {
    bytes: &'a Bytes,
    content_type: Option<&'a str>,
}

impl<'a> Body<'a> {
    /// The raw bytes.
    pub fn bytes(&self) -> &'a Bytes {
        self.bytes
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&'a str, std::str::Utf8Error> {
        std::str::from_utf8(self.bytes)
    }

    /// The body deserialized from JSON, for a request whose `Content-Type` is
    /// `application/json` (or `application/*+json`). A [`JsonRejection`] answers 415 (another
    /// content type), 400 (not JSON) or 422 (the wrong shape, naming the field); `?` in a
    /// handler returning [`Error`](crate::Error) sends it as it is.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, JsonRejection> {
        crate::error::read_json(self.content_type, self.bytes)
    }
}

/// Anything a handler may return: a [`Response`], text, an [`Error`](crate::Error), or a
/// `Result` of two of them.
///
/// ```
/// use imphnen::{Error, IntoResponse, Response};
///
/// assert_eq!("hello".into_response().status(), 200);
/// assert_eq!((404, "no such room".to_owned()).into_response().status(), 404);
/// let failed: Result<Response, Error> = Err(std::fmt::Error.into());
/// assert_eq!(failed.into_response().status(), 500);
/// ```
pub trait IntoResponse {
    /// The response to send.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for (u16, String) {
    fn into_response(self) -> Response {
        Response::text(self.1).with_status(self.0)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

/// The status with any other answer's body and headers (`(StatusCode::CREATED, Json(item))`).
impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

impl<B: Into<Bytes>> IntoResponse for http::Response<B> {
    fn into_response(self) -> Response {
        Response::from(self)
    }
}

/// A value sent as JSON: `Json(value)` answers `200` with `application/json` (`500` when it
/// cannot be serialized).
///
/// ```
/// use imphnen::http::StatusCode;
/// use imphnen::{IntoResponse, Json};
///
/// let res = (StatusCode::CREATED, Json(vec![1, 2, 3])).into_response();
/// assert_eq!(res.status(), 201);
/// assert_eq!(res.body().as_ref(), b"[1,2,3]");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        json_response(&self.0)
    }
}

fn json_response<T: Serialize + ?Sized>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::json_bytes(body),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize a JSON response; answering 500");
            Response::new(500)
        }
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// An HTTP handler: a closure `Fn(Ctx) -> impl IntoResponse`, or `Fn(Ctx) -> impl Future`
/// whose output is `impl IntoResponse`. The marker `M` only tells the two apart.
///
/// A handler is registered once and shared by every core, so it is `Send + Sync` (as in
/// axum); its futures run on one core and need not be `Send`. What a handler would capture
/// and mutate goes into state instead: [`App::per_core`](crate::App::per_core) for values each
/// core keeps to itself without a lock, [`App::with_state`](crate::App::with_state) for one
/// shared value.
///
/// ```
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, Ctx};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// app.get("/sync", |ctx: Ctx| ctx.text("right away"));
/// app.get("/async", |ctx: Ctx| async move {
///     monoio::time::sleep(std::time::Duration::from_millis(1)).await;
///     ctx.text("after a while")
/// });
///
/// let server = TestServer::start(app)?;
/// assert_eq!(server.get("/sync")?.text(), "right away");
/// assert_eq!(server.get("/async")?.text(), "after a while");
/// # Ok(())
/// # }
/// ```
pub trait HttpHandler<M>: Send + Sync + 'static {
    /// Runs the handler: a synchronous one answers at once with its response, an async one
    /// with its future.
    #[doc(hidden)]
    fn call(&self, ctx: Ctx) -> Call<Response>;
}

impl<F, R> HttpHandler<Returns<R>> for F
where
    F: Fn(Ctx) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, ctx: Ctx) -> Call<Response> {
        Call::Ready(self(ctx).into_response())
    }
}

impl<F, Fut> HttpHandler<Awaits<Fut>> for F
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: IntoResponse,
{
    fn call(&self, ctx: Ctx) -> Call<Response> {
        let fut = self(ctx);
        Call::Future(Box::pin(async move { fut.await.into_response() }))
    }
}
