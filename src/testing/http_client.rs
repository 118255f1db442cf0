//! The one-request HTTP client: a request on a fresh connection, its response read whole.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::{DEFAULT_TIMEOUT, MAX_HEAD, invalid, read_some};

/// An HTTP response read by [`TestServer::get`] or [`TestServer::request`].
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
    let mut stream = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
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
    stream.write_all(&bytes)?;

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
        let headers: Vec<(String, String)> = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        if (100..200).contains(&status) {
            // An interim response (100 Continue): the final one follows.
            buf.drain(..head_len);
            continue;
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.trim().parse::<usize>().ok());
        let body = if method == "HEAD" || status == 204 || status == 304 {
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
        return Ok(TestResponse {
            status,
            headers,
            body,
        });
    }
}
