//! Negotiating permessage-deflate (RFC 7692 §5, §7.1), server side, as a pure function:
//! the client's `Sec-WebSocket-Extensions` offers and the server's [`DeflatePolicy`] in, the
//! [`Agreement`] (and the response header it writes) out.
//!
//! The field grammar is RFC 6455 §9.1: a comma-separated list of extensions, each a token
//! followed by `;`-separated parameters, each `token [ "=" ( token | quoted-string ) ]`. Several
//! header fields form one list. Offers are considered in the client's order of preference; an
//! offer this module cannot accept (an unknown, repeated or malformed parameter, a window size
//! outside 8..=15) is skipped for the next one (§5, §7.1). An offer that is malformed as a whole
//! is skipped up to the next comma, and the rest of the list is still read.
//!
//! # Window sizes
//! - `server_max_window_bits=N` limits the LZ77 window of the server's compressor. zlib cannot
//!   compress with a window of 8 bits (it silently uses 9, which would corrupt a client whose
//!   window is 8), so an offer demanding 8 is **accepted, and the server never compresses** on
//!   that connection: RFC 7692 §6 lets an endpoint send any message uncompressed, and the
//!   client's compressed messages are still inflated. The answer states 8, as requested.
//! - `client_max_window_bits` is answered only when the client offered it, with the smaller of
//!   the offered value and the policy's, and never below 9; without an answer the decompressor
//!   keeps a window of 15 bits, which inflates anything the client may send (§7.1.2.2).

/// What the server asks for and accepts. Built by the engine from its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflatePolicy {
    /// Reset the server's compressor after every message (`server_no_context_takeover` is then
    /// always in the answer). Needed when one compressor serves many connections.
    pub server_no_context_takeover: bool,
    /// Ask the client to reset its compressor after every message (`client_no_context_takeover`
    /// is then always in the answer, §7.1.1.2). Needed when one decompressor serves many
    /// connections.
    pub client_no_context_takeover: bool,
    /// The largest LZ77 window the server's compressor uses, 9..=15.
    pub server_max_window_bits: u8,
    /// The largest LZ77 window the server wants to keep for decompressing, 9..=15; answered
    /// when the client offers `client_max_window_bits`.
    pub client_max_window_bits: u8,
}

impl Default for DeflatePolicy {
    /// Context takeover on both sides, 15-bit windows: what a client that asks for nothing gets.
    fn default() -> Self {
        DeflatePolicy {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The parameters of one permessage-deflate offer, validated (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateOffer {
    /// `server_no_context_takeover`: the client asks the server to reset its compressor per
    /// message.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`: the client will reset its compressor per message.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`: the largest window the server's compressor may use.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits[=N]`: the client accepts a limit on its own window; without a
    /// value, the parameter says only that (recorded as 15).
    pub client_max_window_bits: Option<u8>,
}

/// The negotiated permessage-deflate parameters of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message: inflating a message needs no
    /// earlier one.
    pub client_no_context_takeover: bool,
    /// The window the server compresses with; `None` when the client demanded 8 bits, which zlib
    /// cannot produce: the server then sends every message uncompressed.
    pub server_window_bits: Option<u8>,
    /// `server_max_window_bits` value in the answer, if any.
    answer_server_window: Option<u8>,
    /// The window the decompressor needs, 9..=15 (the answered `client_max_window_bits`, or 15).
    pub client_window_bits: u8,
    /// `client_max_window_bits` is in the answer (with `client_window_bits`).
    answer_client_window: bool,
}

impl Agreement {
    /// The `Sec-WebSocket-Extensions` value answering the accepted offer (§7.1).
    pub fn response(&self) -> String {
        let mut out = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.answer_server_window {
            out.push_str(&format!("; server_max_window_bits={bits}"));
        }
        if self.answer_client_window {
            out.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_window_bits
            ));
        }
        out
    }
}

/// The first permessage-deflate offer in `fields` (the raw `Sec-WebSocket-Extensions` values, in
/// order) that `policy` can accept, and the agreement answering it. `None`: no extension is
/// negotiated and the 101 carries no `Sec-WebSocket-Extensions`.
pub fn negotiate<'a>(
    fields: impl IntoIterator<Item = &'a [u8]>,
    policy: &DeflatePolicy,
) -> Option<Agreement> {
    fields
        .into_iter()
        .flat_map(|field| Extensions { rest: field })
        .find_map(|ext| ext.ok().and_then(|e| e.deflate_offer()))
        .map(|offer| agree(&offer, policy))
}

/// The answer to one acceptable offer.
fn agree(offer: &DeflateOffer, policy: &DeflatePolicy) -> Agreement {
    let ours = policy.server_max_window_bits.clamp(9, 15);
    let (server_window_bits, answer_server_window) = match offer.server_max_window_bits {
        Some(8) => (None, Some(8)),
        Some(limit) => (Some(limit.min(ours)), Some(limit.min(ours))),
        None if ours < 15 => (Some(ours), Some(ours)),
        None => (Some(15), None),
    };
    let wanted = policy.client_max_window_bits.clamp(9, 15);
    let (client_window_bits, answer_client_window) = match offer.client_max_window_bits {
        Some(limit) if limit.min(wanted) >= 9 && limit.min(wanted) < 15 => {
            (limit.min(wanted), true)
        }
        _ => (15, false),
    };
    Agreement {
        server_no_context_takeover: offer.server_no_context_takeover
            || policy.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || policy.client_no_context_takeover,
        server_window_bits,
        answer_server_window,
        client_window_bits,
        answer_client_window,
    }
}

/// One extension of the list: its name and its parameters, unparsed.
struct Extension<'a> {
    name: &'a [u8],
    /// The bytes after the name up to the next top-level comma.
    params: &'a [u8],
}

impl Extension<'_> {
    /// This extension as a permessage-deflate offer, if it is one and every parameter is valid.
    fn deflate_offer(&self) -> Option<DeflateOffer> {
        if !self.name.eq_ignore_ascii_case(b"permessage-deflate") {
            return None;
        }
        let mut offer = DeflateOffer::default();
        let mut seen = 0u8;
        let mut rest = self.params;
        while let Some((name, value, after)) = next_param(rest)? {
            rest = after;
            let (bit, ok) = match name.to_ascii_lowercase().as_slice() {
                b"server_no_context_takeover" => {
                    offer.server_no_context_takeover = true;
                    (1, value.is_none())
                }
                b"client_no_context_takeover" => {
                    offer.client_no_context_takeover = true;
                    (2, value.is_none())
                }
                b"server_max_window_bits" => {
                    offer.server_max_window_bits = value.and_then(window_bits);
                    (4, offer.server_max_window_bits.is_some())
                }
                b"client_max_window_bits" => {
                    offer.client_max_window_bits = match value {
                        None => Some(15),
                        Some(v) => window_bits(v),
                    };
                    (8, offer.client_max_window_bits.is_some())
                }
                _ => return None, // an unknown parameter: decline this offer (§7.1)
            };
            if !ok || seen & bit != 0 {
                return None; // a bad value or a repeated parameter (§7.1)
            }
            seen |= bit;
        }
        Some(offer)
    }
}

/// A window size: a decimal 8..=15 without leading zeros (§7.1.2.1).
fn window_bits(value: Value<'_>) -> Option<u8> {
    let digits = value.unquoted()?;
    match digits {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// A parameter value as written: a token, or a quoted string still to unescape.
#[derive(Clone, Copy)]
enum Value<'a> {
    Token(&'a [u8]),
    Quoted(&'a [u8]),
}

impl Value<'_> {
    /// The value's characters; `None` when a quoted value is not a token once unescaped
    /// (RFC 6455 §9.1) or holds an escape (no token needs one, and no window size has one).
    fn unquoted(&self) -> Option<&[u8]> {
        let bytes = match *self {
            Value::Token(t) => t,
            Value::Quoted(q) => q,
        };
        (!bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))).then_some(bytes)
    }
}

/// The extensions of one field value, in order; `Err` for one that does not parse (skipped).
struct Extensions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Result<Extension<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = skip_ows(self.rest);
            if s.is_empty() {
                return None;
            }
            if s[0] == b',' {
                // RFC 9110 §5.6.1: empty list elements are ignored.
                self.rest = &s[1..];
                continue;
            }
            let end = element_end(s);
            let (element, after) = s.split_at(end);
            self.rest = after.strip_prefix(b",").unwrap_or(after);
            let name_len = token_len(element);
            if name_len == 0 {
                return Some(Err(()));
            }
            let (name, params) = element.split_at(name_len);
            // The parameters must parse to the end; checked here so a malformed element is an
            // `Err` whatever its name.
            let mut rest = params;
            loop {
                match next_param(rest) {
                    Some(Some((_, _, after))) => rest = after,
                    Some(None) => break,
                    None => return Some(Err(())),
                }
            }
            return Some(Ok(Extension { name, params }));
        }
    }
}

/// One `; name [= value]` off the front of `s`: `Some(None)` at the end of the parameters,
/// `None` when they do not parse.
#[allow(clippy::type_complexity)]
fn next_param(s: &[u8]) -> Option<Option<(&[u8], Option<Value<'_>>, &[u8])>> {
    let s = skip_ows(s);
    if s.is_empty() {
        return Some(None);
    }
    let s = skip_ows(s.strip_prefix(b";")?);
    let name_len = token_len(s);
    if name_len == 0 {
        return None;
    }
    let (name, s) = s.split_at(name_len);
    let after_name = skip_ows(s);
    let Some(v) = after_name.strip_prefix(b"=") else {
        return Some(Some((name, None, s)));
    };
    let v = skip_ows(v);
    if let Some(q) = v.strip_prefix(b"\"") {
        // A quoted-string (RFC 9110 §5.6.4): up to the closing quote, escapes skipped over.
        let mut i = 0;
        while i < q.len() {
            match q[i] {
                b'"' => return Some(Some((name, Some(Value::Quoted(&q[..i])), &q[i + 1..]))),
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        return None; // unterminated
    }
    let len = token_len(v);
    if len == 0 {
        return None;
    }
    Some(Some((name, Some(Value::Token(&v[..len])), &v[len..])))
}

/// Where the list element starting `s` ends: the first comma outside a quoted string.
fn element_end(s: &[u8]) -> usize {
    let mut quoted = false;
    let mut i = 0;
    while i < s.len() {
        match (s[i], quoted) {
            (b',', false) => return i,
            (b'"', _) => quoted = !quoted,
            (b'\\', true) => i += 1,
            _ => {}
        }
        i += 1;
    }
    s.len()
}

fn skip_ows(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn token_len(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| is_tchar(b)).count()
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(fields: &[&str], policy: &DeflatePolicy) -> Option<String> {
        negotiate(fields.iter().map(|f| f.as_bytes()), policy).map(|a| a.response())
    }

    const SHARED: DeflatePolicy = DeflatePolicy {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };

    #[test]
    fn negotiation_table() {
        let d = DeflatePolicy::default();
        let small = DeflatePolicy {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            ..d
        };
        let table: &[(&[&str], &DeflatePolicy, Option<&str>)] = &[
            (&[], &d, None),
            (&["x-webkit-deflate-frame"], &d, None),
            (&["permessage-deflate"], &d, Some("permessage-deflate")),
            // What browsers send.
            (
                &["permessage-deflate; client_max_window_bits"],
                &d,
                Some("permessage-deflate"),
            ),
            (
                &["permessage-deflate; client_max_window_bits"],
                &small,
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
            ),
            (
                &["permessage-deflate"],
                &SHARED,
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            (
                &["permessage-deflate; server_no_context_takeover"],
                &d,
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            (
                &["permessage-deflate; client_no_context_takeover"],
                &d,
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            // A smaller server window than ours is honoured, a larger one is ours.
            (
                &["permessage-deflate; server_max_window_bits=10"],
                &d,
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                &["permessage-deflate; server_max_window_bits=15"],
                &small,
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            // 8 bits: accepted as asked, and nothing is compressed (see the module docs).
            (
                &["permessage-deflate; server_max_window_bits=8"],
                &d,
                Some("permessage-deflate; server_max_window_bits=8"),
            ),
            // The client's window: never answered below 9, never above what it offered.
            (
                &["permessage-deflate; client_max_window_bits=8"],
                &small,
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (
                &["permessage-deflate; client_max_window_bits=10"],
                &small,
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"),
            ),
            // Quoted values, case and spacing.
            (
                &["Permessage-Deflate ;Server_Max_Window_Bits = \"11\""],
                &d,
                Some("permessage-deflate; server_max_window_bits=11"),
            ),
            // Refused offers move on to the next one: duplicates, bad values, unknowns.
            (
                &[
                    "permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; client_no_context_takeover",
                ],
                &d,
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            (
                &[
                    "permessage-deflate; server_max_window_bits=16",
                    "permessage-deflate; server_max_window_bits=7",
                    "permessage-deflate; server_max_window_bits=010",
                    "permessage-deflate; server_max_window_bits",
                    "permessage-deflate; client_max_window_bits=1a",
                    "permessage-deflate; client_no_context_takeover=1",
                    "permessage-deflate; foo",
                    "permessage-deflate; server_max_window_bits=9",
                ],
                &d,
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
            // A malformed element is skipped; the list goes on after its comma.
            (
                &["permessage-deflate; =x, foo; bar=\"a,b\", permessage-deflate"],
                &d,
                Some("permessage-deflate"),
            ),
            (
                &["permessage-deflate; server_max_window_bits=\"1"],
                &d,
                None,
            ),
            (&[",, ,"], &d, None),
        ];
        for (fields, policy, expected) in table {
            assert_eq!(
                answer(fields, policy).as_deref(),
                *expected,
                "offers {fields:?}"
            );
        }
    }

    #[test]
    fn an_agreement_states_what_each_side_does() {
        let a = negotiate(
            [&b"permessage-deflate; server_max_window_bits=8; client_max_window_bits=11"[..]],
            &SHARED,
        )
        .unwrap();
        assert_eq!(a.server_window_bits, None);
        assert_eq!(a.client_window_bits, 11);
        assert!(a.server_no_context_takeover && a.client_no_context_takeover);
        let a = negotiate([&b"permessage-deflate"[..]], &DeflatePolicy::default()).unwrap();
        assert_eq!(a.server_window_bits, Some(15));
        assert_eq!(a.client_window_bits, 15);
        assert!(!a.server_no_context_takeover && !a.client_no_context_takeover);
    }
}
