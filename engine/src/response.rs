//! `Response`: what an HTTP handler returns: status, headers and a body.
//!
//! Building one allocates only for the body (and for headers other than `Content-Type`). The engine
//! serializes it with the protocol crate's writer straight into the connection's output; the
//! framing headers (`Content-Length`, `Date`, `Connection`) are the writer's job, not the user's.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::StatusCode;
use imphnen_protocol::http::{DateCache, ResponseWriter};

use crate::header::{AsHeaderName, HeaderValue, IntoHeaderName};

/// An HTTP response.
///
/// ```
/// use http::{StatusCode, header};
/// use imphnen_engine::Response;
/// let r = Response::text("hello").with_status(StatusCode::CREATED).with_header("x-id", "7");
/// assert_eq!(r.status(), 201);
/// assert_eq!(r.header(header::CONTENT_LENGTH), None); // framing is the writer's job
/// assert_eq!(r.body().as_ref(), b"hello");
/// assert_eq!(r.header("content-type"), Some(&b"text/plain; charset=utf-8"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct Response {
    status: StatusCode,
    /// Kept apart from `headers`: nearly every response has one, and this way it costs no
    /// allocation and keeps the struct small (it is moved through the handler's future).
    content_type: Option<Cow<'static, [u8]>>,
    headers: Vec<Header>,
    body: Bytes,
    /// The `Content-Length` announced to a HEAD request when the body was not produced (a
    /// static file answers HEAD without reading it); `None`: the body's own length.
    head_length: Option<u64>,
}

/// One response header field: name and value.
type Header = (Cow<'static, str>, Cow<'static, [u8]>);

impl Default for Response {
    fn default() -> Self {
        Response::new(200)
    }
}

impl Response {
    /// An empty response with `status`: a [`StatusCode`] or its number.
    ///
    /// # Panics
    /// When a number is not a status code (`100..=999`): a bug in the program, which a
    /// handler's panic turns into a `500`.
    pub fn new<S>(status: S) -> Response
    where
        S: TryInto<StatusCode>,
        S::Error: fmt::Debug,
    {
        Response {
            status: status_code(status),
            content_type: None,
            headers: Vec::new(),
            body: Bytes::new(),
            head_length: None,
        }
    }

    /// `200` with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into())
    }

    /// `200` with a `text/html; charset=utf-8` body.
    pub fn html(body: impl Into<String>) -> Response {
        Response::new(200)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_body(body.into())
    }

    /// `200` with an `application/json` body that is already serialized.
    pub fn json_bytes(body: impl Into<Bytes>) -> Response {
        Response::new(200)
            .with_header("content-type", "application/json")
            .with_body(body)
    }

    /// A redirect (`302 Found`) to `location`.
    pub fn redirect(location: impl Into<String>) -> Response {
        Response::new(302).with_header("location", location.into())
    }

    /// Replaces the status ([`StatusCode`] or its number; panics as [`new`](Self::new)).
    pub fn with_status<S>(mut self, status: S) -> Response
    where
        S: TryInto<StatusCode>,
        S::Error: fmt::Debug,
    {
        self.status = status_code(status);
        self
    }

    /// Adds a header: the name a `&str` or an `http::HeaderName` (`header::CACHE_CONTROL`),
    /// the value a string, bytes or an `http::HeaderValue`. Names compare case-insensitively;
    /// the last one added wins for [`header`](Self::header).
    pub fn with_header(
        mut self,
        name: impl IntoHeaderName,
        value: impl Into<HeaderValue>,
    ) -> Response {
        let name = name.into_header_name();
        let value = value.into().0;
        if name.eq_ignore_ascii_case("content-type") {
            self.content_type = Some(value);
        } else {
            self.headers.push((name, value));
        }
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = body.into();
        self
    }

    /// For an answer to `HEAD` built without its body: the `Content-Length` to announce,
    /// the length the body would have had (RFC 9110 §9.3.2). Ignored when the request was not
    /// `HEAD`, where the body's own length is sent.
    pub fn with_head_length(mut self, length: u64) -> Response {
        self.head_length = Some(length);
        self
    }

    /// The status code (it compares with a number too: `res.status() == 404`).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The last value set for header `name` (a `&str` or an `http::HeaderName`).
    pub fn header(&self, name: impl AsHeaderName) -> Option<&[u8]> {
        let name = name.as_header_name();
        if name.eq_ignore_ascii_case("content-type") {
            return self.content_type.as_deref();
        }
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Every header field set, in order (`Content-Type` first), as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let content_type = self.content_type.as_deref().map(|v| ("content-type", v));
        content_type
            .into_iter()
            .chain(self.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
    }

    /// Removes every field named `name`.
    pub fn remove_header(&mut self, name: impl AsHeaderName) {
        let name = name.as_header_name();
        if name.eq_ignore_ascii_case("content-type") {
            self.content_type = None;
        } else {
            self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Serializes into `out`. `head_only` answers a HEAD request (headers with the body's
    /// length, no body); `close` adds `Connection: close`. A header the writer refuses (a control
    /// byte in a value, or a framing header) is left out rather than splitting the response.
    pub(crate) fn write_to(
        &self,
        out: &mut Vec<u8>,
        date: &DateCache,
        head_only: bool,
        close: bool,
    ) {
        let status = imphnen_protocol::http::StatusCode(self.status.as_u16());
        let mut w = ResponseWriter::new(out, status, date);
        if let Some(ct) = &self.content_type {
            let _ = w.header("content-type", ct);
        }
        for (name, value) in &self.headers {
            if close && name.eq_ignore_ascii_case("connection") && !lists_close(value) {
                // The writer's own `Connection: close` gives way to the handler's field, which
                // must then carry the option (RFC 9112 §9.6: the peer learns of the close).
                let mut options = value.to_vec();
                options.extend_from_slice(b", close");
                let _ = w.header(name, &options);
                continue;
            }
            let _ = w.header(name, value);
        }
        if close {
            w.close();
        }
        if head_only {
            w.head_only(self.head_length.unwrap_or(self.body.len() as u64));
        } else {
            w.body(&self.body);
        }
    }
}

/// `true` when a `Connection` field value lists the `close` option.
fn lists_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// The status a handler asked for.
fn status_code<S>(status: S) -> StatusCode
where
    S: TryInto<StatusCode>,
    S::Error: fmt::Debug,
{
    status
        .try_into()
        .expect("a status code is a number in 100..=999")
}

/// An `http::Response` becomes a response (header fields that are not valid UTF-8 names are
/// impossible there; values are kept as bytes).
impl<B: Into<Bytes>> From<http::Response<B>> for Response {
    fn from(res: http::Response<B>) -> Response {
        let (parts, body) = res.into_parts();
        let mut out = Response::new(parts.status).with_body(body.into());
        for (name, value) in &parts.headers {
            out = out.with_header(name, value);
        }
        out
    }
}

/// A response as an `http::Response` (for tests written with the ecosystem's tools); a header
/// the `http` crate would refuse is left out.
impl From<Response> for http::Response<Bytes> {
    fn from(res: Response) -> http::Response<Bytes> {
        let mut out = http::Response::new(res.body.clone());
        *out.status_mut() = res.status;
        for (name, value) in res.headers() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value),
            ) {
                out.headers_mut().append(name, value);
            }
        }
        out
    }
}
