//! The app on one core: its own copies of the route tables, its middleware, its state, and
//! the engine's [`Service`] that runs each request (and each WebSocket upgrade) through them.
//!
//! Owns: routing a request to its chain's end (a handler, 405, 426, the fallback or 404) and
//! the upgrade's decision (the chain answered the route's `101`, or refused). Does not own:
//! registration (`routes.rs`) or the handlers.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use imphnen_engine::{Call, Request, Response, Service, Upgrade, WebSocket, WsSession};
use imphnen_router::{Params, Router};

use crate::handler::Ctx;
use crate::middleware::{self, Endpoint, Reply, Stack};
use crate::routes::{MethodTable, Routes};
use crate::state::States;
use crate::ws::{CoreRoute, WsRoute};

/// One core's app.
pub(crate) struct CoreApp {
    http: Router<MethodTable>,
    ws: Router<CoreWs>,
    middleware: Stack,
    /// The end of the chain when no route matches: the app's fallback, or `404 Not Found`.
    not_found: Endpoint,
    /// An upgrade to a path no WebSocket route matches: `404` (the fallback is for HTTP).
    no_ws_route: Endpoint,
    /// A WebSocket route asked for without the upgrade (RFC 9110 §15.5.22).
    upgrade_required: Endpoint,
    pub(crate) states: Rc<States>,
}

/// A WebSocket route on this core.
#[derive(Clone)]
pub(crate) struct CoreWs {
    route: WsRoute,
    core: Rc<CoreRoute>,
    endpoint: Endpoint,
}

/// What accepting an upgrade request needs, carried by its [`Ctx`] through the middleware.
pub(crate) struct UpgradeSlot {
    ws: WebSocket,
    route: Option<CoreWs>,
    accepted: Rc<Cell<Option<Accepted>>>,
}

/// The route's hook accepted: the session waits here while the middleware finishes.
struct Accepted {
    session: Rc<dyn WsSession>,
    protocol: Option<String>,
}

impl CoreApp {
    /// The app of the core calling this (per-core state is made now, on its thread).
    pub(crate) fn build(routes: &Routes) -> Rc<CoreApp> {
        let states = Rc::new(routes.states.for_core());
        let mut ws = Router::new();
        for (pattern, entry) in routes.ws.iter() {
            let core = CoreWs {
                route: entry.route.clone(),
                core: CoreRoute::new(&entry.route, states.clone()),
                endpoint: entry.endpoint.clone(),
            };
            ws.insert(pattern, core)
                .expect("the pattern was accepted by the app's router");
        }
        Rc::new(CoreApp {
            http: routes.http.clone(),
            ws,
            middleware: routes.middleware.clone().into(),
            not_found: routes
                .fallback
                .clone()
                .unwrap_or_else(|| answer(Response::text("Not Found").with_status(404))),
            no_ws_route: answer(Response::text("Not Found").with_status(404)),
            upgrade_required: answer(
                Response::text("Upgrade Required")
                    .with_status(426)
                    .with_header("upgrade", "websocket")
                    .with_header("connection", "Upgrade"),
            ),
            states,
        })
    }

    /// The parameters of the route `path` matches, among WebSocket routes for an upgrade.
    pub(crate) fn params<'a>(&'a self, path: &'a str, upgrade: bool) -> Option<Params<'a, 'a>> {
        if upgrade {
            self.ws.at(path).map(|m| m.params)
        } else {
            self.http.at(path).map(|m| m.params)
        }
    }

    /// The end of the chain for an HTTP request.
    fn http_endpoint(&self, req: &Request) -> Endpoint {
        match self.http.at(req.path()) {
            Some(m) => match m.value.get(req.method()) {
                Some(handler) => handler.clone(),
                None => {
                    let not_allowed = answer(
                        Response::text("Method Not Allowed")
                            .with_status(405)
                            .with_header("allow", m.value.allow()),
                    );
                    // A nested app's path: its middleware runs as it does for its handlers.
                    match m.value.nested_middleware() {
                        Some(stack) => middleware::wrap(stack, not_allowed),
                        None => not_allowed,
                    }
                }
            },
            None if self.ws.at(req.path()).is_some() => self.upgrade_required.clone(),
            None => self.not_found.clone(),
        }
    }
}

/// An endpoint that answers `response`.
fn answer(response: Response) -> Endpoint {
    Arc::new(move |_| Reply::ready(response.clone()))
}

/// The engine's service on one core.
pub(crate) struct AppService(pub(crate) Rc<CoreApp>);

impl Service for AppService {
    fn call(&self, req: Request) -> Call<Response> {
        let app = &self.0;
        let endpoint = app.http_endpoint(&req);
        let ctx = Ctx::new(req, app.clone(), None);
        middleware::run(&app.middleware, &endpoint, ctx).into_call()
    }

    fn upgrade(&self, req: Request, ws: &WebSocket) -> Call<Upgrade> {
        let app = &self.0;
        let route = app.ws.at(req.path()).map(|m| m.value.clone());
        let endpoint = match &route {
            Some(route) => route.endpoint.clone(),
            None => app.no_ws_route.clone(),
        };
        let accepted = Rc::new(Cell::new(None));
        let slot = UpgradeSlot {
            ws: ws.clone(),
            route,
            accepted: accepted.clone(),
        };
        let ctx = Ctx::new(req, app.clone(), Some(Box::new(slot)));
        match middleware::run(&app.middleware, &endpoint, ctx).into_call() {
            Call::Ready(res) => Call::Ready(decide(res, &accepted)),
            Call::Future(fut) => {
                Call::Future(Box::pin(async move { decide(fut.await, &accepted) }))
            }
        }
    }
}

/// The end of every WebSocket route's chain: the route's hook decides; on acceptance the
/// session waits in the slot and the chain answers `101`.
pub(crate) fn upgrade_endpoint() -> Endpoint {
    Arc::new(|ctx: Ctx| {
        let (request, slot, _) = ctx.into_upgrade();
        let Some(UpgradeSlot {
            ws,
            route: Some(route),
            accepted,
        }) = slot.map(|s| *s)
        else {
            // Only an upgrade request that matched a WebSocket route reaches this endpoint
            // (`AppService::upgrade` puts both in the slot): nothing else can.
            tracing::error!("a WebSocket route's endpoint ran without its upgrade; answering 500");
            return Reply::ready(Response::new(500));
        };
        Reply::ready(match route.route.upgrade(ws, request, &route.core) {
            Upgrade::Accept {
                session, protocol, ..
            } => {
                accepted.set(Some(Accepted { session, protocol }));
                Response::new(101)
            }
            Upgrade::Reject(refusal) => refusal,
        })
    })
}

/// What the chain's answer to an upgrade means: the `101` the route's endpoint gave (with the
/// header fields middleware added), or a refusal.
fn decide(res: Response, accepted: &Cell<Option<Accepted>>) -> Upgrade {
    match (res.status().as_u16(), accepted.take()) {
        (101, Some(Accepted { session, protocol })) => Upgrade::Accept {
            session,
            protocol,
            headers: res
                .headers()
                .map(|(name, value)| (name.to_owned().into(), value.to_vec().into()))
                .collect(),
        },
        (101, None) => {
            tracing::error!(
                "a middleware answered 101 to an upgrade without running the route; answering 500"
            );
            Upgrade::Reject(Response::new(500))
        }
        // A middleware replaced the route's 101: the session is dropped unopened.
        _ => Upgrade::Reject(res),
    }
}
