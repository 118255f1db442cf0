//! `Accept-Encoding` (RFC 9110 §12.5.3) against the precompressed siblings a file may have.
//!
//! Owns the choice of coding: which of `br` and `gzip` the client accepts, in its order of
//! preference. It does not own finding the sibling files (`serve.rs`).

/// A content coding a precompressed sibling may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    /// Brotli (RFC 7932): the file's `.br` sibling.
    Br,
    /// gzip (RFC 1952): the file's `.gz` sibling.
    Gzip,
}

impl Coding {
    /// The `Content-Encoding` value.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The sibling's file-name suffix.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// The codings `accept_encoding` accepts (a weight above 0, named or through `*`), best first;
/// at equal weights `br` (the smaller files) before `gzip`. No header: none (identity).
pub(crate) fn accepted(accept_encoding: Option<&str>) -> Vec<Coding> {
    let Some(header) = accept_encoding else {
        return Vec::new();
    };
    let (mut br, mut gzip, mut any) = (None, None, None);
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let weight = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| weight(v.trim()))
            })
            .unwrap_or(Some(1000));
        let Some(weight) = weight else {
            continue; // a malformed weight: the item is ignored
        };
        if name.eq_ignore_ascii_case("br") {
            br = Some(weight);
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight);
        } else if name == "*" {
            any = Some(weight);
        }
    }
    let mut out: Vec<(u16, Coding)> = [(br.or(any), Coding::Br), (gzip.or(any), Coding::Gzip)]
        .into_iter()
        .filter_map(|(w, c)| w.filter(|w| *w > 0).map(|w| (w, c)))
        .collect();
    // Stable: br stays first at equal weight.
    out.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
    out.into_iter().map(|(_, c)| c).collect()
}

/// A qvalue (§12.4.2: `0`, `1`, up to three decimals) in thousandths.
fn weight(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    #[test]
    fn browsers_headers_prefer_br() {
        assert_eq!(accepted(Some("gzip, deflate, br, zstd")), [Br, Gzip]);
        assert_eq!(accepted(Some("gzip, deflate")), [Gzip]);
        assert_eq!(accepted(Some("br")), [Br]);
        assert_eq!(accepted(None), []);
        assert_eq!(accepted(Some("identity")), []);
    }

    #[test]
    fn weights_order_and_zero_refuses() {
        assert_eq!(accepted(Some("br;q=0.5, gzip;q=0.8")), [Gzip, Br]);
        assert_eq!(accepted(Some("br;q=0, gzip")), [Gzip]);
        assert_eq!(accepted(Some("*;q=0.1, gzip;q=0")), [Br]);
        assert_eq!(accepted(Some("*")), [Br, Gzip]);
        assert_eq!(accepted(Some("br;q=2, gzip")), [Gzip]);
    }
}
