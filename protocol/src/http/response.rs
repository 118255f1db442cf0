//! Response serialization (RFC 9112 §4, §6, §7.1) straight into the caller's write buffer.
//!
//! Owns the bytes of status lines, header sections, chunk framing and the canned responses for
//! refused requests. Nothing here allocates except the growth of the caller's `Vec<u8>`; integers
//! are formatted on the stack.
//!
//! Response splitting is prevented by refusing, with [`HeaderError`], any user header whose name
//! is not a token or whose value holds CR, LF or another control byte (RFC 9110 §5.5). The
//! framing fields (Content-Length, Transfer-Encoding) are written by the writer alone, so a user
//! header can never contradict the framing.

use std::fmt;

use super::headers::is_token;
use super::{DateCache, HttpError, StatusCode};

/// Why [`ResponseWriter::header`] refused a header; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The name is not a token (RFC 9110 §5.1).
    InvalidName,
    /// The value holds CR, LF, NUL or another control byte other than HTAB (RFC 9110 §5.5).
    InvalidValue,
    /// Content-Length and Transfer-Encoding are written by the writer from the body it is given.
    FramingHeader,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderError::InvalidName => "header name is not a token",
            HeaderError::InvalidValue => "header value contains a control character",
            HeaderError::FramingHeader => "framing headers are written by the response writer",
        })
    }
}

impl std::error::Error for HeaderError {}

/// Writes one response head (and body) into a buffer, in order: status line and `Date` on
/// creation, then user headers, then the framing and the body on one of the finishing calls
/// ([`body`](Self::body), [`head_only`](Self::head_only), [`chunked`](Self::chunked)).
///
/// Dropping the writer without finishing removes everything it wrote, so an abandoned response
/// never leaves a half-written head in the buffer.
#[must_use = "a response is only kept once finished with body, head_only or chunked"]
pub struct ResponseWriter<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    status: StatusCode,
    connection_written: bool,
    finished: bool,
}

impl<'o> ResponseWriter<'o> {
    /// Start a response with `status` (codes outside 100–999 are written as 500) and the `Date`
    /// from `date`, appended to `out`.
    pub fn new(out: &'o mut Vec<u8>, status: StatusCode, date: &DateCache) -> Self {
        let mut response = Self::without_date(out, status);
        response.write_field(b"Date", date.as_bytes());
        response
    }

    /// Start a response without a `Date` field, as RFC 9110 §6.6.1 allows for 1xx and 5xx
    /// responses (and what a server without a clock must do).
    pub fn without_date(out: &'o mut Vec<u8>, status: StatusCode) -> Self {
        let status = if (100..=999).contains(&status.0) {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let start = out.len();
        write_status_line(out, status);
        ResponseWriter {
            out,
            start,
            status,
            connection_written: false,
            finished: false,
        }
    }

    /// Add a header field. Refused (and nothing written) when the name is not a token, the value
    /// holds a control byte, or the name is Content-Length or Transfer-Encoding.
    pub fn header(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, HeaderError> {
        if !is_token(name.as_bytes()) {
            return Err(HeaderError::InvalidName);
        }
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return Err(HeaderError::FramingHeader);
        }
        // field-value: HTAB, SP, VCHAR and obs-text only (RFC 9110 §5.5).
        if value
            .iter()
            .any(|&b| !(b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80))
        {
            return Err(HeaderError::InvalidValue);
        }
        if name.eq_ignore_ascii_case("connection") {
            self.connection_written = true;
        }
        self.write_field(name.as_bytes(), value);
        Ok(self)
    }

    /// Announce that the server closes the connection after this response (`Connection: close`,
    /// RFC 9112 §9.6). Does nothing if a Connection field was already written.
    pub fn close(&mut self) -> &mut Self {
        self.connection_option(b"close")
    }

    /// Announce that the connection persists, for HTTP/1.0 clients that asked for it with
    /// `Connection: keep-alive` (RFC 9112 §9.3, Appendix C.2.2). Does nothing if a Connection
    /// field was already written.
    pub fn keep_alive(&mut self) -> &mut Self {
        self.connection_option(b"keep-alive")
    }

    fn connection_option(&mut self, option: &[u8]) -> &mut Self {
        if !self.connection_written {
            self.connection_written = true;
            self.write_field(b"Connection", option);
        }
        self
    }

    /// Finish with `Content-Length` and the body. For 1xx, 204 and 304 neither is written
    /// (RFC 9110 §8.6, §15.4.5).
    pub fn body(mut self, body: &[u8]) {
        if self.status.forbids_body() {
            self.end_head();
        } else {
            self.content_length(body.len() as u64);
            self.end_head();
            self.out.extend_from_slice(body);
        }
    }

    /// Finish a response to HEAD: the `Content-Length` the body would have had, and no body
    /// (RFC 9110 §9.3.2, §8.6).
    pub fn head_only(mut self, content_length: u64) {
        if !self.status.forbids_body() {
            self.content_length(content_length);
        }
        self.end_head();
    }

    /// Finish with `Transfer-Encoding: chunked`; the body follows as [`write_chunk`] calls and one
    /// [`write_last_chunk`] (RFC 9112 §7.1). Only for HTTP/1.1 clients.
    pub fn chunked(mut self) {
        self.write_field(b"Transfer-Encoding", b"chunked");
        self.end_head();
    }

    fn content_length(&mut self, length: u64) {
        let mut digits = [0u8; 20];
        let digits = format_decimal(length, &mut digits);
        self.write_field(b"Content-Length", digits);
    }

    fn write_field(&mut self, name: &[u8], value: &[u8]) {
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
    }

    fn end_head(&mut self) {
        self.out.extend_from_slice(b"\r\n");
        self.finished = true;
    }
}

impl Drop for ResponseWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.out.truncate(self.start);
        }
    }
}

/// Append one chunk (RFC 9112 §7.1): hex size, CRLF, data, CRLF. An empty `data` writes nothing,
/// since a zero-size chunk would end the body.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    out.extend_from_slice(format_hex(data.len() as u64, &mut hex));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Append the last chunk and an empty trailer section (RFC 9112 §7.1): `0\r\n\r\n`.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// Append the interim `100 Continue` response (RFC 9110 §15.2.1), sent before reading the body
/// of a request that [expects it](super::RequestHead::expects_continue).
pub fn write_continue(out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// Append the response to a refused request: its status, `Content-Length: 0` and
/// `Connection: close`. Close the connection once it is flushed.
pub fn write_error(out: &mut Vec<u8>, error: HttpError, date: &DateCache) {
    write_empty_closing(out, error.status(), date);
}

/// Append an empty response with `status`, `Content-Length: 0` and `Connection: close`.
pub fn write_empty_closing(out: &mut Vec<u8>, status: StatusCode, date: &DateCache) {
    let mut response = ResponseWriter::new(out, status, date);
    response.close();
    response.body(b"");
}

/// Append `503 Service Unavailable` with `Retry-After: retry_after_secs` (RFC 9110 §10.2.3) and
/// `Connection: close`: the answer to a connection over the server's connection limits.
pub fn write_service_unavailable(out: &mut Vec<u8>, retry_after_secs: u64, date: &DateCache) {
    let mut response = ResponseWriter::new(out, StatusCode::SERVICE_UNAVAILABLE, date);
    let mut digits = [0u8; 20];
    let digits = format_decimal(retry_after_secs, &mut digits);
    response.write_field(b"Retry-After", digits);
    response.close();
    response.body(b"");
}

/// Append `426 Upgrade Required` for a WebSocket version this server does not speak: it names the
/// version it does, `Sec-WebSocket-Version: 13` (RFC 6455 §4.2.2), and the protocol to upgrade
/// to (RFC 9110 §15.5.22), then closes.
pub fn write_upgrade_required(out: &mut Vec<u8>, date: &DateCache) {
    let mut response = ResponseWriter::new(out, StatusCode::UPGRADE_REQUIRED, date);
    response.write_field(b"Sec-WebSocket-Version", b"13");
    response.write_field(b"Upgrade", b"websocket");
    response.connection_written = true;
    response.write_field(b"Connection", b"upgrade, close");
    response.body(b"");
}

fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    let code = status.0;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(status.reason().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, written at the end of `buf`.
fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `n` in lowercase hexadecimal, written at the end of `buf`.
fn format_hex(mut n: u64, buf: &mut [u8; 16]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex_formatting() {
        let mut d = [0u8; 20];
        assert_eq!(format_decimal(0, &mut d), b"0");
        assert_eq!(format_decimal(u64::MAX, &mut d), b"18446744073709551615");
        let mut h = [0u8; 16];
        assert_eq!(format_hex(0x1a2b, &mut h), b"1a2b");
        assert_eq!(format_hex(u64::MAX, &mut h), b"ffffffffffffffff");
    }
}
