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
        let keep_alive = framing.keep_alive
            && !c.flags.has(Flags::CLOSE_AFTER_FLUSH)
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

    /// RFC 6455 §4.2: validates the opening handshake, asks the service, writes the 101 and
    /// switches the connection to the WebSocket phase.
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
        let (index, generation) = slot_of(t);
        let handle = WebSocket::new(
            self.hub.clone(),
            self.index,
            Slot { index, generation },
            peer,
        );
        let request = Request::from_head(head, head_bytes, Bytes::new(), peer);
        // User code: the upgrade hook. It reaches the core only through queued commands.
        let service = self.service.clone();
        let decided =
            self.call_user(|| tasks::start(|| Call::Ready(service.upgrade(request, &handle))));
        self.run_own();
        let (session, protocol) = match decided {
            Polled::Done(Ok(Upgrade::Accept { session, protocol })) => (session, protocol),
            Polled::Done(Ok(Upgrade::Reject(resp))) => {
                self.respond_and_close(t, Ok(resp));
                return;
            }
            Polled::Done(Err(panic)) => {
                self.respond_and_close(t, Err(panic));
                return;
            }
            Polled::Pending(_) => unreachable!("a ready call is never pending"),
        };
        let protocol = protocol.filter(|p| hs.protocols().any(|offered| offered == p));
        let deflate = self
            .deflate
            .negotiate(&self.cfg.websocket, index, hs.extensions());
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        let written = {
            let mut result = Ok(());
            let extension = deflate
                .as_ref()
                .map(|d| ("Sec-WebSocket-Extensions", d.response.as_bytes()));
            c.output.write(&mut self.queues, None, |out| {
                result = hs.write_response(out, protocol.as_deref(), extension.as_slice());
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
