//! Percent-decoding of path params and query strings, checked.
//!
//! This file owns turning raw request text into the text the user sees: `%XX` escapes in both
//! paths and queries, plus `+` as a space in queries (`application/x-www-form-urlencoded`).
//! Decoding borrows when there is nothing to decode and allocates only when an escape is present.
//! Malformed escapes and invalid UTF-8 are errors, never a panic and never silently replaced.
//! It does not split paths or queries: the tree and [`Query`](crate::Query) do.

use std::borrow::Cow;

use crate::error::DecodeError;

/// Percent-decodes a path segment: `%XX` escapes only, `+` stays a `+`.
///
/// Borrows when the text has no `%`.
///
/// ```
/// use imphnen_router::percent_decode;
/// use std::borrow::Cow;
///
/// assert_eq!(percent_decode("caf%C3%A9"), Ok(Cow::Owned("café".to_string())));
/// assert!(matches!(percent_decode("a+b"), Ok(Cow::Borrowed("a+b"))));
/// ```
pub fn percent_decode(raw: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(raw, false)
}

/// Decodes a query-string name or value: `+` becomes a space, then `%XX` escapes are decoded.
///
/// Borrows when the text has neither `%` nor `+`.
///
/// ```
/// use imphnen_router::form_decode;
///
/// assert_eq!(form_decode("hello+world%21").unwrap(), "hello world!");
/// assert_eq!(form_decode("a%2Bb").unwrap(), "a+b");
/// ```
pub fn form_decode(raw: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(raw, true)
}

fn decode(raw: &str, plus_is_space: bool) -> Result<Cow<'_, str>, DecodeError> {
    let bytes = raw.as_bytes();
    let first = bytes
        .iter()
        .position(|&b| b == b'%' || (plus_is_space && b == b'+'));
    let Some(first) = first else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(DecodeError::InvalidEscape { offset: i }),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::InvalidUtf8)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_escapes_is_borrowed() {
        assert!(matches!(
            percent_decode("plain"),
            Ok(Cow::Borrowed("plain"))
        ));
        assert!(matches!(form_decode("plain"), Ok(Cow::Borrowed("plain"))));
    }

    #[test]
    fn lower_and_upper_case_hex_both_decode() {
        assert_eq!(percent_decode("%2f%2F").unwrap(), "//");
    }

    #[test]
    fn truncated_escape_is_an_error_with_its_offset() {
        assert_eq!(
            percent_decode("ab%4"),
            Err(DecodeError::InvalidEscape { offset: 2 })
        );
        assert_eq!(
            percent_decode("%zz"),
            Err(DecodeError::InvalidEscape { offset: 0 })
        );
    }

    #[test]
    fn invalid_utf8_after_decoding_is_an_error() {
        assert_eq!(percent_decode("%C3%28"), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn plus_is_a_space_only_in_form_decoding() {
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
        assert_eq!(form_decode("a+b").unwrap(), "a b");
    }

    #[test]
    fn non_ascii_text_passes_through() {
        assert_eq!(form_decode("café+%E2%9C%93").unwrap(), "café ✓");
    }
}
