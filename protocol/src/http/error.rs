//! Why a request was refused: one variant per rule of RFC 9112/9110, each naming its status.
//!
//! Owns the mapping rule → status code. Every [`HttpError`] means the same wire reaction:
//! respond with [`HttpError::status`] (see `response::write_error`) and close the connection,
//! because after a framing error the server no longer knows where the next request starts
//! (RFC 9112 §6.3, §11.2).

use std::fmt;

use super::StatusCode;

/// A request the server refuses; answer with [`HttpError::status`], then close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The request-line is not `method SP request-target SP HTTP-version` (RFC 9112 §3). 400.
    InvalidRequestLine,
    /// A field line is malformed: bad name, control byte in a value, or obs-fold
    /// (RFC 9112 §5, §5.2: obs-fold in a request is rejected). 400.
    InvalidHeader,
    /// A well-formed HTTP-version other than 1.0 and 1.1 (RFC 9110 §15.6.6). 505.
    UnsupportedVersion,
    /// The head is larger than `Limits::max_head_size` (RFC 6585 §5). 431.
    HeadTooLarge,
    /// More header fields than `Limits::max_headers` (RFC 6585 §5). 431.
    TooManyHeaders,
    /// The request-target is longer than `Limits::max_uri_length` (RFC 9112 §3). 414.
    UriTooLong,
    /// An HTTP/1.1 request without exactly one Host field (RFC 9112 §3.2). 400.
    InvalidHost,
    /// Both Content-Length and Transfer-Encoding are present; a smuggling vector
    /// (RFC 9112 §6.1, §6.3 rule 3, §11.2). 400.
    ContentLengthWithTransferEncoding,
    /// Content-Length is not `1*DIGIT` or overflows a `u64` (RFC 9110 §8.6). 400.
    InvalidContentLength,
    /// Several Content-Length values that differ (RFC 9110 §8.6, RFC 9112 §6.3 rule 5). 400.
    ConflictingContentLength,
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: faulty framing). 400.
    TransferEncodingInHttp10,
    /// Transfer-Encoding whose final coding is not `chunked`, or that applies `chunked` twice
    /// (RFC 9112 §6.3 rule 4: the length cannot be determined). 400.
    ChunkedNotFinal,
    /// Transfer-Encoding lists a coding this server does not implement before the final
    /// `chunked`, e.g. `gzip, chunked` (RFC 9112 §6.1). 501.
    UnsupportedTransferCoding,
    /// The body is larger than `Limits::max_body_size` (RFC 9110 §15.5.14). 413.
    ContentTooLarge,
    /// A chunk-size that is empty or not hexadecimal (RFC 9112 §7.1). 400.
    InvalidChunkSize,
    /// A chunk-size that does not fit in 64 bits (RFC 9112 §7.1). 400.
    ChunkSizeOverflow,
    /// A malformed or overlong chunk extension (RFC 9112 §7.1.1). 400.
    InvalidChunkExtension,
    /// A chunk line or trailer line not ended by CRLF, or chunk data not followed by CRLF
    /// (RFC 9112 §7.1: bare LF is not accepted inside the chunked coding). 400.
    ChunkedLineNotCrlf,
    /// A malformed trailer field line (RFC 9112 §7.1.2). 400.
    InvalidTrailer,
    /// The trailer section is larger than `Limits::max_head_size` (RFC 6585 §5). 431.
    TrailerTooLarge,
}

impl HttpError {
    /// The status code to answer with before closing the connection.
    pub const fn status(self) -> StatusCode {
        match self {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders | HttpError::TrailerTooLarge => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HttpError::UriTooLong => StatusCode::URI_TOO_LONG,
            HttpError::ContentTooLarge => StatusCode::CONTENT_TOO_LARGE,
            HttpError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            HttpError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HttpError::InvalidRequestLine
            | HttpError::InvalidHeader
            | HttpError::InvalidHost
            | HttpError::ContentLengthWithTransferEncoding
            | HttpError::InvalidContentLength
            | HttpError::ConflictingContentLength
            | HttpError::TransferEncodingInHttp10
            | HttpError::ChunkedNotFinal
            | HttpError::InvalidChunkSize
            | HttpError::ChunkSizeOverflow
            | HttpError::InvalidChunkExtension
            | HttpError::ChunkedLineNotCrlf
            | HttpError::InvalidTrailer => StatusCode::BAD_REQUEST,
        }
    }

    const fn description(self) -> &'static str {
        match self {
            HttpError::InvalidRequestLine => "malformed request-line",
            HttpError::InvalidHeader => "malformed header field",
            HttpError::UnsupportedVersion => "unsupported HTTP version",
            HttpError::HeadTooLarge => "request head too large",
            HttpError::TooManyHeaders => "too many header fields",
            HttpError::UriTooLong => "request-target too long",
            HttpError::InvalidHost => "missing or repeated Host header field",
            HttpError::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            HttpError::InvalidContentLength => "invalid Content-Length",
            HttpError::ConflictingContentLength => "differing Content-Length values",
            HttpError::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            HttpError::ChunkedNotFinal => "Transfer-Encoding does not end with a single chunked",
            HttpError::UnsupportedTransferCoding => "unsupported transfer coding",
            HttpError::ContentTooLarge => "body too large",
            HttpError::InvalidChunkSize => "invalid chunk size",
            HttpError::ChunkSizeOverflow => "chunk size overflows 64 bits",
            HttpError::InvalidChunkExtension => "invalid chunk extension",
            HttpError::ChunkedLineNotCrlf => "chunked line not terminated by CRLF",
            HttpError::InvalidTrailer => "malformed trailer field",
            HttpError::TrailerTooLarge => "trailer section too large",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.status())
    }
}

impl std::error::Error for HttpError {}
