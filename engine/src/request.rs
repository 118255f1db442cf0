//! `Request`: an owned copy of one HTTP request (head and body) handed to the application.
//!
//! The head is copied once into a single buffer and fields are kept as offsets into it, so a
//! request costs one allocation for the head plus the body, and handlers can hold it across
//! `.await` points while the core reuses its read buffer.

use std::net::SocketAddr;
use std::ops::Range;

use bytes::Bytes;
use imphnen_protocol::http::{Method, RequestHead, Version};
use smallvec::SmallVec;

use crate::header::AsHeaderName;

type Span = Range<u32>;

/// An HTTP request: method, target, headers, body and the peer's address.
///
/// [`to_http`](Self::to_http) copies one into an `http::Request`; there is no conversion the
/// other way. A `Request` is what the engine read from a connection: the head's bytes as they
/// arrived, its fields offsets into them, and the peer's address, which an `http::Request`
/// does not carry and a conversion would have to invent. Nothing in the API takes a request
/// built by hand either: handlers are reached through a connection. To run an `http::Request`
/// through an application, send it over one: imphnen's `TestServer::send_http`.
#[derive(Clone, Debug)]
pub struct Request {
    raw: Box<[u8]>,
    method: http::Method,
    path: Span,
    query: Option<Span>,
    http10: bool,
    headers: SmallVec<[(Span, Span); 12]>,
    body: Bytes,
    remote_addr: SocketAddr,
}

impl Request {
    /// Copies `head` (which borrows `buf`, the bytes of the head) into an owned request.
    pub(crate) fn from_head(
        head: &RequestHead<'_>,
        buf: &[u8],
        body: Bytes,
        remote_addr: SocketAddr,
    ) -> Request {
        let base = buf.as_ptr() as usize;
        // Every slice of the head borrows `buf`; its offset is its address minus the base.
        let span = |s: &[u8]| -> Span {
            let start = (s.as_ptr() as usize).wrapping_sub(base);
            assert!(
                start + s.len() <= buf.len(),
                "a request head slice outside its buffer"
            );
            start as u32..(start + s.len()) as u32
        };
        let method = match head.method() {
            Method::Get => http::Method::GET,
            Method::Head => http::Method::HEAD,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Delete => http::Method::DELETE,
            Method::Connect => http::Method::CONNECT,
            Method::Options => http::Method::OPTIONS,
            Method::Trace => http::Method::TRACE,
            Method::Patch => http::Method::PATCH,
            // httparse admits only a token (RFC 9110 §9.1), which `http::Method` accepts too;
            // this runs inside the request's `catch_unwind` anyway.
            Method::Other(token) => http::Method::from_bytes(token.as_bytes())
                .expect("a method token is a valid http::Method"),
        };
        // The absolute-form's empty path (`http://host`) is `/` (RFC 9112 §3.2.2), which
        // `head.path()` gives as a string of no buffer: it is kept as an empty span, which
        // `path` reads as `/` (every other target's path has at least one byte).
        let path = head.path();
        let path_in_buf = (path.as_ptr() as usize)
            .checked_sub(base)
            .is_some_and(|start| start <= buf.len() && path.len() <= buf.len() - start);
        let path = if path_in_buf {
            span(path.as_bytes())
        } else {
            0..0
        };
        let headers = head
            .headers()
            .iter()
            .map(|f| (span(f.name.as_bytes()), span(f.value)))
            .collect();
        Request {
            raw: buf.into(),
            method,
            path,
            query: head.query().map(|q| span(q.as_bytes())),
            http10: head.version() == Version::Http10,
            headers,
            body,
            remote_addr,
        }
    }

    /// The same request with `body`.
    pub(crate) fn with_body(mut self, body: Bytes) -> Request {
        self.body = body;
        self
    }

    fn str_at(&self, s: &Span) -> &str {
        // The spans were taken from `&str` slices of these very bytes.
        std::str::from_utf8(&self.raw[s.start as usize..s.end as usize]).unwrap_or("")
    }

    /// The method (`http::Method` compares with `"GET"` as well as with `Method::GET`).
    pub fn method(&self) -> &http::Method {
        &self.method
    }

    /// The path of the request target, without the query string (still percent-encoded).
    pub fn path(&self) -> &str {
        match self.str_at(&self.path) {
            "" => "/",
            path => path,
        }
    }

    /// The request target (path and query) as an `http::Uri`; `None` for a target the `http`
    /// crate cannot represent (bytes it refuses that RFC 9112 parsing let through).
    pub fn uri(&self) -> Option<http::Uri> {
        let target = match self.query() {
            Some(q) => format!("{}?{q}", self.path()),
            None => self.path().to_owned(),
        };
        http::Uri::try_from(target).ok()
    }

    /// A copy of the request as an `http::Request`, for code written against the ecosystem's
    /// types. A field the `http` crate would refuse is left out; a target it cannot represent
    /// becomes `/`.
    pub fn to_http(&self) -> http::Request<Bytes> {
        let mut out = http::Request::new(self.body.clone());
        *out.method_mut() = self.method.clone();
        *out.uri_mut() = self.uri().unwrap_or_else(|| http::Uri::from_static("/"));
        *out.version_mut() = if self.http10 {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        };
        for (name, value) in self.headers() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value),
            ) {
                out.headers_mut().append(name, value);
            }
        }
        out
    }

    /// The raw query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_ref().map(|q| self.str_at(q))
    }

    /// `true` for an HTTP/1.0 request.
    pub fn is_http10(&self) -> bool {
        self.http10
    }

    /// The first value of header `name` (case-insensitive; a `&str` or an `http::HeaderName`
    /// such as `header::CONTENT_TYPE`), if it is valid UTF-8.
    pub fn header(&self, name: impl AsHeaderName) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of header `name` (case-insensitive) as bytes.
    pub fn header_bytes(&self, name: impl AsHeaderName) -> Option<&[u8]> {
        let name = name.as_header_name();
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header as (name, value bytes), in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|(n, v)| (self.str_at(n), &self.raw[v.start as usize..v.end as usize]))
    }

    /// The request body (empty when there is none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }
}
