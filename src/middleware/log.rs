//! Request logging: one `tracing` event per request, once its response is decided.

use std::time::Instant;

use super::{Middleware, Next, Reply};
use crate::handler::Ctx;

/// Logs one event per request (and per WebSocket upgrade) at `INFO` with target
/// `imphnen::request`: `method`, `path`, `status`, `micros` (from the request reaching the
/// app to its response being ready: the app's time, not the network's) and `peer`. With no
/// subscriber listening at that level it costs one check per request.
///
/// ```
/// use imphnen::middleware::RequestLog;
/// use imphnen::{App, Config, Ctx};
///
/// let mut app = App::new(Config::default());
/// app.middleware(RequestLog::new()); // first: it sees every answer, early ones included
/// app.get("/", |_: Ctx| "hello");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLog {
    _private: (),
}

impl RequestLog {
    /// The request log.
    pub fn new() -> RequestLog {
        RequestLog::default()
    }
}

impl Middleware for RequestLog {
    fn call(&self, ctx: Ctx, next: Next) -> Reply {
        if !tracing::enabled!(target: "imphnen::request", tracing::Level::INFO) {
            return next.run(ctx);
        }
        let started = Instant::now();
        let method = ctx.method().clone();
        let path = ctx.path().to_owned();
        let peer = ctx.remote_addr();
        next.run(ctx).map(move |res| {
            tracing::info!(
                target: "imphnen::request",
                method = %method,
                path = %path,
                status = res.status().as_u16(),
                micros = started.elapsed().as_micros() as u64,
                %peer,
                "request"
            );
            res
        })
    }
}
