//! The one-request HTTP client: a request on a fresh connection, its response read whole,
//! as a [`TestResponse`] or an `http::Response`.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, StatusCode, Version};

use super::{DEFAULT_TIMEOUT, MAX_HEAD, invalid, read_some};

/// An HTTP response read by [`TestServer::get`](super::TestServer::get) or
/// [`TestServer::request`](super::TestServer::request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// Every header, in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection (`Connection: close`), its response read whole.
pub(super) fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<TestResponse> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let raw = exchange(addr, &bytes, method == "HEAD")?;
    Ok(TestResponse {
        status: raw.status,
        headers: raw
            .headers
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
            .collect(),
        body: raw.body,
    })
}

/// `req` sent on a fresh connection to `addr`, its response read whole. The head is written
/// as given (HTTP/1.0 or HTTP/1.1, the target's path and query), adding `Host` (the URI's
/// authority, else `addr`), `Connection: close` and `Content-Length` when `req` has none.
pub(super) fn send_http<B: Into<Bytes>>(
    addr: SocketAddr,
    req: http::Request<B>,
) -> io::Result<http::Response<Bytes>> {
    let (parts, body) = req.into_parts();
    let body: Bytes = body.into();
    let version = match parts.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{other:?} is not HTTP/1.x"),
            ));
        }
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());

    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("{} {target} {version}\r\n", parts.method).as_bytes());
    let mut field = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    let headers = &parts.headers;
    if !headers.contains_key(HOST) {
        let host = match parts.uri.authority() {
            Some(authority) => authority.to_string(),
            None => addr.to_string(),
        };
        field(b"host", host.as_bytes());
    }
    for (name, value) in headers {
        field(name.as_str().as_bytes(), value.as_bytes());
    }
    if !headers.contains_key(CONNECTION) {
        field(b"connection", b"close");
    }
    let framed = headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING);
    let may_have_body = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if !framed && (!body.is_empty() || may_have_body) {
        field(b"content-length", body.len().to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);

    let raw = exchange(addr, &out, parts.method == Method::HEAD)?;
    let mut res = http::Response::new(Bytes::from(raw.body));
    *res.status_mut() = StatusCode::from_u16(raw.status).map_err(invalid)?;
    *res.version_mut() = if raw.http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    for (name, value) in raw.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(invalid)?;
        let value = http::HeaderValue::from_bytes(&value).map_err(invalid)?;
        res.headers_mut().append(name, value);
    }
    Ok(res)
}

/// A final response as it was read.
struct RawResponse {
    http10: bool,
    status: u16,
    /// Every header field, in order, as received.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// Writes `request` (head and body) on a fresh connection to `addr` and reads the final
/// response (interim `1xx` ones are skipped). `head` says the request was `HEAD`, whose answer
/// has no body.
fn exchange(addr: SocketAddr, request: &[u8], head: bool) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
    stream.write_all(request)?;

    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    let mut buf = Vec::new();
    loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut slots);
        let parsed = resp.parse(&buf).map_err(invalid)?;
        let head_len = match parsed {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial if buf.len() > MAX_HEAD => {
                return Err(invalid("response head too large"));
            }
            httparse::Status::Partial => {
                read_some(&mut stream, &mut buf, deadline)?;
                continue;
            }
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) {
            // An interim response (100 Continue): the final one follows.
            buf.drain(..head_len);
            continue;
        }
        let http10 = resp.version == Some(0);
        let headers: Vec<(String, Vec<u8>)> = resp
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok());
        let body = if head || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(length) = length {
            while buf.len() < head_len + length {
                read_some(&mut stream, &mut buf, deadline)?;
            }
            buf[head_len..head_len + length].to_vec()
        } else {
            // No length: the body ends with the connection.
            loop {
                match read_some(&mut stream, &mut buf, deadline) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            buf[head_len..].to_vec()
        };
        return Ok(RawResponse {
            http10,
            status,
            headers,
            body,
        });
    }
}
