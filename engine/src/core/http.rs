//! What the HTTP phase's events mean: a request is handed to the service and its response
//! written in order; a malformed request is answered with its status and the connection closes;
//! a WebSocket upgrade is validated (RFC 6455 §4.2), offered to the service, answered with the
//! 101 and switches the connection to the WebSocket phase.

use imphnen_protocol::http::{
    HttpError, RequestHead, StatusCode, write_empty_closing, write_error,
};
use imphnen_protocol::ws::handshake;

use super::State;
use super::tasks::{self, Finished, Polled};
use bytes::Bytes;

use crate::conn::{Flags, PendingBody, Phase, ResponseFraming, WsConn};
use crate::driver::{Io, Token, slot_of};
use crate::proto::http::HttpEvent;
use crate::service::{Call, Upgrade};
use crate::shared::command::Slot;
use crate::{ReadyState, Request, Response, WebSocket};

impl<I: Io> State<I> {
    pub(super) fn on_http_event(&mut self, t: Token, event: HttpEvent<'_>) {
        match event {
            HttpEvent::Head(head, head_bytes, framing) => {
                let Some(peer) = self.begin_request(t, framing) else {
                    return;
                };
                let service = self.service.clone();
                self.run_http(t, || {
                    service.call(Request::from_head(&head, head_bytes, Bytes::new(), peer))
                });
            }
            HttpEvent::WithBody(pending) => {
                let PendingBody {
                    request,
                    body,
                    framing,
                    ..
                } = *pending;
                if self.begin_request(t, framing).is_none() {
                    return;
                }
                let service = self.service.clone();
                self.run_http(t, move || {
                    service.call(request.with_body(Bytes::from(body)))
                });
            }
            HttpEvent::Upgrade(head, head_bytes) => self.upgrade(t, &head, head_bytes),
            HttpEvent::Refuse(e) => self.refuse(t, e),
        }
    }

    /// Notes the framing of the response a request will get; the peer's address, if `t` is
    /// still an HTTP connection.
    fn begin_request(
        &mut self,
        t: Token,
        framing: ResponseFraming,
    ) -> Option<std::net::SocketAddr> {
        let c = self.conns.conn(t)?;
        let Phase::Http(h) = &mut c.phase else {
            return None;
        };
        h.in_flight = Some(framing);
        Some(h.peer)
    }

    /// Runs an HTTP handler of `t`: answered at once, or its future runs while `t` waits.
    fn run_http(&mut self, t: Token, make: impl FnOnce() -> Call<Response>) {
        match self.call_user(|| tasks::start(make)) {
            Polled::Done(r) => self.http_done(t, r),
            Polled::Pending(fut) => {
                if let Some(c) = self.conns.conn(t) {
                    c.flags.set(Flags::BUSY);
                }
                self.tasks.push(fut, move |r| Finished::Http(t, r));
            }
        }
        self.run_own();
    }

    /// Writes the response of the request in flight.
    pub(super) fn http_done(&mut self, t: Token, r: Result<Response, String>) {
        let resp = r.unwrap_or_else(|panic| {
            self.counters.handler_panics.add(1);
            tracing::error!(
                core = self.index,
                conn = t,
                %panic,
                "HTTP handler panicked; answering 500"
            );
            Response::new(500)
        });
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        let Phase::Http(h) = &mut c.phase else {
            return;
        };
        let framing = h.in_flight.take().unwrap_or(ResponseFraming {
            head_only: false,
            keep_alive: false,
        });
        // A client that half-closed with no request left gets the close announced.
        let peer_done = c.flags.has(Flags::PEER_FIN) && c.input.is_empty();
        let keep_alive = framing.keep_alive
            && !c.flags.has(Flags::CLOSE_AFTER_FLUSH)
            && !peer_done
            && self.shutdown_at.is_none();
        let date = &self.date;
        c.output.write(&mut self.queues, None, |out| {
            resp.write_to(out, date, framing.head_only, !keep_alive)
        });
        if !keep_alive {
            c.flags.set(Flags::CLOSE_AFTER_FLUSH);
        }
        self.mark_dirty(t);
    }

    /// Answers a malformed request with its status and closes the connection.
    #[inline(never)]
    fn refuse(&mut self, t: Token, e: HttpError) {
        tracing::debug!(core = self.index, conn = t, error = %e, "refused a malformed request");
        let date = &self.date;
        if let Some(c) = self.conns.conn(t) {
            c.output
                .write(&mut self.queues, None, |out| write_error(out, e, date));
            c.flags.set(Flags::CLOSE_AFTER_FLUSH);
        }
    }

    /// A request that did not complete within `request_timeout` gets `status` (408), then
    /// the connection closes.
    #[inline(never)]
    pub(super) fn http_timeout(&mut self, t: Token, status: u16) {
        let date = &self.date;
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        c.input.release(&mut self.bytes);
        if let Phase::Http(h) = &mut c.phase {
            h.body = None;
            h.request_started = None;
        }
        c.output.write(&mut self.queues, None, |out| {
            write_empty_closing(out, StatusCode(status), date)
        });
        c.flags.set(Flags::CLOSE_AFTER_FLUSH);
        self.mark_dirty(t);
    }

    /// RFC 6455 §4.2: validates the opening handshake and asks the service, whose answer may
    /// take a while (an async middleware or hook): meanwhile the connection is busy and its
    /// further input waits. The answer is carried out by [`upgrade_decided`](Self::upgrade_decided).
    #[inline(never)]
    fn upgrade(&mut self, t: Token, head: &RequestHead<'_>, head_bytes: &[u8]) {
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        let Phase::Http(h) = &c.phase else { return };
        let peer = h.peer;
        let hs = match handshake::validate(head) {
            Ok(hs) => hs,
            Err(e) => {
                tracing::debug!(
                    core = self.index,
                    conn = t,
                    error = %e,
                    "refused a WebSocket handshake"
                );
                let date = &self.date;
                c.output
                    .write(&mut self.queues, None, |out| e.write_response(out, date));
                c.flags.set(Flags::CLOSE_AFTER_FLUSH);
                return;
            }
        };
        let origin_allowed = self
            .cfg
            .websocket
            .allowed_origins
            .allows(head.headers().get("origin"), head.headers().get("host"));
        let offer = Offer::of(&hs, origin_allowed);
        let (index, generation) = slot_of(t);
        let handle = WebSocket::new(
            self.hub.clone(),
            self.index,
            Slot { index, generation },
            peer,
        );
        let request = Request::from_head(head, head_bytes, Bytes::new(), peer);
        // User code: middleware and the upgrade hook. It reaches the core only through queued
        // commands.
        let service = self.service.clone();
        match self.call_user(|| tasks::start(|| service.upgrade(request, &handle))) {
            Polled::Done(decided) => {
                self.run_own();
                self.upgrade_decided(t, offer, decided);
            }
            Polled::Pending(fut) => {
                if let Some(c) = self.conns.conn(t) {
                    c.flags.set(Flags::BUSY);
                }
                let offer = Box::new(offer);
                self.tasks
                    .push(fut, move |r| Finished::Upgrade(t, offer, r));
                self.run_own();
            }
        }
    }

    /// The service decided upgrade `t`: the 101 and the WebSocket phase, or its refusal (or a
    /// panic's 500) and the close.
    pub(super) fn upgrade_decided(
        &mut self,
        t: Token,
        offer: impl std::borrow::Borrow<Offer>,
        decided: Result<Upgrade, String>,
    ) {
        let offer = offer.borrow();
        let (session, protocol, headers) = match decided {
            Ok(Upgrade::Accept {
                session,
                protocol,
                headers,
            }) => (session, protocol, headers),
            Ok(Upgrade::Reject(resp)) => return self.respond_and_close(t, Ok(resp)),
            Err(panic) => return self.respond_and_close(t, Err(panic)),
        };
        if !offer.origin_allowed {
            tracing::debug!(
                core = self.index,
                conn = t,
                "refused a WebSocket from another origin"
            );
            let refused =
                Response::text("Forbidden: this page's origin may not open a WebSocket here")
                    .with_status(403);
            return self.respond_and_close(t, Ok(refused));
        }
        // The connection may have ended while an async decision ran.
        if !matches!(self.conns.conn(t).map(|c| &c.phase), Some(Phase::Http(_))) {
            return;
        }
        let protocol = protocol.filter(|p| offer.offers_protocol(p));
        let index = slot_of(t).0;
        let deflate = self
            .deflate
            .negotiate(&self.cfg.websocket, index, offer.extensions());
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        let written = {
            let mut result = Ok(());
            let mut extra: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(name, value)| (name.as_ref(), value.as_ref()))
                .collect();
            if let Some(d) = &deflate {
                extra.push(("Sec-WebSocket-Extensions", d.response.as_bytes()));
            }
            c.output.write(&mut self.queues, None, |out| {
                result = handshake::write_switching_protocols(
                    out,
                    &offer.accept,
                    protocol.as_deref(),
                    &extra,
                );
            });
            result
        };
        if written.is_err() {
            c.flags.set(Flags::CLOSE_AFTER_FLUSH);
            if deflate.is_some() {
                self.deflate.forget(index);
            }
            return;
        }
        if let Some(d) = &deflate {
            c.flags.set(d.flags);
        }
        c.phase = Phase::Ws(WsConn::new(session.clone()));
        self.counters.websockets_opened.add(1);
        c.output.start_counting(cell);
        cell.set_state(ReadyState::Open);
        if c.flags.has(Flags::PEER_FIN) {
            // The client finished while the upgrade was decided: nothing can come of it but
            // the 101 and `open`'s output; then the connection ends.
            c.flags.set(Flags::CLOSE_AFTER_FLUSH);
        }
        self.mark_dirty(t);
        self.run_ws(t, move || session.on_open().into());
    }

    /// Answers an upgrade the service refused (or whose hook panicked), then closes.
    fn respond_and_close(&mut self, t: Token, r: Result<Response, String>) {
        if let Some(c) = self.conns.conn(t)
            && let Phase::Http(h) = &mut c.phase
        {
            h.in_flight = Some(ResponseFraming {
                head_only: false,
                keep_alive: false,
            });
        }
        self.http_done(t, r);
    }
}

/// What the 101 needs of a valid opening handshake, owned, so that the service may decide after
/// the request's bytes are gone: the `Sec-WebSocket-Accept` value, and the subprotocols and
/// extensions offered (each field's values joined into one list, which RFC 9110 §5.3 makes the
/// same thing).
pub(crate) struct Offer {
    accept: [u8; handshake::ACCEPT_KEY_LEN],
    /// The request's `Origin` passed `WsConfig::allowed_origins`.
    origin_allowed: bool,
    protocols: Box<str>,
    extensions: Box<[u8]>,
}

impl Offer {
    fn of(hs: &handshake::Handshake<'_>, origin_allowed: bool) -> Offer {
        let protocols: Vec<&str> = hs.protocols().collect();
        let mut extensions = Vec::new();
        for value in hs.extensions() {
            if !extensions.is_empty() {
                extensions.extend_from_slice(b", ");
            }
            extensions.extend_from_slice(value);
        }
        Offer {
            accept: hs.accept_key(),
            origin_allowed,
            protocols: protocols.join(",").into(),
            extensions: extensions.into(),
        }
    }

    /// `true` when the client offered subprotocol `p` (RFC 6455 §4.2.2: only an offered one
    /// may be confirmed).
    fn offers_protocol(&self, p: &str) -> bool {
        self.protocols.split(',').any(|offered| offered == p)
    }

    /// The `Sec-WebSocket-Extensions` offers, for the negotiator.
    fn extensions(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(&*self.extensions).filter(|e| !e.is_empty())
    }
}
