//! Path parameters of a matched route.
//!
//! This file owns [`Params`]: the values captured by `:name`, `:name?` and `*` segments, kept as
//! slices of the request path and decoded only when asked for. It does not match paths (the tree
//! does) nor implement serde (the `de` module does).

use std::borrow::Cow;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::de::{Mode, PairsDeserializer};
use crate::decode::percent_decode;
use crate::error::{DecodeError, ParseError};
use crate::tree::Values;

/// The params of a matched route, as `(name, value)` pairs in path order.
///
/// Values are slices of the request path, still percent-encoded. Three ways to read them:
/// - [`get`](Params::get) decodes and treats an undecodable value as absent: the pleasant default
///   for handlers, since a malformed value is the client's fault;
/// - [`try_get`](Params::try_get) decodes and reports a [`DecodeError`];
/// - [`raw`](Params::raw) returns the value exactly as it appeared in the path.
///
/// Paths decode `%XX` escapes only: a `+` in a path is a plus sign. A wildcard's value is the rest
/// of the path (possibly empty, possibly holding `/`), under the name `*` or `*name`'s `name`. An
/// absent optional param is simply absent.
///
/// ```
/// use imphnen_router::Router;
///
/// let mut router = Router::new();
/// router.insert("/room/:roomId", ()).unwrap();
///
/// let m = router.at("/room/caf%C3%A9").unwrap();
/// assert_eq!(m.params.get("roomId").as_deref(), Some("café"));
/// assert_eq!(m.params.raw("roomId"), Some("caf%C3%A9"));
/// assert_eq!(m.params.get("other"), None);
/// ```
#[derive(Clone, Default)]
pub struct Params<'r, 'p> {
    /// The route's param names; may be one longer than `values` (absent optional param).
    names: &'r [Box<str>],
    values: Values<'p>,
}

impl<'r, 'p> Params<'r, 'p> {
    pub(crate) fn new(names: &'r [Box<str>], values: Values<'p>) -> Self {
        Params { names, values }
    }

    /// The decoded value of param `name`; `None` if absent or if it does not decode (bad `%`
    /// escape or invalid UTF-8; use [`try_get`](Params::try_get) to tell these apart).
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// let mut router = Router::new();
    /// router.insert("/user/:userId", ()).unwrap();
    /// let m = router.at("/user/%FF").unwrap();
    /// assert_eq!(m.params.get("userId"), None);
    /// assert_eq!(m.params.raw("userId"), Some("%FF"));
    /// ```
    pub fn get(&self, name: &str) -> Option<Cow<'p, str>> {
        self.try_get(name).ok().flatten()
    }

    /// The decoded value of param `name`, `Ok(None)` if absent, or why it does not decode.
    ///
    /// ```
    /// use imphnen_router::{DecodeError, Router};
    ///
    /// let mut router = Router::new();
    /// router.insert("/user/:userId", ()).unwrap();
    /// let m = router.at("/user/%C3%28").unwrap();
    /// assert_eq!(m.params.try_get("userId"), Err(DecodeError::InvalidUtf8));
    /// assert_eq!(m.params.try_get("nope"), Ok(None));
    /// ```
    pub fn try_get(&self, name: &str) -> Result<Option<Cow<'p, str>>, DecodeError> {
        self.raw(name).map(percent_decode).transpose()
    }

    /// The value of param `name` exactly as it appears in the path (still percent-encoded).
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// let mut router = Router::new();
    /// router.insert("/files/*path", ()).unwrap();
    /// let m = router.at("/files/a%20b/c.txt").unwrap();
    /// assert_eq!(m.params.raw("path"), Some("a%20b/c.txt"));
    /// ```
    pub fn raw(&self, name: &str) -> Option<&'p str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The `(name, raw value)` pairs in path order.
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// let mut router = Router::new();
    /// router.insert("/a/:x/b/:y", ()).unwrap();
    /// let m = router.at("/a/1/b/2").unwrap();
    /// assert_eq!(m.params.iter().collect::<Vec<_>>(), [("x", "1"), ("y", "2")]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'r str, &'p str)> + '_ {
        self.names
            .iter()
            .zip(self.values.iter())
            .map(|(n, v)| (&**n, *v))
    }

    /// How many params were captured (an absent optional param is not counted).
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// let mut router = Router::new();
    /// router.insert("/chat/:userId?", ()).unwrap();
    /// assert_eq!(router.at("/chat").unwrap().params.len(), 0);
    /// assert_eq!(router.at("/chat/42").unwrap().params.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no param was captured.
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// let mut router = Router::new();
    /// router.insert("/echo", ()).unwrap();
    /// assert!(router.at("/echo").unwrap().params.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Deserializes the params into `T`, parsing each value from its decoded text.
    ///
    /// Fields may be strings, integers, floats, `bool` (`true`/`false`, `1`/`0`, `on`/`off`),
    /// `char`, unit-variant enums, `Option<_>` (absent or empty → `None`) and newtypes of
    /// these. The error names the field and what is wrong with it.
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct Room { #[serde(rename = "roomId")] room_id: u64, page: Option<u32> }
    ///
    /// let mut router = Router::new();
    /// router.insert("/room/:roomId/:page?", ()).unwrap();
    ///
    /// let room: Room = router.at("/room/42").unwrap().params.parse().unwrap();
    /// assert_eq!(room, Room { room_id: 42, page: None });
    ///
    /// let err = router.at("/room/lobby").unwrap().params.parse::<Room>().unwrap_err();
    /// assert_eq!(err.to_string(), "field `roomId`: invalid value `lobby`: invalid digit found in string");
    /// ```
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ParseError> {
        let fields = self
            .iter()
            .map(|(name, value)| (Cow::Borrowed(name), smallvec::smallvec![value]))
            .collect();
        T::deserialize(PairsDeserializer::new(fields, Mode::Path))
    }
}

impl fmt::Debug for Params<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
