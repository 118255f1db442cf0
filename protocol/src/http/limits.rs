//! Size limits applied while reading a request: what a peer may make this server buffer or scan.
//!
//! Owns the numbers only. The head parser (`request.rs`) and the body decoders (`body.rs`) enforce
//! them and report the status each breach maps to.

/// Upper bounds on what one request may make the server buffer or scan.
///
/// Every limit maps to one status code (RFC 9110 §15.5, RFC 6585 §5) and, like every
/// [`HttpError`](super::HttpError), ends the connection after the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line, header fields and the empty line), in bytes.
    /// Default 16 KiB; beyond it the answer is 431.
    ///
    /// Protects against a peer that never finishes its head (the server would buffer and re-scan
    /// an ever-growing buffer) and against huge cookies or header values. Also bounds a chunked
    /// body's trailer section.
    pub max_head_size: usize,
    /// Most header fields in one head. Default 64; beyond it the answer is 431.
    ///
    /// Protects the header storage, which lives on the stack and is sized by this number, and
    /// every linear scan over the fields (`get`, `Connection` token matching).
    /// The effective limit is also capped by the capacity of the caller's
    /// [`HeaderSlots`](super::HeaderSlots).
    pub max_headers: usize,
    /// Longest request-target (RFC 9112 §3.2), in bytes. Default 8 KiB (the length RFC 9112 §3
    /// recommends supporting at minimum); beyond it the answer is 414.
    ///
    /// Protects routers and logs from oversized paths and query strings.
    pub max_uri_length: usize,
    /// Largest message body, in bytes, whether framed by Content-Length or chunked.
    /// Default 1 MiB; beyond it the answer is 413.
    ///
    /// Protects memory: a body is collected before the handler runs. A Content-Length over the
    /// limit is rejected from the head alone, before any body byte is read.
    pub max_body_size: u64,
}

impl Limits {
    /// Default for [`Limits::max_head_size`]: 16 KiB.
    pub const DEFAULT_MAX_HEAD_SIZE: usize = 16 * 1024;
    /// Default for [`Limits::max_headers`]: 64.
    pub const DEFAULT_MAX_HEADERS: usize = 64;
    /// Default for [`Limits::max_uri_length`]: 8 KiB.
    pub const DEFAULT_MAX_URI_LENGTH: usize = 8 * 1024;
    /// Default for [`Limits::max_body_size`]: 1 MiB.
    pub const DEFAULT_MAX_BODY_SIZE: u64 = 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: Self::DEFAULT_MAX_HEAD_SIZE,
            max_headers: Self::DEFAULT_MAX_HEADERS,
            max_uri_length: Self::DEFAULT_MAX_URI_LENGTH,
            max_body_size: Self::DEFAULT_MAX_BODY_SIZE,
        }
    }
}
