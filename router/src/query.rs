//! Query strings: lazy, decoded on access.
//!
//! This file owns [`Query`] (a borrowed view over `a=1&b=2` that parses nothing until asked) and
//! [`split_target`] (request target → path and query). Decoding follows
//! `application/x-www-form-urlencoded`: pairs split on `&`, name and value on the first `=`, `+` is
//! a space, `%XX` escapes are decoded. It does not match paths.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::de::{Mode, PairsDeserializer, RawValues};
use crate::decode::form_decode;
use crate::error::{DecodeError, ParseError};

/// Up to this many distinct names, [`Query::parse`] finds a repeated one by scanning.
const SCANNED_NAMES: usize = 16;

/// Splits a request target into its path and its [`Query`] at the first `?`.
///
/// ```
/// use imphnen_router::split_target;
///
/// let (path, query) = split_target("/connect?token=abc123&username=alice");
/// assert_eq!(path, "/connect");
/// assert_eq!(query.get("username").as_deref(), Some("alice"));
///
/// let (path, query) = split_target("/chat");
/// assert_eq!((path, query.is_empty()), ("/chat", true));
/// ```
pub fn split_target(target: &str) -> (&str, Query<'_>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Query::new(query)),
        None => (target, Query::new("")),
    }
}

/// A query string, parsed lazily: creating one costs nothing, each accessor walks the raw text.
///
/// Decoding rules, the same everywhere in this type:
/// - empty pieces (`a=1&&b=2`) are skipped; a piece without `=` has the empty value (`flag` →
///   `("flag", "")`);
/// - a pair whose *name* does not decode is ignored everywhere (it cannot name anything);
/// - a *value* that does not decode is treated as absent by [`get`](Query::get),
///   [`get_all`](Query::get_all) and [`iter`](Query::iter), and reported by
///   [`try_get`](Query::try_get), [`try_iter`](Query::try_iter) and [`parse`](Query::parse).
///
/// Never lossy: an undecodable value is never replaced with `U+FFFD`.
///
/// ```
/// use imphnen_router::Query;
///
/// let query = Query::new("token=abc123&username=alice");
/// assert_eq!(query.get("token").as_deref(), Some("abc123"));
/// assert_eq!(query.get("missing"), None);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<'q> {
    raw: &'q str,
}

impl<'q> Query<'q> {
    /// Wraps a raw query string (the text after `?`; a leading `?` is tolerated and skipped).
    ///
    /// ```
    /// use imphnen_router::Query;
    /// assert_eq!(Query::new("?a=1"), Query::new("a=1"));
    /// ```
    pub fn new(raw: &'q str) -> Self {
        Query {
            raw: raw.strip_prefix('?').unwrap_or(raw),
        }
    }

    /// The raw query text, still encoded.
    ///
    /// ```
    /// assert_eq!(imphnen_router::Query::new("a=%20").as_str(), "a=%20");
    /// ```
    pub fn as_str(&self) -> &'q str {
        self.raw
    }

    /// Whether the query has no pair at all.
    ///
    /// ```
    /// use imphnen_router::Query;
    /// assert!(Query::new("").is_empty());
    /// assert!(Query::new("&&").is_empty());
    /// assert!(!Query::new("flag").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.raw_pairs().next().is_none()
    }

    /// The `(name, value)` pairs exactly as written, still encoded.
    ///
    /// ```
    /// use imphnen_router::Query;
    /// let pairs: Vec<_> = Query::new("a=1+2&flag").raw_pairs().collect();
    /// assert_eq!(pairs, [("a", "1+2"), ("flag", "")]);
    /// ```
    pub fn raw_pairs(&self) -> impl Iterator<Item = (&'q str, &'q str)> + use<'q> {
        self.raw
            .split('&')
            .filter(|piece| !piece.is_empty())
            .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
    }

    /// The decoded `(name, value)` pairs, in order, skipping pairs that do not decode.
    ///
    /// ```
    /// use imphnen_router::Query;
    /// let pairs: Vec<_> = Query::new("q=hello+world&bad=%FF&n=1").iter().collect();
    /// assert_eq!(pairs, [("q".into(), "hello world".into()), ("n".into(), "1".into())]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'q, str>, Cow<'q, str>)> + use<'q> {
        self.try_iter().filter_map(Result::ok)
    }

    /// The decoded `(name, value)` pairs, in order, with an error for each value that does not
    /// decode (pairs whose name does not decode are skipped).
    ///
    /// ```
    /// use imphnen_router::{DecodeError, Query};
    /// let mut pairs = Query::new("bad=%FF").try_iter();
    /// assert_eq!(pairs.next(), Some(Err(DecodeError::InvalidUtf8)));
    /// ```
    pub fn try_iter(
        &self,
    ) -> impl Iterator<Item = Result<(Cow<'q, str>, Cow<'q, str>), DecodeError>> + use<'q> {
        self.raw_pairs().filter_map(|(name, value)| {
            let name = form_decode(name).ok()?;
            Some(form_decode(value).map(|value| (name, value)))
        })
    }

    /// The first decodable value given for `name`, or `None`.
    ///
    /// ```
    /// use imphnen_router::Query;
    /// let query = Query::new("tag=a&tag=b&msg=hi%21");
    /// assert_eq!(query.get("tag").as_deref(), Some("a"));
    /// assert_eq!(query.get("msg").as_deref(), Some("hi!"));
    /// ```
    pub fn get(&self, name: &str) -> Option<Cow<'q, str>> {
        self.get_all(name).next()
    }

    /// The first value given for `name`, decoded; `Ok(None)` if the name is absent; an error if
    /// that first value does not decode.
    ///
    /// ```
    /// use imphnen_router::{DecodeError, Query};
    /// let query = Query::new("page=%4");
    /// assert_eq!(query.try_get("page"), Err(DecodeError::InvalidEscape { offset: 0 }));
    /// assert_eq!(query.try_get("other"), Ok(None));
    /// ```
    pub fn try_get(&self, name: &str) -> Result<Option<Cow<'q, str>>, DecodeError> {
        self.values_of(name).next().map(form_decode).transpose()
    }

    /// Every decodable value given for `name`, in order.
    ///
    /// ```
    /// use imphnen_router::Query;
    /// let query = Query::new("tag=rust&x=1&tag=web+sockets");
    /// let tags: Vec<_> = query.get_all("tag").collect();
    /// assert_eq!(tags, ["rust", "web sockets"]);
    /// ```
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = Cow<'q, str>> + use<'q, 'n> {
        self.values_of(name).filter_map(|v| form_decode(v).ok())
    }

    /// The raw values whose decoded name is `name`.
    fn values_of<'n>(&self, name: &'n str) -> impl Iterator<Item = &'q str> + use<'q, 'n> {
        self.raw_pairs()
            .filter(move |(n, _)| name_is(n, name))
            .map(|(_, v)| v)
    }

    /// Deserializes the query into `T`, parsing each value from its decoded text.
    ///
    /// Field types as for [`Params::parse`](crate::Params::parse); in addition a `Vec<_>` field
    /// collects every value of a repeated name, while a single-valued field takes the first one.
    /// The error names the field and what is wrong with it.
    ///
    /// ```
    /// use imphnen_router::Query;
    ///
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct Connect { token: String, username: Option<String>, tag: Vec<String> }
    ///
    /// let c: Connect = Query::new("token=abc123&username=alice&tag=a&tag=b").parse().unwrap();
    /// assert_eq!(c, Connect {
    ///     token: "abc123".into(),
    ///     username: Some("alice".into()),
    ///     tag: vec!["a".into(), "b".into()],
    /// });
    ///
    /// let err = Query::new("username=alice").parse::<Connect>().unwrap_err();
    /// assert_eq!(err.to_string(), "missing field `token`");
    /// ```
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ParseError> {
        let mut fields: Vec<(Cow<'q, str>, RawValues<'q>)> = Vec::new();
        // Past a few names, a hash index of them: a scan per pair would make a query of
        // thousands of names (one 8 KiB target holds 2,000) cost milliseconds of a core.
        let mut index: Option<HashMap<Cow<'q, str>, usize>> = None;
        for (name, value) in self.raw_pairs() {
            let Ok(name) = form_decode(name) else {
                continue;
            };
            let found = match &index {
                Some(index) => index.get(&name).copied(),
                None => fields.iter().position(|(n, _)| *n == name),
            };
            match found {
                Some(i) => fields[i].1.push(value),
                None => {
                    if let Some(index) = &mut index {
                        index.insert(name.clone(), fields.len());
                    }
                    fields.push((name, smallvec::smallvec![value]));
                    if index.is_none() && fields.len() > SCANNED_NAMES {
                        let names = fields.iter().enumerate().map(|(i, (n, _))| (n.clone(), i));
                        index = Some(names.collect());
                    }
                }
            }
        }
        T::deserialize(PairsDeserializer::new(fields, Mode::Form))
    }
}

/// Whether the raw (encoded) query name `raw` decodes to `name`, without allocating when `raw`
/// holds no escape.
fn name_is(raw: &str, name: &str) -> bool {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return raw == name;
    }
    form_decode(raw).is_ok_and(|decoded| decoded == name)
}

impl fmt::Debug for Query<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Query").field(&self.raw).finish()
    }
}
