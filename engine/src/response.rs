//! `Response`: what an HTTP handler returns: status, headers and a body.
//!
//! Building one allocates only for the body (and for headers other than `Content-Type`). The engine
//! serializes it with the protocol crate's writer straight into the connection's output; the
//! framing headers (`Content-Length`, `Date`, `Connection`) are the writer's job, not the user's.

use std::borrow::Cow;

use bytes::Bytes;
use imphnen_protocol::http::{DateCache, ResponseWriter, StatusCode};

/// An HTTP response.
///
/// ```
/// use imphnen_engine::Response;
/// let r = Response::text("hello").with_status(201).with_header("x-id", "7");
/// assert_eq!(r.status(), 201);
/// assert_eq!(r.body().as_ref(), b"hello");
/// assert_eq!(r.header("content-type"), Some(&b"text/plain; charset=utf-8"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct Response {
    status: u16,
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
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
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

    /// Replaces the status.
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header (names compare case-insensitively; the last one added wins for `header`).
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<HeaderValue>,
    ) -> Response {
        let name = name.into();
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

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The last value set for header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        if name.eq_ignore_ascii_case("content-type") {
            return self.content_type.as_deref();
        }
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
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
        let mut w = ResponseWriter::new(out, StatusCode(self.status), date);
        if let Some(ct) = &self.content_type {
            let _ = w.header("content-type", ct);
        }
        for (name, value) in &self.headers {
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

/// A header value: anything that turns into bytes (`&'static str`, `String`, `Vec<u8>`, ...).
pub struct HeaderValue(Cow<'static, [u8]>);

impl From<&'static str> for HeaderValue {
    fn from(v: &'static str) -> Self {
        HeaderValue(Cow::Borrowed(v.as_bytes()))
    }
}

impl From<String> for HeaderValue {
    fn from(v: String) -> Self {
        HeaderValue(Cow::Owned(v.into_bytes()))
    }
}

impl From<Vec<u8>> for HeaderValue {
    fn from(v: Vec<u8>) -> Self {
        HeaderValue(Cow::Owned(v))
    }
}

impl From<&'static [u8]> for HeaderValue {
    fn from(v: &'static [u8]) -> Self {
        HeaderValue(Cow::Borrowed(v))
    }
}
