//! Request head parsing (RFC 9112 §2–§5): request-line, header fields, limits, and what the head
//! says about the connection (persistence §9.3, `Expect: 100-continue`, `Upgrade`).
//!
//! Syntax is checked by `httparse`, run directly on the caller's buffer: the returned
//! [`RequestHead`] borrows that buffer and the caller's [`HeaderSlots`]; nothing is copied or
//! allocated. Body framing is decided by `framing.rs`; the body itself is read by `body.rs`.
//!
//! Decisions on the lenient parts of RFC 9112:
//! - Bare LF as a line terminator in the head is accepted (RFC 9112 §2.2 allows it); a bare CR
//!   is refused. Inside the chunked coding only CRLF is accepted (see `body.rs`).
//! - Empty lines before the request-line are skipped (RFC 9112 §2.2).
//! - obs-fold (a field line starting with whitespace) is refused with 400 (RFC 9112 §5.2), as is
//!   whitespace between a field name and its colon (RFC 9112 §5.1) and whitespace before the
//!   first field line (RFC 9112 §2.2).

use super::framing::{self, ContentLength, TransferEncoding};
use super::headers::is_tchar;
use super::{BodyFraming, HeaderSlots, Headers, HttpError, Limits};

/// The request method (RFC 9110 §9). Method names are case-sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    /// `GET` (RFC 9110 §9.3.1).
    Get,
    /// `HEAD` (RFC 9110 §9.3.2).
    Head,
    /// `POST` (RFC 9110 §9.3.3).
    Post,
    /// `PUT` (RFC 9110 §9.3.4).
    Put,
    /// `DELETE` (RFC 9110 §9.3.5).
    Delete,
    /// `CONNECT` (RFC 9110 §9.3.6).
    Connect,
    /// `OPTIONS` (RFC 9110 §9.3.7).
    Options,
    /// `TRACE` (RFC 9110 §9.3.8).
    Trace,
    /// `PATCH` (RFC 5789).
    Patch,
    /// Any other method token, as sent.
    Other(&'a str),
}

impl<'a> Method<'a> {
    fn from_token(token: &'a str) -> Self {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            other => Method::Other(other),
        }
    }

    /// The method token as it appears on the request-line.
    pub fn as_str(&self) -> &'a str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(token) => token,
        }
    }
}

/// The HTTP-version of a request (RFC 9112 §2.3). Only 1.0 and 1.1 are spoken here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// Outcome of [`parse_request`] when the bytes are not refused.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// A whole head: the head, and its length in bytes (the body, or the next pipelined
    /// request, starts at this offset).
    Complete(RequestHead<'a>, usize),
    /// The head is not finished: read more bytes and call again with the whole buffer. A head
    /// gives no lower bound on how many bytes are missing, so none is reported.
    Partial,
}

/// A parsed request head, borrowing the request buffer and the header slots.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    method: Method<'a>,
    target: &'a str,
    version: Version,
    headers: Headers<'a>,
    framing: BodyFraming,
    connection: ConnectionOptions,
    expect_continue: bool,
    upgrade: Option<&'a [u8]>,
}

/// The connection options named by the `Connection` field (RFC 9110 §7.6.1) that matter here.
#[derive(Debug, Clone, Copy, Default)]
struct ConnectionOptions {
    close: bool,
    keep_alive: bool,
    upgrade: bool,
}

impl<'a> RequestHead<'a> {
    /// The method.
    pub fn method(&self) -> Method<'a> {
        self.method
    }

    /// The request-target as sent (RFC 9112 §3.2): origin-form `/path?query`, absolute-form
    /// `http://host/path`, authority-form `host:port` (CONNECT) or asterisk-form `*` (OPTIONS).
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path of the target, without the query: for origin-form everything before `?`; for
    /// absolute-form the part after the authority (`/` when empty); otherwise the whole target.
    pub fn path(&self) -> &'a str {
        let without_query = self.target.split_once('?').map_or(self.target, |(p, _)| p);
        if without_query.starts_with('/') {
            return without_query;
        }
        // absolute-form (RFC 9112 §3.2.2): scheme "://" authority path-abempty
        match without_query.split_once("://") {
            Some((_scheme, rest)) => rest.find('/').map_or("/", |slash| &rest[slash..]),
            None => without_query,
        }
    }

    /// The query of the target (the part after the first `?`), if any.
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The HTTP-version of the request.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> Headers<'a> {
        self.headers
    }

    /// How the body is delimited (RFC 9112 §6.3), already checked against the limits.
    pub fn body_framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the connection persists after this exchange (RFC 9112 §9.3): for HTTP/1.1 unless
    /// `Connection` lists `close`; for HTTP/1.0 only if `Connection` lists `keep-alive` (and not
    /// `close`).
    pub fn keep_alive(&self) -> bool {
        match self.version {
            _ if self.connection.close => false,
            Version::Http11 => true,
            Version::Http10 => self.connection.keep_alive,
        }
    }

    /// Whether the client sent `Expect: 100-continue` and waits for a `100 Continue` before
    /// sending its body (RFC 9110 §10.1.1). Ignored in HTTP/1.0 requests, as that section
    /// requires.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// The `Upgrade` field value when the client asks to switch protocols: HTTP/1.1, `Connection`
    /// lists `upgrade`, and an `Upgrade` field is present (RFC 9110 §7.8).
    pub fn upgrade(&self) -> Option<&'a [u8]> {
        self.upgrade
    }
}

/// Parse a request head at the start of `buf` (RFC 9112 §2.1), within `limits`.
///
/// `Ok(Parsed::Partial)` asks for more bytes; call again with the grown buffer. An error means:
/// answer with [`HttpError::status`] and close. The head-size limit also applies to an unfinished
/// head, so a peer cannot make the caller buffer more than `limits.max_head_size` bytes.
pub fn parse_request<'b: 'h, 'h, const N: usize>(
    buf: &'b [u8],
    slots: &'h mut HeaderSlots<'b, N>,
    limits: &Limits,
) -> Result<Parsed<'h>, HttpError> {
    // Only the first max_head_size bytes may hold the head: httparse never looks further.
    let window = &buf[..buf.len().min(limits.max_head_size)];
    let capacity = N.min(limits.max_headers);
    let mut request = httparse::Request::new(&mut []);
    let status = request.parse_with_uninit_headers(window, &mut slots.slots[..capacity]);
    let head_len = match status {
        Ok(httparse::Status::Complete(len)) => len,
        // Checked first, on the bytes httparse saw, so that the answer does not depend on how the
        // input was split on arrival: a long target is 414 whatever comes after it.
        _ if uri_exceeds(window, limits.max_uri_length) => return Err(HttpError::UriTooLong),
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head_size => {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(map_syntax_error(e, window)),
    };
    // httparse fills every field when it reports Complete.
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Err(HttpError::InvalidRequestLine);
    };
    if target.len() > limits.max_uri_length {
        return Err(HttpError::UriTooLong);
    }
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let headers: &'h [httparse::Header<'b>] = request.headers;
    let head = interpret(
        Method::from_token(method),
        target,
        version,
        Headers::new(headers),
        limits,
    )?;
    Ok(Parsed::Complete(head, head_len))
}

/// One pass over the fields: framing, Host, connection options, expectation, upgrade.
fn interpret<'a>(
    method: Method<'a>,
    target: &'a str,
    version: Version,
    headers: Headers<'a>,
    limits: &Limits,
) -> Result<RequestHead<'a>, HttpError> {
    let mut content_length = ContentLength::default();
    let mut transfer_encoding = TransferEncoding::default();
    let mut connection = ConnectionOptions::default();
    let mut hosts = 0u32;
    let mut expect_continue = false;
    let mut upgrade_field = None;
    for field in headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            content_length.add_field(field.value)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding.add_field(field.value);
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for option in super::headers::list_members(field.value) {
                connection.close |= option.eq_ignore_ascii_case(b"close");
                connection.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                connection.upgrade |= option.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= field.value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("upgrade") && upgrade_field.is_none() {
            upgrade_field = Some(field.value);
        }
    }
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with several.
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(HttpError::InvalidHost);
    }
    let framing = framing::resolve(version, content_length, transfer_encoding, limits)?;
    let http11 = version == Version::Http11;
    Ok(RequestHead {
        method,
        target,
        version,
        headers,
        framing,
        connection,
        // RFC 9110 §10.1.1: a server MUST ignore a 100-continue expectation in HTTP/1.0.
        expect_continue: expect_continue && http11,
        // RFC 9110 §7.8: a server MUST ignore Upgrade received in an HTTP/1.0 request.
        upgrade: upgrade_field.filter(|_| http11 && connection.upgrade),
    })
}

/// Map an `httparse` syntax error to the rule it breaks. `buf` is what httparse saw; the checks
/// look only at bytes httparse had validated or stopped at, so the answer does not depend on how
/// the input was split on arrival.
fn map_syntax_error(error: httparse::Error, buf: &[u8]) -> HttpError {
    match error {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        httparse::Error::HeaderName | httparse::Error::HeaderValue | httparse::Error::NewLine => {
            HttpError::InvalidHeader
        }
        httparse::Error::Version if names_other_http_version(buf) => HttpError::UnsupportedVersion,
        httparse::Error::Token | httparse::Error::Version | httparse::Error::Status => {
            HttpError::InvalidRequestLine
        }
    }
}

/// The start of a request-line as httparse reads it: empty lines skipped, a method token, one
/// SP, then the request-target's bytes up to the first byte that cannot be in one, and what
/// follows. `None` when there is no method token followed by SP.
fn request_line_parts(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    // RFC 9112 §2.2: empty lines (CRLF or bare LF) before the request-line are skipped.
    let mut line = buf;
    while let Some(rest) = line
        .strip_prefix(b"\r\n")
        .or_else(|| line.strip_prefix(b"\n"))
    {
        line = rest;
    }
    let method_len = line.iter().position(|&b| !is_tchar(b))?;
    if method_len == 0 || line[method_len] != b' ' {
        return None;
    }
    let after_method = &line[method_len + 1..];
    // URI bytes as httparse accepts them: visible ASCII and bytes >= 0x80.
    let target_len = after_method
        .iter()
        .position(|&b| !(b'!'..=b'~').contains(&b) && b < 0x80)
        .unwrap_or(after_method.len());
    Some(after_method.split_at(target_len))
}

/// True when the request-line's version names an HTTP version other than 1.0 and 1.1
/// (RFC 9112 §2.3 `HTTP/DIGIT.DIGIT`), so a version error means "unsupported" (505) rather than
/// "malformed" (400). Decided on the first differing byte, as httparse is, so that the answer
/// does not depend on how the input was split: `HTTP/2` is 505 at once, `HTTP/1.2` once the
/// minor digit is seen. (RFC 9110 §2.5 would let a server treat 1.2 as 1.1; httparse does not
/// parse it, and no such version exists.)
fn names_other_http_version(buf: &[u8]) -> bool {
    let Some((_target, rest)) = request_line_parts(buf) else {
        return false;
    };
    match rest {
        [b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor, ..] => minor.is_ascii_digit(),
        [b' ', b'H', b'T', b'T', b'P', b'/', major, ..] => major.is_ascii_digit() && *major != b'1',
        _ => false,
    }
}

/// True when the request-target seen so far (finished or not) is longer than `max`.
fn uri_exceeds(buf: &[u8], max: usize) -> bool {
    request_line_parts(buf).is_some_and(|(target, _)| target.len() > max)
}
