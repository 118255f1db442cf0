//! Header field storage and access (RFC 9110 §5): the caller's slots, borrowed field lines,
//! case-insensitive lookup and comma-separated list members.
//!
//! Owns how fields are stored and read. It does not interpret any field: framing lives in
//! `framing.rs`, connection options in `request.rs`.

use std::mem::MaybeUninit;

use super::Limits;

/// Storage for the header fields of one request head, provided by the caller (usually on the
/// stack) so that parsing allocates nothing. `N` is the capacity; the effective limit is the
/// smaller of `N` and [`Limits::max_headers`].
///
/// The slots start uninitialized: creating them costs nothing, so declaring a fresh
/// `HeaderSlots` per request is free.
pub struct HeaderSlots<'b, const N: usize = { Limits::DEFAULT_MAX_HEADERS }> {
    pub(crate) slots: [MaybeUninit<httparse::Header<'b>>; N],
}

impl<'b, const N: usize> HeaderSlots<'b, N> {
    /// Uninitialized storage for up to `N` header fields.
    pub const fn new() -> Self {
        HeaderSlots {
            slots: [const { MaybeUninit::uninit() }; N],
        }
    }

    /// How many fields these slots can hold.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize> Default for HeaderSlots<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// One field line: a name (a token, RFC 9110 §5.1) and its value with surrounding whitespace
/// removed (RFC 9112 §5). Both borrow the request buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The field name as sent (compare case-insensitively).
    pub name: &'a str,
    /// The field value: arbitrary bytes without CR, LF or NUL (obs-text is allowed).
    pub value: &'a [u8],
}

/// The header fields of a request head, in the order received. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    fields: &'a [httparse::Header<'a>],
}

impl<'a> Headers<'a> {
    pub(crate) fn new(fields: &'a [httparse::Header<'a>]) -> Self {
        Headers { fields }
    }

    /// Number of field lines.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the head has no field lines.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// All field lines, in order received.
    pub fn iter(&self) -> impl Iterator<Item = HeaderField<'a>> + 'a {
        self.fields.iter().map(|h| HeaderField {
            name: h.name,
            value: h.value,
        })
    }

    /// The value of the first field named `name` (ASCII case-insensitive, RFC 9110 §5.1).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.get_all(name).next()
    }

    /// The values of every field named `name` (ASCII case-insensitive), in order received.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        let fields = self.fields;
        fields
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The members of the comma-separated list formed by every field named `name`
    /// (RFC 9110 §5.3, §5.6.1): split on commas, optional whitespace trimmed, empty members skipped.
    pub fn list<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.get_all(name).flat_map(list_members)
    }

    /// True when the list formed by every field named `name` has a member equal to `token`
    /// (ASCII case-insensitive), as for `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|member| member.eq_ignore_ascii_case(token.as_bytes()))
    }
}

impl std::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.fields
                    .iter()
                    .map(|h| (h.name, String::from_utf8_lossy(h.value))),
            )
            .finish()
    }
}

/// The non-empty members of one comma-separated field value, each trimmed of optional
/// whitespace (RFC 9110 §5.6.1: `#element`, empty elements are ignored).
pub(crate) fn list_members(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|member| !member.is_empty())
}

/// `value` without leading and trailing OWS (SP / HTAB, RFC 9110 §5.6.3).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// True for a `tchar` (RFC 9110 §5.6.2), the bytes a token is made of.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// True when `s` is a non-empty token (RFC 9110 §5.6.2).
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}
