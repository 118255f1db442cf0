//! Middleware: code that runs around every request's handler — and around every WebSocket
//! upgrade — in the order it was registered with [`App::middleware`](crate::App::middleware)
//! (imphnen.js's `app.use`). Each one gets the request's [`Ctx`] and the rest of the chain
//! ([`Next`]); it may answer early without calling `next`, or change what `next` answered.
//!
//! A middleware is a closure `Fn(Ctx, Next) -> Reply`, which answers without awaiting (no
//! future is allocated when the handler does not await either), or `Fn(Ctx, Next) -> impl
//! Future`, an `async` block that may await `next.run(ctx)` and anything else; or a type that
//! implements [`Middleware`] ([`Cors`], [`RequestLog`]).
//!
//! Around an upgrade, `ctx.is_upgrade()` is `true`; `next` runs the route's upgrade hook and
//! answers `101 Switching Protocols` when it accepts. A middleware may refuse instead (any
//! other response), or add header fields to the 101 (a cookie, say).
//!
//! Owns: the chain ([`Next`]), its answer ([`Reply`]) and the provided middleware. Does not own:
//! routing (the app's service) or the handlers.

mod cors;
mod log;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use imphnen_engine::{Call, LocalFuture, Response};

use crate::handler::{Ctx, IntoResponse};
use crate::marker::{Awaits, Implements, Returns};

pub use cors::Cors;
pub use log::RequestLog;

/// A route's end of the chain: its handler, or what answers when none does.
pub(crate) type Endpoint = Arc<dyn Fn(Ctx) -> Reply + Send + Sync>;

/// A middleware, type-erased.
pub(crate) type Erased = Arc<dyn Fn(Ctx, Next) -> Reply + Send + Sync>;

/// The middleware of an app, outermost first.
pub(crate) type Stack = Arc<[Erased]>;

/// Middleware as a type: what [`Cors`] and [`RequestLog`] implement, and what a middleware
/// with settings of its own may implement instead of being a closure.
pub trait Middleware: Send + Sync + 'static {
    /// Handles `ctx`: answers, or runs `next` and maybe changes its answer.
    fn call(&self, ctx: Ctx, next: Next) -> Reply;
}

/// What [`App::middleware`](crate::App::middleware) accepts: a [`Middleware`], or a closure
/// `Fn(Ctx, Next) -> Reply` or `Fn(Ctx, Next) -> impl Future<Output = impl IntoResponse>`.
/// The marker `M` only tells them apart.
pub trait IntoMiddleware<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_erased(self) -> Erased;
}

impl<T: Middleware> IntoMiddleware<Implements> for T {
    fn into_erased(self) -> Erased {
        Arc::new(move |ctx, next| self.call(ctx, next))
    }
}

impl<F> IntoMiddleware<Returns<Reply>> for F
where
    F: Fn(Ctx, Next) -> Reply + Send + Sync + 'static,
{
    fn into_erased(self) -> Erased {
        Arc::new(self)
    }
}

impl<F, Fut> IntoMiddleware<Awaits<Fut>> for F
where
    F: Fn(Ctx, Next) -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: IntoResponse,
{
    fn into_erased(self) -> Erased {
        Arc::new(move |ctx, next| {
            let fut = self(ctx, next);
            Reply(Call::Future(Box::pin(
                async move { fut.await.into_response() },
            )))
        })
    }
}

/// The rest of the chain after a middleware: the middleware registered after it, then the
/// handler.
pub struct Next {
    stack: Stack,
    index: usize,
    endpoint: Endpoint,
}

impl Next {
    /// Runs the rest of the chain for `ctx`. Await the [`Reply`] in an async middleware, or
    /// [`map`](Reply::map) it in one that answers without awaiting.
    pub fn run(self, ctx: Ctx) -> Reply {
        let stack = self.stack.clone();
        match stack.get(self.index) {
            Some(middleware) => middleware(
                ctx,
                Next {
                    index: self.index + 1,
                    ..self
                },
            ),
            None => (self.endpoint)(ctx),
        }
    }
}

/// Runs `ctx` through `stack`, then `endpoint`.
pub(crate) fn run(stack: &Stack, endpoint: &Endpoint, ctx: Ctx) -> Reply {
    if stack.is_empty() {
        return endpoint(ctx);
    }
    Next {
        stack: stack.clone(),
        index: 0,
        endpoint: endpoint.clone(),
    }
    .run(ctx)
}

/// `endpoint` behind `stack`: what a route of a nested app becomes, so that the nested app's
/// middleware runs for its own routes only.
pub(crate) fn wrap(stack: &Stack, endpoint: Endpoint) -> Endpoint {
    if stack.is_empty() {
        return endpoint;
    }
    let stack = stack.clone();
    Arc::new(move |ctx| run(&stack, &endpoint, ctx))
}

/// What a step of the chain answers: a response now, or a future of one. `.await` it, or
/// [`map`](Self::map) it.
///
/// ```
/// use std::time::Instant;
/// use imphnen::middleware::{Next, Reply};
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, Ctx};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// // Answers without awaiting: no future is allocated for a handler that does not await.
/// app.middleware(|ctx: Ctx, next: Next| {
///     let started = Instant::now();
///     next.run(ctx).map(move |res| {
///         res.with_header("server-timing", format!("app;dur={}", started.elapsed().as_micros()))
///     })
/// });
/// // Awaits: may do anything async before or after the rest of the chain.
/// app.middleware(|ctx: Ctx, next: Next| async move {
///     if ctx.header("x-api-key") == Some("secret") || ctx.path() == "/public" {
///         next.run(ctx).await
///     } else {
///         imphnen::Response::text("no key").with_status(401)
///     }
/// });
/// app.get("/public", |_: Ctx| "hello");
///
/// let server = TestServer::start(app)?;
/// let res = server.get("/public")?;
/// assert_eq!(res.text(), "hello");
/// assert!(res.header("server-timing").is_some());
/// assert_eq!(server.get("/private")?.status, 401);
/// # Ok(())
/// # }
/// ```
pub struct Reply(pub(crate) Call<Response>);

impl Reply {
    /// An answer that is already there (answering early, without running `next`).
    pub fn ready(response: impl IntoResponse) -> Reply {
        Reply(Call::Ready(response.into_response()))
    }

    /// The same answer, changed by `f` once it is there (at once when it already is).
    pub fn map(self, f: impl FnOnce(Response) -> Response + 'static) -> Reply {
        match self.0 {
            Call::Ready(response) => Reply(Call::Ready(f(response))),
            Call::Future(fut) => Reply(Call::Future(Box::pin(async move { f(fut.await) }))),
        }
    }

    /// The engine's form of the answer.
    pub(crate) fn into_call(self) -> Call<Response> {
        self.0
    }
}

impl<R: IntoResponse> From<R> for Reply {
    fn from(response: R) -> Reply {
        Reply::ready(response)
    }
}

impl IntoFuture for Reply {
    type Output = Response;
    type IntoFuture = ReplyFuture;

    fn into_future(self) -> ReplyFuture {
        ReplyFuture(match self.0 {
            Call::Ready(response) => Waiting::Ready(Some(response)),
            Call::Future(fut) => Waiting::Future(fut),
        })
    }
}

/// A [`Reply`] being awaited.
pub struct ReplyFuture(Waiting);

enum Waiting {
    Ready(Option<Response>),
    Future(LocalFuture<Response>),
}

impl Future for ReplyFuture {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        match &mut self.get_mut().0 {
            Waiting::Ready(response) => {
                Poll::Ready(response.take().expect("a reply is awaited once"))
            }
            Waiting::Future(fut) => fut.as_mut().poll(cx),
        }
    }
}
