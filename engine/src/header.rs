//! Header names and values as the API takes them: a `&str` or an `http::HeaderName` for a
//! name, strings, bytes or an `http::HeaderValue` for a value. Requests keep their header
//! fields as the bytes that arrived (a view, no copy per field); these traits only say how a
//! caller names one.

use std::borrow::Cow;

/// A header value: anything that turns into bytes (`&'static str`, `String`, `Vec<u8>`, ...).
pub struct HeaderValue(pub(crate) Cow<'static, [u8]>);

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

impl From<http::HeaderValue> for HeaderValue {
    fn from(v: http::HeaderValue) -> Self {
        HeaderValue(Cow::Owned(v.as_bytes().to_vec()))
    }
}

impl From<&http::HeaderValue> for HeaderValue {
    fn from(v: &http::HeaderValue) -> Self {
        HeaderValue(Cow::Owned(v.as_bytes().to_vec()))
    }
}

/// A header name to set: `&'static str`, `String` or an `http::HeaderName`.
pub trait IntoHeaderName {
    /// The name.
    fn into_header_name(self) -> Cow<'static, str>;
}

impl IntoHeaderName for &'static str {
    fn into_header_name(self) -> Cow<'static, str> {
        Cow::Borrowed(self)
    }
}

impl IntoHeaderName for String {
    fn into_header_name(self) -> Cow<'static, str> {
        Cow::Owned(self)
    }
}

impl IntoHeaderName for Cow<'static, str> {
    fn into_header_name(self) -> Cow<'static, str> {
        self
    }
}

impl IntoHeaderName for http::HeaderName {
    fn into_header_name(self) -> Cow<'static, str> {
        Cow::Owned(self.as_str().to_owned())
    }
}

impl IntoHeaderName for &http::HeaderName {
    fn into_header_name(self) -> Cow<'static, str> {
        Cow::Owned(self.as_str().to_owned())
    }
}

/// A header name to look up: `&str` or an `http::HeaderName` (`header::CONTENT_TYPE`).
pub trait AsHeaderName {
    /// The name.
    fn as_header_name(&self) -> &str;
}

impl AsHeaderName for &str {
    fn as_header_name(&self) -> &str {
        self
    }
}

impl AsHeaderName for http::HeaderName {
    fn as_header_name(&self) -> &str {
        self.as_str()
    }
}

impl AsHeaderName for &http::HeaderName {
    fn as_header_name(&self) -> &str {
        self.as_str()
    }
}
