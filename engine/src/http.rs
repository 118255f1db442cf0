//! The HTTP/1.1 phase of a connection: requests in, responses out, in order; the upgrade.
//!
//! Every complete request in the input is parsed (pipelining), its body collected (Content-Length
//! or chunked, within the limits), and handed to the service; responses go into the connection's
//! output and leave with one `send` per turn. A request whose handler does not finish at once
//! holds back the requests behind it, so responses keep request order.

use bytes::Bytes;
use imphnen_protocol::http::{
    BodyDecoder, BodyFraming, HeaderSlots, HttpError, Method, Parsed, RequestHead, StatusCode,
    parse_request, write_continue, write_empty_closing, write_error,
};
use imphnen_protocol::ws::handshake;

use crate::conn::{Conn, HttpConn, PendingBody, Phase, ResponseFraming, Token, WsConn, slot_of};
use crate::core::Core;
use crate::output::Output;
use crate::service::Upgrade;
use crate::{ReadyState, Request, Response, WebSocket};

impl Core {
    /// Processes HTTP input; returns the bytes consumed. Stops after an upgrade (the rest of the
    /// input is WebSocket frames), when a handler is still running, or when the connection is to
    /// close.
    pub(crate) fn process_http(&self, t: Token, input: &mut [u8]) -> usize {
        let mut pos = 0;
        loop {
            // A body in progress takes the next bytes.
            match self.feed_body(t, &input[pos..]) {
                BodyStep::NoBody => {}
                BodyStep::NeedMore(n) => return pos + n,
                BodyStep::Failed => return input.len(),
                BodyStep::Done(n, pending) => {
                    pos += n;
                    let PendingBody {
                        request,
                        body,
                        framing,
                        ..
                    } = *pending;
                    self.dispatch(t, request.with_body(Bytes::from(body)), framing);
                    if !self.can_continue(t) {
                        return pos;
                    }
                    continue;
                }
            }
            if pos == input.len() {
                self.with_http(t, |h, _| h.request_started_ms = None);
                return pos;
            }
            let limits = &self.cfg.http.limits;
            let mut slots: HeaderSlots<'_> = HeaderSlots::new();
            let rest = &input[pos..];
            match parse_request(rest, &mut slots, limits) {
                Err(e) => {
                    self.refuse(t, e);
                    return input.len();
                }
                Ok(Parsed::Partial) => {
                    let now = self.now_ms();
                    self.with_http(t, |h, _| {
                        h.request_started_ms.get_or_insert(now);
                    });
                    return pos;
                }
                Ok(Parsed::Complete(head, head_len)) => {
                    let head_bytes = &rest[..head_len];
                    if is_websocket_upgrade(&head) {
                        self.upgrade(t, &head, head_bytes);
                        return pos + head_len;
                    }
                    let framing = ResponseFraming {
                        head_only: head.method() == Method::Head,
                        keep_alive: head.keep_alive() && !self.is_shutting_down(),
                    };
                    let Some(remote) = self.remote_of(t) else {
                        return input.len();
                    };
                    let body_framing = head.body_framing();
                    let request = Request::from_head(&head, head_bytes, Bytes::new(), remote);
                    pos += head_len;
                    if body_framing == BodyFraming::None {
                        self.dispatch(t, request, framing);
                        if !self.can_continue(t) {
                            return pos;
                        }
                        continue;
                    }
                    let expects_continue = head.expects_continue();
                    let now = self.now_ms();
                    let decoder = BodyDecoder::new(body_framing, limits);
                    self.with_http(t, |h, out| {
                        h.request_started_ms.get_or_insert(now);
                        if expects_continue && pos == input.len() {
                            // RFC 9110 §10.1.1: the client waits for this before sending the body.
                            write_continue(out.own_mut(&mut self.pool.borrow_mut()));
                        }
                        h.body = Some(Box::new(PendingBody {
                            request,
                            decoder,
                            body: Vec::new(),
                            framing,
                        }));
                    });
                }
            }
        }
    }

    fn feed_body(&self, t: Token, input: &[u8]) -> BodyStep {
        let mut conns = self.conns.borrow_mut();
        let Some(c) = conns.get_mut(t) else {
            return BodyStep::Failed;
        };
        let Phase::Http(h) = &mut c.phase else {
            return BodyStep::NoBody;
        };
        let Some(pending) = h.body.as_mut() else {
            return BodyStep::NoBody;
        };
        match pending.decoder.decode(input, &mut pending.body) {
            Ok(progress) => {
                if pending.decoder.is_done() {
                    let done = h.body.take().expect("checked above");
                    h.request_started_ms = None;
                    BodyStep::Done(progress.consumed, done)
                } else {
                    BodyStep::NeedMore(progress.consumed)
                }
            }
            Err(e) => {
                drop(conns);
                self.refuse(t, e);
                BodyStep::Failed
            }
        }
    }

    /// `true` when the next pipelined request may be processed now: no handler is running, the
    /// connection is not closing, and the responses already written are not piling up unread
    /// (a client that pipelines requests but never reads would otherwise make the server buffer
    /// every response).
    fn can_continue(&self, t: Token) -> bool {
        let limit = self.cfg.websocket.backpressure_limit;
        match self.conns.borrow_mut().get_mut(t) {
            Some(c) => !c.busy && !c.close_after_flush && c.out.len() < limit,
            None => false,
        }
    }

    fn with_http<R>(&self, t: Token, f: impl FnOnce(&mut HttpConn, &mut Output) -> R) -> Option<R> {
        let mut conns = self.conns.borrow_mut();
        let Conn { phase, out, .. } = conns.get_mut(t)?;
        let Phase::Http(h) = phase else { return None };
        Some(f(h, out))
    }

    fn remote_of(&self, t: Token) -> Option<std::net::SocketAddr> {
        match &self.conns.borrow_mut().get_mut(t)?.phase {
            Phase::Http(h) => Some(h.remote),
            _ => None,
        }
    }

    /// Answers a malformed request with its status and closes the connection.
    fn refuse(&self, t: Token, e: HttpError) {
        let date = self.date.borrow();
        let mut conns = self.conns.borrow_mut();
        if let Some(c) = conns.get_mut(t) {
            c.write_out(&mut self.pool.borrow_mut(), |out| {
                write_error(out, e, &date)
            });
            c.close_after_flush = true;
        }
    }

    /// A request that did not complete within `request_timeout` (`408`), then close.
    pub(crate) fn http_timeout(&self, t: Token, status: u16) {
        {
            let date = self.date.borrow();
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            c.inbuf.release(&mut self.pool.borrow_mut());
            if let Phase::Http(h) = &mut c.phase {
                h.body = None;
                h.request_started_ms = None;
            }
            c.write_out(&mut self.pool.borrow_mut(), |out| {
                write_empty_closing(out, StatusCode(status), &date)
            });
            c.close_after_flush = true;
        }
        self.after_io(t);
    }

    /// Hands a complete request to the service.
    fn dispatch(&self, t: Token, req: Request, framing: ResponseFraming) {
        self.with_http(t, |h, _| h.in_flight = Some(framing));
        self.run_handler(t, || self.service.call(req), Core::http_done);
    }

    /// Writes the response of the request in flight.
    fn http_done(&self, t: Token, r: Result<Response, String>) {
        let resp = r.unwrap_or_else(|panic| {
            eprintln!("imphnen: HTTP handler panicked: {panic}");
            Response::new(500)
        });
        let date = self.date.borrow();
        let mut conns = self.conns.borrow_mut();
        let Some(c) = conns.get_mut(t) else { return };
        let Phase::Http(h) = &mut c.phase else { return };
        let framing = h.in_flight.take().unwrap_or(ResponseFraming {
            head_only: false,
            keep_alive: false,
        });
        let keep_alive = framing.keep_alive && !c.close_after_flush;
        c.write_out(&mut self.pool.borrow_mut(), |out| {
            resp.write_to(out, &date, framing.head_only, !keep_alive)
        });
        if !keep_alive {
            c.close_after_flush = true;
        }
    }

    /// RFC 6455 §4.2: validates the opening handshake, asks the service, writes the 101 and
    /// switches the connection to the WebSocket phase.
    fn upgrade(&self, t: Token, head: &RequestHead<'_>, head_bytes: &[u8]) {
        let hs = match handshake::validate(head) {
            Ok(hs) => hs,
            Err(e) => {
                let date = self.date.borrow();
                if let Some(c) = self.conns.borrow_mut().get_mut(t) {
                    c.write_out(&mut self.pool.borrow_mut(), |out| {
                        e.write_response(out, &date)
                    });
                    c.close_after_flush = true;
                }
                return;
            }
        };
        let Some(remote) = self.remote_of(t) else {
            return;
        };
        let handle = WebSocket::new(self.hub.clone(), self.remote.index, slot_of(t), remote);
        let req = Request::from_head(head, head_bytes, Bytes::new(), remote);
        // User code: no borrow is held here.
        let (session, protocol) = match self.service.upgrade(req, &handle) {
            Upgrade::Accept { session, protocol } => (session, protocol),
            Upgrade::Reject(resp) => {
                self.with_http(t, |h, _| {
                    h.in_flight = Some(ResponseFraming {
                        head_only: false,
                        keep_alive: false,
                    })
                });
                self.http_done(t, Ok(resp));
                return;
            }
        };
        let protocol = protocol.filter(|p| hs.protocols().any(|offered| offered == p));
        {
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            let written = hs.write_response(
                c.out.own_mut(&mut self.pool.borrow_mut()),
                protocol.as_deref(),
                &[],
            );
            if written.is_err() {
                c.close_after_flush = true;
                return;
            }
            c.phase = Phase::Ws(WsConn {
                decoder: None,
                session: session.clone(),
                handle: handle.clone(),
                close_sent: None,
                close_notified: false,
                ping_outstanding: false,
            });
            c.count_out(c.out.len(), true);
        }
        handle.set_state(ReadyState::Open);
        self.run_ws_handler(t, || session.on_open().into());
    }
}

/// What the body decoder made of the next bytes.
enum BodyStep {
    /// No request is waiting for its body.
    NoBody,
    /// Consumed this many bytes; the body is not complete.
    NeedMore(usize),
    /// Consumed this many bytes and the body is complete.
    Done(usize, Box<PendingBody>),
    /// The body was malformed or too large; the refusal is written.
    Failed,
}

/// `Connection: upgrade` with `Upgrade: websocket` (the protocol crate validates the rest).
fn is_websocket_upgrade(head: &RequestHead<'_>) -> bool {
    head.upgrade().is_some_and(|u| {
        u.split(|&b| b == b',')
            .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
}
