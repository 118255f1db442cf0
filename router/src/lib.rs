//! Path patterns, route matching, params and query strings for imphnen. No runtime, no IO.
//!
//! The engine keeps one [`Router`] per route table (HTTP, with per-method values, and WebSocket),
//! built once at start-up and cloned per core. A lookup walks a compiled segment tree, allocates
//! nothing, and hands back a [`Match`]: the route's value and its [`Params`], slices of the
//! request path decoded only when read. [`Query`] does the same for the query string, and both
//! deserialize into a user struct with `parse::<T>()`.
//!
//! ```
//! use imphnen_router::{split_target, Router};
//!
//! let mut ws = Router::new();
//! ws.insert("/room/:roomId", "room").unwrap();
//! ws.insert("/chat/:userId?", "chat").unwrap();
//!
//! let (path, query) = split_target("/room/lobby?token=abc123");
//! let m = ws.at(path).unwrap();
//! assert_eq!(*m.value, "room");
//! assert_eq!(m.params.get("roomId").as_deref(), Some("lobby"));
//! assert_eq!(query.get("token").as_deref(), Some("abc123"));
//!
//! assert_eq!(ws.at("/chat").unwrap().params.get("userId"), None);
//! ```
//!
//! # Pattern syntax
//!
//! A pattern starts with `/` and is a list of `/`-separated segments, each one of:
//!
//! | segment | matches | param |
//! |---|---|---|
//! | `chat` | exactly `chat`, compared with the raw (undecoded) path | none |
//! | `:roomId` | any one non-empty segment | `roomId` |
//! | `:userId?` | last segment only: any one segment, or nothing (`/chat/:userId?` matches `/chat` and `/chat/42`) | `userId`, absent when there is no segment |
//! | `*` or `*rest` | last segment only: the rest of the path, possibly empty, `/` included (`/files/*` matches `/files`, `/files/` and `/files/a/b`) | `*`, or `rest` |
//!
//! Parameter names hold ASCII letters, digits, `_` and `-`. A `:` inside a segment is literal
//! (`/v1/projects:batchGet`); `*` and `?` inside a static segment are refused as likely typos.
//! Static segments are compared byte for byte with the request path as it arrived, so register
//! them as they appear on the wire (percent-encoded if they hold reserved or non-ASCII bytes).
//!
//! # Priority
//!
//! Segment by segment, from the left: a static segment beats a param, which beats a wildcard,
//! whatever the order of registration. The walk backtracks: if the static branch fails further
//! down, the param branch is tried, then the wildcard. With `/a/b/d` and `/a/:x/c`, the path
//! `/a/b/c` matches `/a/:x/c`; with `/users/new` and `/users/:id`, `/users/new` matches the first.
//! A path that ends at a node with both an end and a wildcard (`/files` with `/files` and
//! `/files/*` registered) takes the end.
//!
//! # Trailing slash
//!
//! `/a` and `/a/` are the same route unless both are registered: a path with a trailing slash
//! prefers a pattern with one, and falls back to the pattern without (and the other way round).
//! The root `/` is one route.
//!
//! # Conflicts
//!
//! [`Router::insert`] refuses a pattern when some path would be matched by it and by an existing
//! pattern at the same priority, so that no match ever depends on registration order:
//! - same shape, different names: `/a/:id` vs `/a/:name`, `/files/*` vs `/files/*path`;
//! - an optional param against the shorter route: `/chat/:userId?` vs `/chat` (both match
//!   `/chat`), or against the same param: `/chat/:userId?` vs `/chat/:roomId`;
//! - the same pattern twice is [`InsertError::Duplicate`], so the facade can merge (see
//!   [`Router::get_or_insert_with`]).
//!
//! Not conflicts (priority decides): static vs param vs wildcard at the same position, `/a` vs
//! `/a/`, and params with different names at the same position in patterns of different lengths
//! (`/a/:id` and `/a/:name/edit`: names belong to the route, not to the tree).
//!
//! Malformed patterns are [`InsertError::Malformed`] with a [`MalformedReason`]: no leading `/`,
//! empty segment, empty or invalid param name, the same name twice, a wildcard or an optional
//! param before the last segment.
//!
//! # Decoding
//!
//! Params decode `%XX` escapes; query names and values also turn `+` into a space. Decoding is
//! checked, never lossy: a bad escape or invalid UTF-8 after decoding is a [`DecodeError`].
//! `get` treats such a value as absent, `try_get` reports it, `raw` skips decoding, and `parse`
//! names the field in its [`ParseError`].
#![deny(missing_docs)]

mod de;
mod decode;
mod error;
mod params;
mod pattern;
mod query;
mod router;
mod tree;

pub use decode::{form_decode, percent_decode};
pub use error::{DecodeError, InsertError, MalformedReason, ParseError, ParseErrorKind};
pub use params::Params;
pub use query::{Query, split_target};
pub use router::{Match, Router};
