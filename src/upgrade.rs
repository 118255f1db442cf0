//! The upgrade hook: what a WebSocket route sees of the upgrade request before the 101 is sent,
//! and how it accepts (with per-connection data and maybe a subprotocol) or refuses.
//!
//! Owns: [`UpgradeRequest`] (params, query, headers, remote address, offered subprotocols, the
//! chosen one). Does not own: the handshake itself (the engine validates it, checks the chosen
//! subprotocol was offered and writes the 101), nor what happens after (`ws.rs`).

use std::borrow::Cow;
use std::net::SocketAddr;

use imphnen_engine::Request;
use imphnen_router::{Params, Query};

/// The upgrade request of a WebSocket route, as its upgrade hook sees it (see
/// [`App::ws_with`](crate::App::ws_with)). The hook runs on the connection's core, before the
/// `101 Switching Protocols` is written.
///
/// ```
/// use imphnen::{Response, UpgradeRequest};
///
/// /// The guide's token check, done before the connection opens.
/// fn check(req: &mut UpgradeRequest<'_>) -> Result<String, Response> {
///     match req.query().get("token") {
///         Some(token) if token == "secret" => Ok("alice".to_owned()),
///         _ => Err(Response::text("Unauthorized").with_status(401)),
///     }
/// }
/// ```
pub struct UpgradeRequest<'a> {
    request: &'a Request,
    params: Params<'a, 'a>,
    protocol: Option<String>,
    keep_headers: bool,
}

impl<'a> UpgradeRequest<'a> {
    pub(crate) fn new(request: &'a Request, params: Params<'a, 'a>) -> UpgradeRequest<'a> {
        UpgradeRequest {
            request,
            params,
            protocol: None,
            keep_headers: false,
        }
    }

    /// The route parameters (`/room/:roomId` → `params().get("roomId")`), percent-decoded on
    /// access.
    pub fn params(&self) -> &Params<'a, 'a> {
        &self.params
    }

    /// One route parameter, percent-decoded; `None` when absent.
    pub fn param(&self, name: &str) -> Option<Cow<'a, str>> {
        self.params.get(name)
    }

    /// The query string's pairs (`?token=abc` → `query().get("token")`).
    pub fn query(&self) -> Query<'a> {
        Query::new(self.request.query().unwrap_or(""))
    }

    /// The first value of request header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.request.header(name)
    }

    /// Every header of the request, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.request.headers()
    }

    /// The request path (still percent-encoded).
    pub fn path(&self) -> &'a str {
        self.request.path()
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.request.remote_addr()
    }

    /// The whole request.
    pub fn request(&self) -> &'a Request {
        self.request
    }

    /// The subprotocols the client offered in `Sec-WebSocket-Protocol`, in its order of
    /// preference.
    pub fn protocols(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.request
            .headers()
            .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
            .filter_map(|(_, value)| std::str::from_utf8(value).ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// Confirms `protocol` in the 101's `Sec-WebSocket-Protocol`. Returns `false` (and chooses
    /// nothing) when the client did not offer it: RFC 6455 §4.2.2 allows only an offered one.
    pub fn select_protocol(&mut self, protocol: &str) -> bool {
        let offered = self.protocols().any(|p| p == protocol);
        if offered {
            self.protocol = Some(protocol.to_owned());
        }
        offered
    }

    /// The subprotocol chosen so far.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Keeps the request's header fields for this connection's callbacks after the upgrade
    /// (`ctx.header`, `ctx.headers`, the host in `ctx.url`). They cost their size on every open
    /// connection, so they are not kept otherwise; copying the few a handler needs into the
    /// connection's data costs less.
    pub fn keep_headers(&mut self) {
        self.keep_headers = true;
    }

    /// The subprotocol chosen and whether the headers are kept.
    pub(crate) fn into_kept(self) -> (Option<String>, bool) {
        (self.protocol, self.keep_headers)
    }
}
