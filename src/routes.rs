//! The tables an [`App`](crate::App) builds before it listens: HTTP routes by path and method,
//! WebSocket routes, middleware, the fallback and the state; and how another app's tables are
//! nested or merged into them.
//!
//! Owns: registration and its rules (a path and method registered once; a nested app's
//! middleware wraps its own routes only). Does not own: what runs per request (`service.rs`).

use std::sync::Arc;

use http::Method;
use imphnen_engine::Call;
use imphnen_router::Router;

use crate::handler::HttpHandler;
use crate::middleware::{self, Endpoint, Erased, Reply, Stack};
use crate::state::StateSpec;
use crate::ws::WsRoute;

/// The handlers of one path, by method.
#[derive(Clone, Default)]
pub(crate) struct MethodTable {
    handlers: Vec<(Method, Endpoint)>,
    /// Answers every method no handler is registered for (a nested app's fallback).
    any: Option<Endpoint>,
    /// The middleware of the nested app every handler here came from, outermost first: the
    /// path's `405` goes through it as its handlers do (its `Cors` answers a preflight).
    /// `None` for the app's own paths, and for a path several apps share.
    nested: Option<Stack>,
}

impl MethodTable {
    /// The handler for `method`; `HEAD` falls back to `GET` (RFC 9110 §9.3.2: answered like
    /// GET, without the body).
    pub(crate) fn get(&self, method: &Method) -> Option<&Endpoint> {
        let found = self.handlers.iter().find(|(m, _)| m == method);
        match found {
            None if method == Method::HEAD => self.handlers.iter().find(|(m, _)| m == Method::GET),
            other => other,
        }
        .map(|(_, h)| h)
        .or(self.any.as_ref())
    }

    /// The nested app's middleware a `405` on this path goes through, if any.
    pub(crate) fn nested_middleware(&self) -> Option<&Stack> {
        self.nested.as_ref()
    }

    /// The `Allow` field of a 405 (RFC 9110 §10.2.1).
    pub(crate) fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.handlers.iter().map(|(m, _)| m.as_str()).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        methods.join(", ")
    }
}

/// A WebSocket route and its chain's end (the upgrade, behind a nested app's middleware).
#[derive(Clone)]
pub(crate) struct WsEntry {
    pub(crate) route: WsRoute,
    pub(crate) endpoint: Endpoint,
}

/// Everything registered on an app.
#[derive(Clone, Default)]
pub(crate) struct Routes {
    pub(crate) http: Router<MethodTable>,
    pub(crate) ws: Router<WsEntry>,
    pub(crate) middleware: Vec<Erased>,
    pub(crate) fallback: Option<Endpoint>,
    pub(crate) states: StateSpec,
}

impl Routes {
    /// Adds `endpoint` for `method` on `path`.
    ///
    /// # Panics
    /// On a malformed or conflicting path, or a method registered twice for it.
    pub(crate) fn add_http(&mut self, method: Method, path: &str, endpoint: Endpoint) {
        let table = match self.http.get_or_insert_with(path, MethodTable::default) {
            Ok(t) => t,
            Err(e) => panic!("imphnen: cannot register HTTP route: {e}"),
        };
        if table.handlers.iter().any(|(m, _)| *m == method) {
            panic!("imphnen: {method} {path} is registered twice");
        }
        table.handlers.push((method, endpoint));
        // A handler from elsewhere makes the path shared: its 405 is the app's own (a nesting
        // that brought all of the path's handlers sets this again after adding them).
        table.nested = None;
    }

    /// Adds a WebSocket route.
    ///
    /// # Panics
    /// On a malformed or conflicting path.
    pub(crate) fn add_ws(&mut self, path: &str, route: WsRoute, endpoint: Endpoint) {
        if let Err(e) = self.ws.insert(path, WsEntry { route, endpoint }) {
            panic!("imphnen: cannot register WebSocket route: {e}");
        }
    }

    /// Takes in `other`'s routes under `prefix` (`""` to merge), each behind `other`'s
    /// middleware; its state joins this app's; its fallback answers every path under
    /// `prefix` that none of its routes matches.
    ///
    /// # Panics
    /// On a route that conflicts with one of this app's, a state type both registered, or a
    /// fallback of a merged (not nested) app when this one has its own.
    pub(crate) fn absorb(&mut self, prefix: &str, other: Routes) {
        let prefix = normalize_prefix(prefix);
        let stack: Stack = other.middleware.into();
        for (pattern, table) in other.http.iter() {
            let path = join(&prefix, pattern);
            let shared = self.http.get(&path).is_some();
            for (method, endpoint) in &table.handlers {
                self.add_http(
                    method.clone(),
                    &path,
                    middleware::wrap(&stack, endpoint.clone()),
                );
            }
            // The fallback of an app `other` nested in turn: it answers under its own prefix.
            if let Some(any) = &table.any {
                self.add_any(&path, middleware::wrap(&stack, any.clone()));
            }
            if let Some(merged) = self.http.get_mut(&path) {
                merged.nested = if shared {
                    None
                } else {
                    chain(&stack, table.nested.as_ref())
                };
            }
        }
        for (pattern, entry) in other.ws.iter() {
            let endpoint = middleware::wrap(&stack, entry.endpoint.clone());
            let path = join(&prefix, pattern);
            self.add_ws(&path, entry.route.with_pattern(&path), endpoint);
        }
        if let Some(fallback) = other.fallback {
            let fallback = middleware::wrap(&stack, fallback);
            if prefix.is_empty() {
                assert!(
                    self.fallback.is_none(),
                    "imphnen: both merged apps have a fallback"
                );
                self.fallback = Some(fallback);
            } else {
                self.add_any(&format!("{prefix}/*"), fallback);
            }
        }
        self.states.merge(other.states);
    }

    /// Makes `fallback` answer every method without a handler on `path` (a nested app's
    /// fallback, on `prefix/*`).
    ///
    /// # Panics
    /// When `path` already has a fallback, or conflicts with another route.
    fn add_any(&mut self, path: &str, fallback: Endpoint) {
        match self.http.get_or_insert_with(path, MethodTable::default) {
            Ok(table) if table.any.is_none() => table.any = Some(fallback),
            Ok(_) => panic!("imphnen: {path} has two fallbacks"),
            Err(e) => panic!("imphnen: cannot register the fallback at {path}: {e}"),
        }
    }
}

/// An HTTP handler as a chain's end: its events carry the route (and the method) when anything
/// listens at `error`.
pub(crate) fn endpoint<M, H: HttpHandler<M>>(route: &str, handler: H) -> Endpoint {
    let route: Arc<str> = route.into();
    Arc::new(move |ctx| {
        // Events of the handler (its error, a failed serialization) carry the route. With
        // nothing listening at `error` the span is disabled and costs one check.
        let span = tracing::error_span!("request", method = ctx.method().as_str(), route = &*route);
        if span.is_disabled() {
            return Reply(handler.call(ctx));
        }
        Reply(match span.in_scope(|| handler.call(ctx)) {
            Call::Future(fut) => Call::Future(Box::pin(tracing::Instrument::instrument(fut, span))),
            ready => ready,
        })
    })
}

/// `outer`'s middleware, then `inner`'s; `None` when there is none.
fn chain(outer: &Stack, inner: Option<&Stack>) -> Option<Stack> {
    let all: Vec<Erased> = outer
        .iter()
        .chain(inner.into_iter().flat_map(|s| s.iter()))
        .cloned()
        .collect();
    (!all.is_empty()).then(|| all.into())
}

/// `"/api/"` and `"api"` are `"/api"`; `"/"` and `""` are `""`.
fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// `pattern` under `prefix`: `/api` + `/` is `/api`, `/api` + `/users` is `/api/users`.
fn join(prefix: &str, pattern: &str) -> String {
    match pattern {
        "/" if !prefix.is_empty() => prefix.to_owned(),
        _ => format!("{prefix}{pattern}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{join, normalize_prefix};

    #[test]
    fn prefixes_join_without_doubled_or_missing_slashes() {
        assert_eq!(normalize_prefix("/api/"), "/api");
        assert_eq!(normalize_prefix("api"), "/api");
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(join("/api", "/"), "/api");
        assert_eq!(join("/api", "/users/:id"), "/api/users/:id");
        assert_eq!(join("", "/users"), "/users");
    }
}
