//! Cross-Origin Resource Sharing (the Fetch standard's CORS protocol): which other sites' pages
//! may read this server's responses, answered per request.
//!
//! A browser asks first with a *preflight* (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) before a request that is not "simple"; this middleware
//! answers it with `204` and the allowed methods and headers, without running the route. On
//! every other request that carries an `Origin`, the route's response gets
//! `Access-Control-Allow-Origin` when the origin is allowed. `Vary` names the request fields the
//! answer depends on, so that caches keep one answer per origin. WebSocket upgrades pass through
//! untouched: browsers do not apply CORS to them (see `WsConfig::allowed_origins`).

use std::time::Duration;

use http::{HeaderName, Method, header};
use imphnen_engine::Response;

use super::{Middleware, Next, Reply};
use crate::handler::Ctx;

/// The CORS middleware (see the module documentation). Built with the methods below, then
/// registered with [`App::middleware`](crate::App::middleware).
///
/// ```
/// use std::time::Duration;
/// use imphnen::http::{Method, header};
/// use imphnen::middleware::Cors;
/// use imphnen::{App, Config, Ctx};
///
/// let mut app = App::new(Config::default());
/// app.middleware(
///     Cors::new()
///         .allow_origins(["https://app.example"])
///         .allow_methods([Method::GET, Method::POST, Method::DELETE])
///         .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
///         .allow_credentials(true)
///         .max_age(Duration::from_secs(600)),
/// );
/// app.get("/api/me", |_: Ctx| "{}");
/// ```
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Origins,
    methods: String,
    headers: Headers,
    expose: String,
    credentials: bool,
    max_age: Option<Duration>,
}

#[derive(Clone, Debug)]
enum Origins {
    Any,
    List(Vec<String>),
}

#[derive(Clone, Debug)]
enum Headers {
    /// Whatever the preflight asks for.
    Any,
    List(String),
}

impl Default for Cors {
    fn default() -> Self {
        Cors::new()
    }
}

impl Cors {
    /// Allows nothing yet: no origin; methods `GET`, `HEAD`, `POST`; no request header beyond
    /// the CORS-safelisted ones; no credentials.
    pub fn new() -> Cors {
        Cors {
            origins: Origins::List(Vec::new()),
            methods: "GET, HEAD, POST".into(),
            headers: Headers::List(String::new()),
            expose: String::new(),
            credentials: false,
            max_age: None,
        }
    }

    /// Any origin, any request header, the methods `GET`, `HEAD`, `POST`, `PUT`, `PATCH`,
    /// `DELETE`; no credentials: for a public API.
    pub fn permissive() -> Cors {
        Cors::new()
            .allow_any_origin()
            .allow_any_header()
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
    }

    /// Allows pages of every origin (`Access-Control-Allow-Origin: *`).
    ///
    /// # Panics
    /// With [`allow_credentials`](Self::allow_credentials): the Fetch standard refuses `*`
    /// for credentialed requests, and echoing every origin instead would let any site read
    /// the user's data.
    pub fn allow_any_origin(mut self) -> Cors {
        assert!(
            !self.credentials,
            "imphnen: CORS cannot allow every origin with credentials; list the origins"
        );
        self.origins = Origins::Any;
        self
    }

    /// Allows pages of these origins (`"https://app.example"`: scheme, host and a port that
    /// is not the scheme's default, compared case-insensitively).
    pub fn allow_origins<I, S>(mut self, origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Origins::List(origins.into_iter().map(Into::into).collect());
        self
    }

    /// The methods a preflight allows.
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Cors {
        self.methods = join(methods.into_iter().map(|m| m.as_str().to_owned()));
        self
    }

    /// The request header fields a preflight allows.
    pub fn allow_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Cors {
        self.headers = Headers::List(join(headers.into_iter().map(|h| h.as_str().to_owned())));
        self
    }

    /// Allows whatever request header fields a preflight asks for.
    pub fn allow_any_header(mut self) -> Cors {
        self.headers = Headers::Any;
        self
    }

    /// Response header fields a page may read beyond the safelisted ones.
    pub fn expose_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Cors {
        self.expose = join(headers.into_iter().map(|h| h.as_str().to_owned()));
        self
    }

    /// Allows requests with credentials (cookies, HTTP authentication):
    /// `Access-Control-Allow-Credentials: true`, and the origin named rather than `*`.
    ///
    /// # Panics
    /// After [`allow_any_origin`](Self::allow_any_origin) (see there).
    pub fn allow_credentials(mut self, allow: bool) -> Cors {
        assert!(
            !(allow && matches!(self.origins, Origins::Any)),
            "imphnen: CORS cannot allow every origin with credentials; list the origins"
        );
        self.credentials = allow;
        self
    }

    /// How long a browser may keep a preflight's answer (`Access-Control-Max-Age`).
    pub fn max_age(mut self, max_age: Duration) -> Cors {
        self.max_age = Some(max_age);
        self
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    fn allowed_origin(&self, origin: &str) -> Option<String> {
        match &self.origins {
            Origins::Any => Some("*".into()),
            Origins::List(list) => list
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| origin.to_owned()),
        }
    }

    /// `Vary: Origin` unless every origin gets the same `*`.
    fn varies_by_origin(&self) -> bool {
        !matches!(self.origins, Origins::Any)
    }

    /// The answer to a preflight from `origin`.
    fn preflight(&self, ctx: &Ctx, origin: &str) -> Response {
        let mut res = Response::new(204).with_header(
            header::VARY,
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        );
        let Some(allowed) = self.allowed_origin(origin) else {
            // No allow fields: the browser refuses the request it meant to send.
            return res;
        };
        res = res
            .with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed)
            .with_header(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        let headers = match &self.headers {
            Headers::Any => ctx
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .unwrap_or("")
                .to_owned(),
            Headers::List(list) => list.clone(),
        };
        if !headers.is_empty() {
            res = res.with_header(header::ACCESS_CONTROL_ALLOW_HEADERS, headers);
        }
        if self.credentials {
            res = res.with_header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        if let Some(age) = self.max_age {
            res = res.with_header(header::ACCESS_CONTROL_MAX_AGE, age.as_secs().to_string());
        }
        res
    }
}

impl Middleware for Cors {
    fn call(&self, ctx: Ctx, next: Next) -> Reply {
        if ctx.is_upgrade() {
            return next.run(ctx);
        }
        let Some(origin) = ctx.header(header::ORIGIN).map(str::to_owned) else {
            let vary = self.varies_by_origin();
            return next
                .run(ctx)
                .map(move |res| if vary { add_vary(res, "Origin") } else { res });
        };
        let is_preflight = ctx.method() == Method::OPTIONS
            && ctx.header(header::ACCESS_CONTROL_REQUEST_METHOD).is_some();
        if is_preflight {
            return Reply::ready(self.preflight(&ctx, &origin));
        }
        let allowed = self.allowed_origin(&origin);
        let vary = self.varies_by_origin();
        let credentials = self.credentials;
        let expose = (!self.expose.is_empty()).then(|| self.expose.clone());
        next.run(ctx).map(move |mut res| {
            if vary {
                res = add_vary(res, "Origin");
            }
            let Some(allowed) = allowed else {
                return res;
            };
            res = res.with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            if credentials {
                res = res.with_header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            }
            if let Some(expose) = expose {
                res = res.with_header(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose);
            }
            res
        })
    }
}

/// `field` added to the response's `Vary` list.
fn add_vary(res: Response, field: &'static str) -> Response {
    let value = match res.header(header::VARY) {
        Some(v)
            if v.split(|&b| b == b',')
                .any(|f| f.trim_ascii().eq_ignore_ascii_case(field.as_bytes())) =>
        {
            return res;
        }
        Some(v) => format!("{}, {field}", String::from_utf8_lossy(v)),
        None => field.to_owned(),
    };
    let mut res = res;
    res.remove_header(header::VARY);
    res.with_header(header::VARY, value)
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
