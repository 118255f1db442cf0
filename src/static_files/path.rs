//! The request path's tail (what the wildcard matched, still percent-encoded) into a relative
//! path that can only name something beneath the served directory.
//!
//! Owns the lexical check: every segment is percent-decoded once, strictly, and refused when it
//! could climb out (`..`), name the directory itself (`.`), hide a separator (`%2f`, `%5c`, a raw
//! `\`), carry a NUL, or start an absolute path (an empty segment, as in `//etc/passwd`). It does
//! not own symlinks: those are resolved by the kernel at open time, beneath the root
//! (`open.rs`).

use std::path::PathBuf;

/// Why a path tail names no file that may be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A malformed percent-escape or a NUL: the request is wrong (`400 Bad Request`).
    Malformed,
    /// A segment that would leave the root, hide a separator, or is a dotfile while those are
    /// not served: there is no such file to serve (`404 Not Found`).
    NotServed,
}

/// A checked relative path and whether the request named a directory (a trailing `/`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Relative {
    /// Segments joined with `/`; empty for the root itself.
    pub(crate) path: PathBuf,
    /// The request path ended with `/`.
    pub(crate) trailing_slash: bool,
}

/// Checks the raw (percent-encoded) tail of the request path.
pub(crate) fn relative(raw_tail: &str, dotfiles: bool) -> Result<Relative, Refusal> {
    let (body, trailing_slash) = match raw_tail.strip_suffix('/') {
        Some(body) => (body, true),
        None => (raw_tail, false),
    };
    let mut path = PathBuf::new();
    if body.is_empty() {
        // `/assets` or `/assets/`: the root; `/assets//` (an empty segment) falls through
        // below only when there is more than the one trailing slash.
        return Ok(Relative {
            path,
            trailing_slash,
        });
    }
    for raw in body.split('/') {
        let segment = decode_segment(raw)?;
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(Refusal::NotServed);
        }
        if segment.contains(['/', '\\']) {
            return Err(Refusal::NotServed);
        }
        if !dotfiles && segment.starts_with('.') {
            return Err(Refusal::NotServed);
        }
        path.push(segment);
    }
    Ok(Relative {
        path,
        trailing_slash,
    })
}

/// Percent-decodes one segment (RFC 3986 §2.1): every `%` must start two hex digits, the result
/// must be UTF-8 and hold no NUL.
fn decode_segment(raw: &str) -> Result<String, Refusal> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Refusal::Malformed)?;
            let value = (hex_digit(hex[0])? << 4) | hex_digit(hex[1])?;
            out.push(value);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(Refusal::Malformed);
    }
    String::from_utf8(out).map_err(|_| Refusal::Malformed)
}

fn hex_digit(b: u8) -> Result<u8, Refusal> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(Refusal::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(tail: &str) -> (String, bool) {
        let r = relative(tail, false).unwrap();
        (r.path.to_str().unwrap().to_owned(), r.trailing_slash)
    }

    #[test]
    fn plain_and_encoded_names_decode() {
        assert_eq!(ok("css/site.css"), ("css/site.css".into(), false));
        assert_eq!(ok("a%20b.txt"), ("a b.txt".into(), false));
        assert_eq!(ok("docs/"), ("docs".into(), true));
        assert_eq!(ok(""), ("".into(), false));
        assert_eq!(ok("/"), ("".into(), true));
    }

    #[test]
    fn climbing_and_hidden_separators_are_not_served() {
        for tail in [
            "..",
            "../x",
            "a/../../x",
            "%2e%2e/x",
            "%2E%2E/x",
            ".%2e/x",
            "./x",
            "a%2f..%2fb",
            "a%2Fb",
            "a%5cb",
            "a\\b",
            "/etc/passwd",
            "a//b",
            ".env",
            "%2eenv",
        ] {
            assert_eq!(relative(tail, false), Err(Refusal::NotServed), "{tail}");
        }
    }

    #[test]
    fn nul_and_broken_escapes_are_malformed() {
        for tail in ["a%00b", "a%0", "a%zz", "%", "%ff"] {
            assert_eq!(relative(tail, false), Err(Refusal::Malformed), "{tail}");
        }
    }

    #[test]
    fn dotfiles_only_when_allowed() {
        assert!(relative(".well-known/x", true).is_ok());
        assert_eq!(relative("..", true), Err(Refusal::NotServed));
    }
}
