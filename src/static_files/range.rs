//! The `Range` request header (RFC 9110 §14.2) against a representation's length.
//!
//! Owns parsing a `bytes` range set and deciding between the whole representation, one part
//! (`206`), or none (`416`). Serves single ranges: a set of several is ignored and the whole
//! representation sent, which §14.2 allows ("a server MAY ignore the Range header field"), as
//! is a header that does not parse or names another unit. It does not own `If-Range`
//! (`conditional.rs`), which decides whether the header is looked at at all.

/// What to send for a `Range` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// The whole representation (`200`): no usable range.
    Whole,
    /// Bytes `first..=last` (`206` with `Content-Range: bytes first-last/len`).
    Part {
        /// The first byte's offset.
        first: u64,
        /// The last byte's offset (inclusive).
        last: u64,
    },
    /// The one range asked for starts past the end (`416` with `Content-Range: bytes */len`).
    Unsatisfiable,
}

/// Resolves `header` against a representation of `len` bytes (§14.1.2's rules: a last position
/// past the end is the end; a suffix longer than the representation is all of it).
pub(crate) fn resolve(header: &str, len: u64) -> Ranged {
    let Some((unit, set)) = header.split_once('=') else {
        return Ranged::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Whole;
    }
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Ranged::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `-N`: the last N bytes.
        let Some(suffix) = number(last) else {
            return Ranged::Whole;
        };
        if suffix == 0 || len == 0 {
            return Ranged::Unsatisfiable;
        }
        return Ranged::Part {
            first: len.saturating_sub(suffix),
            last: len - 1,
        };
    }
    let Some(first) = number(first) else {
        return Ranged::Whole;
    };
    let last = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(last) if last >= first => last,
            // `5-2` is not a valid range: the header is ignored.
            _ => return Ranged::Whole,
        }
    };
    if first >= len {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part {
        first,
        last: last.min(len - 1),
    }
}

/// A `1*DIGIT` that fits in a `u64`.
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_examples_over_a_10000_byte_representation() {
        // RFC 9110 §14.1.2.
        assert_eq!(
            resolve("bytes=0-499", 10000),
            Ranged::Part {
                first: 0,
                last: 499
            }
        );
        assert_eq!(
            resolve("bytes=500-999", 10000),
            Ranged::Part {
                first: 500,
                last: 999
            }
        );
        assert_eq!(
            resolve("bytes=-500", 10000),
            Ranged::Part {
                first: 9500,
                last: 9999
            }
        );
        assert_eq!(
            resolve("bytes=9500-", 10000),
            Ranged::Part {
                first: 9500,
                last: 9999
            }
        );
    }

    #[test]
    fn ranges_past_the_end_are_clipped_or_unsatisfiable() {
        assert_eq!(
            resolve("bytes=5-100", 10),
            Ranged::Part { first: 5, last: 9 }
        );
        assert_eq!(
            resolve("bytes=-100", 10),
            Ranged::Part { first: 0, last: 9 }
        );
        assert_eq!(resolve("bytes=10-", 10), Ranged::Unsatisfiable);
        assert_eq!(resolve("bytes=-0", 10), Ranged::Unsatisfiable);
        assert_eq!(resolve("bytes=0-", 0), Ranged::Unsatisfiable);
    }

    #[test]
    fn what_is_not_one_byte_range_is_ignored() {
        for header in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=5-2",
            "bytes=a-b",
            "bytes",
            "bytes=",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(resolve(header, 10), Ranged::Whole, "{header}");
        }
    }
}
