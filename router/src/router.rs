//! The route table: registration, conflict detection and lookup.
//!
//! This file owns [`Router`] and [`Match`]: it keeps the registered routes (pattern, param names,
//! value) in registration order, compiles each into the [tree](crate::tree) and refuses a pattern
//! whose slots are already taken. Pattern syntax lives in `pattern.rs`, the walk in `tree.rs`.

use std::fmt;

use crate::error::InsertError;
use crate::params::Params;
use crate::pattern::Pattern;
use crate::tree::{Node, RouteId, Values};

/// A table of path patterns, each mapped to a value of type `T`.
///
/// Built once at start-up, then cloned per core: `Router<T>` is `Clone` when `T` is, holds no
/// lock and no `Arc`, and [`at`](Router::at) takes `&self` and allocates nothing.
///
/// ```
/// use imphnen_router::Router;
///
/// let mut router = Router::new();
/// router.insert("/users/:id", "user").unwrap();
/// router.insert("/users/new", "new user form").unwrap();
///
/// let m = router.at("/users/42").unwrap();
/// assert_eq!(*m.value, "user");
/// assert_eq!(m.params.get("id").as_deref(), Some("42"));
///
/// // Static beats param, whatever the registration order.
/// assert_eq!(*router.at("/users/new").unwrap().value, "new user form");
/// assert!(router.at("/nope").is_none());
/// ```
#[derive(Clone)]
pub struct Router<T> {
    root: Node,
    routes: Vec<Route<T>>,
}

#[derive(Clone)]
struct Route<T> {
    pattern: Box<str>,
    /// Param names in path order; the wildcard's name (`*` or `*name`) is last.
    names: Box<[Box<str>]>,
    value: T,
}

/// A successful lookup: the route's value, its pattern and the params taken from the path.
///
/// `'r` borrows the router, `'p` the request path.
#[derive(Debug, Clone)]
pub struct Match<'r, 'p, T> {
    /// The value registered with the matched pattern.
    pub value: &'r T,
    /// The matched pattern as registered, e.g. `/room/:roomId` (handy for logs and metrics).
    pub pattern: &'r str,
    /// The params captured from the path.
    pub params: Params<'r, 'p>,
}

impl<T> Router<T> {
    /// An empty router.
    ///
    /// ```
    /// let router = imphnen_router::Router::<()>::new();
    /// assert!(router.is_empty());
    /// ```
    pub fn new() -> Self {
        Router {
            root: Node::default(),
            routes: Vec::new(),
        }
    }

    /// Registers `pattern` with `value`.
    ///
    /// Refuses, leaving the router unchanged:
    /// - a malformed pattern ([`InsertError::Malformed`], saying what is wrong);
    /// - the same pattern string twice ([`InsertError::Duplicate`]; use
    ///   [`get_or_insert_with`](Router::get_or_insert_with) to merge instead);
    /// - a pattern that would share a path with an existing one at the same priority
    ///   ([`InsertError::Conflict`], naming both patterns and an example path).
    ///
    /// ```
    /// use imphnen_router::{InsertError, Router};
    ///
    /// let mut router = Router::new();
    /// router.insert("/chat/:userId?", 1).unwrap();
    /// assert!(matches!(router.insert("/chat/:userId?", 2), Err(InsertError::Duplicate { .. })));
    /// let err = router.insert("/chat", 3).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "route `/chat` conflicts with already registered route `/chat/:userId?`: \
    ///      both would match `/chat` with the same priority"
    /// );
    /// assert!(router.insert("/chat/:userId/*", 4).is_ok());
    /// ```
    pub fn insert(&mut self, pattern: &str, value: T) -> Result<(), InsertError> {
        self.insert_route(pattern, value).map(|_| ())
    }

    fn insert_route(&mut self, pattern: &str, value: T) -> Result<usize, InsertError> {
        let parsed = Pattern::parse(pattern)?;
        let slots = parsed.slots();
        for slot in &slots {
            if let Some(id) = self.root.occupant(slot) {
                let existing = &self.routes[id as usize].pattern;
                if **existing == *pattern {
                    return Err(InsertError::Duplicate {
                        pattern: pattern.to_owned(),
                    });
                }
                return Err(InsertError::Conflict {
                    pattern: pattern.to_owned(),
                    existing: existing.to_string(),
                    example: slot.example_path(),
                });
            }
        }
        let index = self.routes.len();
        let id = RouteId::try_from(index).expect("more than u32::MAX routes");
        for slot in &slots {
            self.root.occupy(slot, id);
        }
        self.routes.push(Route {
            pattern: pattern.into(),
            names: parsed.param_names().map(Box::from).collect(),
            value,
        });
        Ok(index)
    }

    /// The value registered under exactly this pattern string, creating it with `make` if the
    /// pattern is new. This is how one path gets several HTTP methods:
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// let mut router: Router<Vec<&str>> = Router::new();
    /// router.get_or_insert_with("/api/messages/:roomId", Vec::new).unwrap().push("GET");
    /// router.get_or_insert_with("/api/messages/:roomId", Vec::new).unwrap().push("POST");
    /// assert_eq!(*router.at("/api/messages/lobby").unwrap().value, ["GET", "POST"]);
    /// ```
    ///
    /// Errors as [`insert`](Router::insert) does, except that the same pattern is not a
    /// duplicate here.
    pub fn get_or_insert_with(
        &mut self,
        pattern: &str,
        make: impl FnOnce() -> T,
    ) -> Result<&mut T, InsertError> {
        let index = match self.routes.iter().position(|r| *r.pattern == *pattern) {
            Some(index) => index,
            None => self.insert_route(pattern, make())?,
        };
        Ok(&mut self.routes[index].value)
    }

    /// Finds the route for a request path (without its query string, see
    /// [`split_target`](crate::split_target)).
    ///
    /// Priority, segment by segment from the left: static, then param, then wildcard; a path
    /// with a trailing slash prefers a route registered with one, and falls back to the route
    /// without (and the other way round). Allocates nothing unless the route has more than four
    /// params.
    ///
    /// ```
    /// use imphnen_router::Router;
    ///
    /// let mut router = Router::new();
    /// router.insert("/files/*", "fallback").unwrap();
    /// router.insert("/files/readme", "readme").unwrap();
    ///
    /// assert_eq!(*router.at("/files/readme").unwrap().value, "readme");
    /// let m = router.at("/files/img/logo.png").unwrap();
    /// assert_eq!((*m.value, m.params.raw("*")), ("fallback", Some("img/logo.png")));
    /// ```
    #[inline]
    pub fn at<'r, 'p>(&'r self, path: &'p str) -> Option<Match<'r, 'p, T>> {
        let mut values = Values::new();
        let id = self.root.find(path, &mut values)?;
        let route = &self.routes[id as usize];
        Some(Match {
            value: &route.value,
            pattern: &route.pattern,
            params: Params::new(&route.names, values),
        })
    }

    /// The value registered under exactly this pattern string (not a path lookup).
    ///
    /// ```
    /// let mut router = imphnen_router::Router::new();
    /// router.insert("/room/:roomId", 7).unwrap();
    /// assert_eq!(router.get("/room/:roomId"), Some(&7));
    /// assert_eq!(router.get("/room/lobby"), None);
    /// ```
    pub fn get(&self, pattern: &str) -> Option<&T> {
        self.routes
            .iter()
            .find(|r| *r.pattern == *pattern)
            .map(|r| &r.value)
    }

    /// Mutable access to the value registered under exactly this pattern string.
    ///
    /// ```
    /// let mut router = imphnen_router::Router::new();
    /// router.insert("/echo", 1).unwrap();
    /// *router.get_mut("/echo").unwrap() += 1;
    /// assert_eq!(router.get("/echo"), Some(&2));
    /// ```
    pub fn get_mut(&mut self, pattern: &str) -> Option<&mut T> {
        self.routes
            .iter_mut()
            .find(|r| *r.pattern == *pattern)
            .map(|r| &mut r.value)
    }

    /// The registered `(pattern, value)` pairs, in registration order.
    ///
    /// ```
    /// let mut router = imphnen_router::Router::new();
    /// router.insert("/b", 2).unwrap();
    /// router.insert("/a", 1).unwrap();
    /// let all: Vec<_> = router.iter().collect();
    /// assert_eq!(all, [("/b", &2), ("/a", &1)]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &T)> {
        self.routes.iter().map(|r| (&*r.pattern, &r.value))
    }

    /// The registered `(pattern, value)` pairs with mutable values, in registration order.
    ///
    /// ```
    /// let mut router = imphnen_router::Router::new();
    /// router.insert("/a", 1).unwrap();
    /// router.iter_mut().for_each(|(_, v)| *v *= 10);
    /// assert_eq!(router.get("/a"), Some(&10));
    /// ```
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&str, &mut T)> {
        self.routes.iter_mut().map(|r| (&*r.pattern, &mut r.value))
    }

    /// The number of registered patterns.
    ///
    /// ```
    /// let mut router = imphnen_router::Router::new();
    /// router.insert("/chat/:userId?", ()).unwrap();
    /// assert_eq!(router.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no pattern is registered.
    ///
    /// ```
    /// assert!(imphnen_router::Router::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
