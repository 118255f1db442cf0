//! Validators and conditional requests (RFC 9110 §8.8, §13).
//!
//! Owns the `ETag` and `Last-Modified` of a file and the evaluation of `If-Match`,
//! `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` and `If-Range` against them, in
//! §13.2.2's order. It does not own reading the headers off a request or the response that
//! follows (`serve.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A file's validators.
#[derive(Clone, Debug)]
pub(crate) struct Validators {
    /// A strong entity tag, quoted: length, modification time and coding. Two representations
    /// with the same tag have the same bytes unless a file was rewritten within a nanosecond
    /// with the same length (the tag nginx and others derive from metadata too).
    pub(crate) etag: String,
    /// The modification time, whole seconds (the resolution of an HTTP-date).
    pub(crate) last_modified: SystemTime,
}

impl Validators {
    /// The validators of a file of `len` bytes modified at `modified`, sent with `coding`'s
    /// `Content-Encoding` (`None`: identity).
    pub(crate) fn new(len: u64, modified: SystemTime, coding: Option<&str>) -> Validators {
        let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let etag = match coding {
            None => format!(
                "\"{len:x}-{:x}.{:x}\"",
                since.as_secs(),
                since.subsec_nanos()
            ),
            Some(c) => format!(
                "\"{len:x}-{:x}.{:x}-{c}\"",
                since.as_secs(),
                since.subsec_nanos()
            ),
        };
        Validators {
            etag,
            last_modified: UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        }
    }

    /// `Last-Modified`'s value.
    pub(crate) fn http_date(&self) -> String {
        httpdate::fmt_http_date(self.last_modified)
    }
}

/// The precondition headers of a request, copied off it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Conditions {
    /// `If-Match`.
    pub(crate) if_match: Option<String>,
    /// `If-None-Match`.
    pub(crate) if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub(crate) if_modified_since: Option<String>,
    /// `If-Unmodified-Since`.
    pub(crate) if_unmodified_since: Option<String>,
    /// `If-Range`.
    pub(crate) if_range: Option<String>,
}

/// What the preconditions say (for `GET` and `HEAD`, the only methods served).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Go on: send the representation (or the part asked for).
    Proceed,
    /// `304 Not Modified`.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// §13.2.2: `If-Match`, else `If-Unmodified-Since`; then `If-None-Match`, else
/// `If-Modified-Since`. A date that does not parse is ignored, as §13.1.3 and §13.1.4 ask.
pub(crate) fn evaluate(c: &Conditions, v: &Validators) -> Outcome {
    if let Some(if_match) = &c.if_match {
        if !matches_any(if_match, &v.etag, Comparison::Strong) {
            return Outcome::Failed;
        }
    } else if let Some(date) = c.if_unmodified_since.as_deref().and_then(parse_date)
        && v.last_modified > date
    {
        return Outcome::Failed;
    }
    if let Some(if_none_match) = &c.if_none_match {
        if matches_any(if_none_match, &v.etag, Comparison::Weak) {
            return Outcome::NotModified;
        }
    } else if let Some(date) = c.if_modified_since.as_deref().and_then(parse_date)
        && v.last_modified <= date
    {
        return Outcome::NotModified;
    }
    Outcome::Proceed
}

/// §13.1.5: whether a `Range` may be honoured: the `If-Range` entity tag matches strongly, or its
/// date is exactly the `Last-Modified` sent. Absent: yes.
pub(crate) fn range_applies(c: &Conditions, v: &Validators) -> bool {
    let Some(if_range) = c.if_range.as_deref().map(str::trim) else {
        return true;
    };
    if if_range.starts_with('"') || if_range.starts_with("W/") {
        return matches_any(if_range, &v.etag, Comparison::Strong);
    }
    parse_date(if_range) == Some(v.last_modified)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// Whether the `#entity-tag` list (or `*`) in `header` holds `etag` (§8.8.3.2's comparisons).
fn matches_any(header: &str, etag: &str, comparison: Comparison) -> bool {
    if header.trim() == "*" {
        return true;
    }
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        let Some(body) = rest.strip_prefix('"') else {
            return false; // not an entity tag: nothing further can be read
        };
        let Some(end) = body.find('"') else {
            return false;
        };
        let tag = &rest[..end + 2];
        rest = &body[end + 1..];
        if tag == etag && (comparison == Comparison::Weak || !weak) {
            return true;
        }
    }
}

fn parse_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validators() -> Validators {
        Validators::new(5, UNIX_EPOCH + Duration::from_secs(784_111_777), None)
    }

    #[test]
    fn last_modified_is_an_imf_fixdate() {
        assert_eq!(validators().http_date(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let v = validators();
        let c = Conditions {
            if_none_match: Some("\"other\"".into()),
            if_modified_since: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()),
            ..Conditions::default()
        };
        assert_eq!(evaluate(&c, &v), Outcome::Proceed);
        let c = Conditions {
            if_none_match: Some(format!("\"x\", W/{}", v.etag)),
            ..Conditions::default()
        };
        assert_eq!(evaluate(&c, &v), Outcome::NotModified);
    }

    #[test]
    fn dates_compare_by_the_second() {
        let v = validators();
        let at = |d: &str| Conditions {
            if_modified_since: Some(d.into()),
            ..Conditions::default()
        };
        assert_eq!(
            evaluate(&at("Sun, 06 Nov 1994 08:49:37 GMT"), &v),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&at("Sun, 06 Nov 1994 08:49:36 GMT"), &v),
            Outcome::Proceed
        );
        assert_eq!(evaluate(&at("yesterday"), &v), Outcome::Proceed);
    }

    #[test]
    fn if_match_needs_a_strong_match() {
        let v = validators();
        let c = |h: String| Conditions {
            if_match: Some(h),
            ..Conditions::default()
        };
        assert_eq!(evaluate(&c(v.etag.clone()), &v), Outcome::Proceed);
        assert_eq!(evaluate(&c(format!("W/{}", v.etag)), &v), Outcome::Failed);
        assert_eq!(evaluate(&c("*".into()), &v), Outcome::Proceed);
    }

    #[test]
    fn if_range_with_a_weak_tag_or_another_date_does_not_apply() {
        let v = validators();
        let c = |h: String| Conditions {
            if_range: Some(h),
            ..Conditions::default()
        };
        assert!(range_applies(&c(v.etag.clone()), &v));
        assert!(!range_applies(&c(format!("W/{}", v.etag)), &v));
        assert!(range_applies(&c(v.http_date()), &v));
        assert!(!range_applies(
            &c("Sun, 06 Nov 1994 08:49:38 GMT".into()),
            &v
        ));
    }
}
