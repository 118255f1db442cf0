//! HTTP status codes (RFC 9110 §15) and their canonical reason phrases.
//!
//! Owns the numbers and the phrases written on the status line; it does not decide which status
//! answers which error (that is `error.rs` and `ws/handshake.rs`).

use std::fmt;

/// A three-digit HTTP status code (RFC 9110 §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// 100 Continue (RFC 9110 §15.2.1).
    pub const CONTINUE: StatusCode = StatusCode(100);
    /// 101 Switching Protocols (RFC 9110 §15.2.2).
    pub const SWITCHING_PROTOCOLS: StatusCode = StatusCode(101);
    /// 200 OK (RFC 9110 §15.3.1).
    pub const OK: StatusCode = StatusCode(200);
    /// 201 Created (RFC 9110 §15.3.2).
    pub const CREATED: StatusCode = StatusCode(201);
    /// 204 No Content (RFC 9110 §15.3.5).
    pub const NO_CONTENT: StatusCode = StatusCode(204);
    /// 301 Moved Permanently (RFC 9110 §15.4.2).
    pub const MOVED_PERMANENTLY: StatusCode = StatusCode(301);
    /// 302 Found (RFC 9110 §15.4.3).
    pub const FOUND: StatusCode = StatusCode(302);
    /// 304 Not Modified (RFC 9110 §15.4.5).
    pub const NOT_MODIFIED: StatusCode = StatusCode(304);
    /// 400 Bad Request (RFC 9110 §15.5.1).
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// 401 Unauthorized (RFC 9110 §15.5.2).
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    /// 403 Forbidden (RFC 9110 §15.5.4).
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    /// 404 Not Found (RFC 9110 §15.5.5).
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// 405 Method Not Allowed (RFC 9110 §15.5.6).
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    /// 408 Request Timeout (RFC 9110 §15.5.9).
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    /// 411 Length Required (RFC 9110 §15.5.12).
    pub const LENGTH_REQUIRED: StatusCode = StatusCode(411);
    /// 413 Content Too Large (RFC 9110 §15.5.14).
    pub const CONTENT_TOO_LARGE: StatusCode = StatusCode(413);
    /// 414 URI Too Long (RFC 9110 §15.5.15).
    pub const URI_TOO_LONG: StatusCode = StatusCode(414);
    /// 417 Expectation Failed (RFC 9110 §15.5.18).
    pub const EXPECTATION_FAILED: StatusCode = StatusCode(417);
    /// 426 Upgrade Required (RFC 9110 §15.5.22).
    pub const UPGRADE_REQUIRED: StatusCode = StatusCode(426);
    /// 431 Request Header Fields Too Large (RFC 6585 §5).
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: StatusCode = StatusCode(431);
    /// 500 Internal Server Error (RFC 9110 §15.6.1).
    pub const INTERNAL_SERVER_ERROR: StatusCode = StatusCode(500);
    /// 501 Not Implemented (RFC 9110 §15.6.2).
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    /// 503 Service Unavailable (RFC 9110 §15.6.4).
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    /// 505 HTTP Version Not Supported (RFC 9110 §15.6.6).
    pub const HTTP_VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The reason phrase RFC 9110 §15 (or RFC 6585) gives this code, or `""` for a code it does
    /// not define. The phrase is advisory (RFC 9112 §4): clients must not depend on it.
    pub const fn reason(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            101 => "Switching Protocols",
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            203 => "Non-Authoritative Information",
            204 => "No Content",
            205 => "Reset Content",
            206 => "Partial Content",
            300 => "Multiple Choices",
            301 => "Moved Permanently",
            302 => "Found",
            303 => "See Other",
            304 => "Not Modified",
            307 => "Temporary Redirect",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            402 => "Payment Required",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            409 => "Conflict",
            410 => "Gone",
            411 => "Length Required",
            412 => "Precondition Failed",
            413 => "Content Too Large",
            414 => "URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Range Not Satisfiable",
            417 => "Expectation Failed",
            421 => "Misdirected Request",
            422 => "Unprocessable Content",
            426 => "Upgrade Required",
            428 => "Precondition Required",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            505 => "HTTP Version Not Supported",
            _ => "",
        }
    }

    /// True for 1xx (informational) codes, which never carry content (RFC 9110 §15.2).
    pub const fn is_informational(self) -> bool {
        self.0 >= 100 && self.0 < 200
    }

    /// True when a response with this code never carries content or Content-Length framing:
    /// 1xx and 204 (RFC 9110 §8.6, RFC 9112 §6.3 rule 1) and 304 (RFC 9110 §15.4.5).
    pub const fn forbids_body(self) -> bool {
        self.is_informational() || self.0 == 204 || self.0 == 304
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}
