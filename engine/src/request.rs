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

type Span = Range<u32>;

/// The method: a standard token is a static string, any other is kept in the head bytes.
#[derive(Clone, Debug)]
enum MethodName {
    Known(&'static str),
    Other(Span),
}

/// An HTTP request: method, target, headers, body and the peer's address.
#[derive(Clone, Debug)]
pub struct Request {
    raw: Box<[u8]>,
    method: MethodName,
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
            Method::Get => MethodName::Known("GET"),
            Method::Head => MethodName::Known("HEAD"),
            Method::Post => MethodName::Known("POST"),
            Method::Put => MethodName::Known("PUT"),
            Method::Delete => MethodName::Known("DELETE"),
            Method::Connect => MethodName::Known("CONNECT"),
            Method::Options => MethodName::Known("OPTIONS"),
            Method::Trace => MethodName::Known("TRACE"),
            Method::Patch => MethodName::Known("PATCH"),
            Method::Other(token) => MethodName::Other(span(token.as_bytes())),
        };
        let headers = head
            .headers()
            .iter()
            .map(|f| (span(f.name.as_bytes()), span(f.value)))
            .collect();
        Request {
            raw: buf.into(),
            method,
            path: span(head.path().as_bytes()),
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

    /// The method token, e.g. `"GET"`.
    pub fn method(&self) -> &str {
        match &self.method {
            MethodName::Known(m) => m,
            MethodName::Other(s) => self.str_at(s),
        }
    }

    /// The path of the request target, without the query string (still percent-encoded).
    pub fn path(&self) -> &str {
        self.str_at(&self.path)
    }

    /// The raw query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_ref().map(|q| self.str_at(q))
    }

    /// `true` for an HTTP/1.0 request.
    pub fn is_http10(&self) -> bool {
        self.http10
    }

    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of header `name` (case-insensitive) as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
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
