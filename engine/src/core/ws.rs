//! What the WebSocket phase's events mean (RFC 6455 §5–§7): messages go to the handler in order;
//! a protocol error fails the connection with the decoder's close code (our Close goes out and
//! TCP closes without waiting, §7.1.7); a Close from the peer is answered with the same code,
//! then TCP closes, server first (§7.1.1). Also the close handshake from our side, idle pings and
//! timeouts, and the end of a WebSocket.

use imphnen_protocol::ws::{CloseCode, CloseFrame, Decoder, encode_close, encode_ping};

use super::State;
use super::tasks::{self, Finished, Polled};
use crate::ReadyState;
use crate::conn::{Flags, Millis, Phase, WsConn, elapsed};
use crate::driver::{Io, Token, slot_of};
use crate::service::{Call, HandlerError, HandlerResult, LocalFuture};
use crate::shared::command::{ConnId, Slot};
use crate::shared::slots::SUBSCRIBED;

/// Decoders kept per core for connections that start receiving again (more are allocated).
const SPARE_DECODERS: usize = 64;

/// A connection silent this long gives its decoder back at the next tick, if it is between
/// messages; one that keeps receiving keeps it (no exchange per read).
const DECODER_KEEP_MS: u32 = 1000;

impl<I: Io> State<I> {
    /// The peer broke the protocol: fail the connection with the decoder's close code
    /// (RFC 6455 §7.1.7). Out of line, with its trace, to keep `process` small.
    #[inline(never)]
    pub(super) fn ws_protocol_error(&mut self, t: Token, code: CloseCode) {
        tracing::debug!(
            core = self.index,
            conn = t,
            code = code.0,
            "WebSocket protocol error"
        );
        self.fail_ws(t, code)
    }

    fn session_of(&mut self, t: Token) -> Option<std::rc::Rc<dyn crate::service::WsSession>> {
        let c = self.conns.conn(t)?;
        c.ws().map(|ws| ws.session.clone())
    }

    /// Runs a handler of WebSocket `t`: at once, or as a future that holds back the
    /// connection's next events until it finishes.
    pub(super) fn run_ws(&mut self, t: Token, make: impl FnOnce() -> Call<HandlerResult>) {
        match self.call_user(|| tasks::start(make)) {
            Polled::Done(r) => self.ws_handler_done(t, r),
            Polled::Pending(fut) => {
                if let Some(c) = self.conns.conn(t) {
                    c.flags.set(Flags::BUSY);
                }
                self.tasks.push(fut, move |r| Finished::Ws(t, r));
            }
        }
        self.run_own();
    }

    /// Runs a future nobody waits for (`close`, `error`, `drain`).
    #[inline(never)]
    pub(super) fn detach(&mut self, make: impl FnOnce() -> LocalFuture<HandlerResult>) {
        if let Polled::Pending(fut) = self.call_user(|| tasks::start(|| Call::Future(make()))) {
            self.tasks.push(fut, |_| Finished::Detached);
        }
        self.run_own();
    }

    /// A handler finished: an error goes to `on_error`; a panic also closes with 1011.
    #[inline]
    pub(super) fn ws_handler_done(&mut self, t: Token, r: Result<HandlerResult, String>) {
        if !matches!(r, Ok(Ok(()))) {
            self.ws_handler_failed(t, r);
        }
    }

    #[inline(never)]
    fn ws_handler_failed(&mut self, t: Token, r: Result<HandlerResult, String>) {
        let error = match r {
            Ok(Ok(())) => return,
            Ok(Err(e)) => HandlerError::Failed(e),
            Err(panic) => HandlerError::Panicked(panic),
        };
        let panicked = matches!(error, HandlerError::Panicked(_));
        if panicked {
            self.counters.handler_panics.add(1);
            tracing::error!(
                core = self.index,
                conn = t,
                %error,
                "WebSocket handler panicked; closing with 1011"
            );
        } else {
            self.counters.handler_errors.add(1);
        }
        if let Some(session) = self.session_of(t) {
            self.detach(move || session.on_error(error));
        }
        if panicked {
            self.close_ws(t, CloseCode::INTERNAL_ERROR.0, "Internal error");
        }
    }

    /// Starts the close handshake from our side (user `close`, idle timeout, shutdown).
    #[inline(never)]
    pub(super) fn close_ws(&mut self, t: Token, code: u16, reason: &str) {
        let now = self.now;
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        let Some(ws) = c.ws() else { return };
        if ws.close_sent().is_some() {
            return;
        }
        // Only codes an endpoint may send (RFC 6455 §7.4); anything else becomes 1000.
        let code = if CloseCode(code).is_sendable() {
            code
        } else {
            1000
        };
        ws.set_close_sent(now, code);
        cell.set_state(ReadyState::Closing);
        let reason = truncate_reason(reason);
        c.output.write(&mut self.queues, Some(cell), |out| {
            let _ = encode_close(
                out,
                None,
                Some(CloseFrame {
                    code: CloseCode(code),
                    reason,
                }),
            );
        });
        self.mark_dirty(t);
    }

    /// The peer's Close arrived: answer it (if we have not closed yet), report it, then close.
    #[inline(never)]
    pub(super) fn peer_closed(&mut self, t: Token, code: u16, reason: String) {
        let now = self.now;
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        let Phase::Ws(ws) = &mut c.phase else { return };
        cell.set_state(ReadyState::Closing);
        let answer = ws.close_sent().is_none();
        if answer {
            ws.set_close_sent(now, code);
        }
        let session = ws.session.clone();
        c.flags
            .set(Flags::CLOSE_NOTIFIED | Flags::CLOSE_AFTER_FLUSH);
        if answer {
            // §5.5.1: echo the status code received; an empty Close is answered empty.
            c.output.write(&mut self.queues, Some(cell), |out| {
                let frame = (code != CloseCode::NO_STATUS.0).then_some(CloseFrame {
                    code: CloseCode(code),
                    reason: "",
                });
                let _ = encode_close(out, None, frame);
            });
        }
        self.mark_dirty(t);
        self.counters.closed_with(code);
        self.detach(move || session.on_close(code, reason));
    }

    /// Fails the connection (§7.1.7): our Close with `code`, then TCP closes without waiting.
    #[inline(never)]
    fn fail_ws(&mut self, t: Token, code: CloseCode) {
        let now = self.now;
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        let Phase::Ws(ws) = &mut c.phase else { return };
        cell.set_state(ReadyState::Closing);
        let send = ws.close_sent().is_none();
        if send {
            ws.set_close_sent(now, code.0);
        }
        let session = ws.session.clone();
        c.flags
            .set(Flags::CLOSE_NOTIFIED | Flags::CLOSE_AFTER_FLUSH);
        if send {
            c.output.write(&mut self.queues, Some(cell), |out| {
                let _ = encode_close(out, None, Some(CloseFrame { code, reason: "" }));
            });
        }
        self.mark_dirty(t);
        self.counters.closed_with(code.0);
        self.detach(move || session.on_close(code.0, String::new()));
    }

    /// Timer duties of WebSocket `t`: close handshake deadline, idle ping, idle close, and
    /// giving back the decoder (and a dedicated compressor) of a connection silent between
    /// messages.
    pub(super) fn ws_tick(&mut self, t: Token, now: Millis) {
        let cfg = &self.cfg.websocket;
        let idle = cfg.idle_timeout.as_millis() as u32;
        let close_timeout = cfg.close_timeout.as_millis() as u32;
        let send_pings = cfg.send_pings;
        enum Due {
            Nothing,
            End,
            Ping,
            IdleClose,
            /// A handle started closing but its command could not reach the core.
            Close,
        }
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        let silent = elapsed(now, c.last_rx);
        let busy = c.flags.has(Flags::BUSY);
        let ping_out = c.flags.has(Flags::PING_OUT);
        let Phase::Ws(ws) = &mut c.phase else { return };
        if silent >= DECODER_KEEP_MS && ws.decoder.as_ref().is_some_and(|d| !d.is_mid_message()) {
            give_decoder(&mut self.decoders, ws.decoder.take());
        }
        if silent >= DECODER_KEEP_MS && c.flags.has(Flags::DEFLATE_OWN) {
            self.deflate.rest(slot_of(t).0);
        }
        let generation = slot_of(t).1;
        let due = match ws.close_sent() {
            Some(sent) if elapsed(now, sent.at) >= close_timeout => Due::End,
            Some(_) => Due::Nothing,
            None if cell.state(generation) == ReadyState::Closing => Due::Close,
            None if idle == 0 || busy => Due::Nothing,
            None if silent >= idle => Due::IdleClose,
            None if send_pings && silent >= idle / 2 && !ping_out => Due::Ping,
            None => Due::Nothing,
        };
        match due {
            Due::Nothing => {}
            Due::End => self.end(t),
            Due::IdleClose => self.close_ws(t, CloseCode::GOING_AWAY.0, "Idle timeout"),
            Due::Close => self.close_ws(t, CloseCode::GOING_AWAY.0, ""),
            Due::Ping => {
                c.flags.set(Flags::PING_OUT);
                c.output.write(&mut self.queues, Some(cell), |out| {
                    let _ = encode_ping(out, None, b"");
                });
                self.mark_dirty(t);
            }
        }
    }

    /// The WebSocket phase of `t` is over (its socket is closing, or only lingers for the
    /// peer's FIN): the handle reads `Closed`, the connection leaves every topic, and `on_close`
    /// runs if it has not.
    #[inline(never)]
    pub(super) fn ws_ended(&mut self, t: Token, ws: WsConn, flags: Flags) {
        let (index, generation) = slot_of(t);
        let raised = super::cell_of(&self.hub, self.index, t).close();
        if raised & SUBSCRIBED != 0 || flags.has(Flags::SUBSCRIBED) {
            let id = ConnId::new(self.index, Slot { index, generation });
            for topic in self.hub.registry.leave_all(id) {
                self.delivery.unsubscribe(&topic, t);
            }
        }
        let close_sent = ws.close_sent();
        let WsConn {
            decoder, session, ..
        } = ws;
        give_decoder(&mut self.decoders, decoder);
        if flags.has(Flags::DEFLATE_OWN) {
            self.deflate.forget(index);
        }
        if !flags.has(Flags::CLOSE_NOTIFIED) {
            // A close from the peer was reported when it arrived; so here either the peer
            // never answered ours (report our code, as `WsSession::on_close` says) or TCP
            // ended without any close frame (1006).
            let code = close_sent.map_or(1006, |sent| sent.code);
            self.counters.closed_with(code);
            self.detach(move || session.on_close(code, String::new()));
        }
    }
}

/// Takes back the decoder of a connection that is between messages (or gone).
#[allow(clippy::vec_box)] // see `State::decoders`
fn give_decoder(spares: &mut Vec<Box<Decoder>>, decoder: Option<Box<Decoder>>) {
    let Some(mut decoder) = decoder else { return };
    if spares.len() < SPARE_DECODERS {
        // A fresh state: drops the buffer of a message it may have assembled.
        *decoder = Decoder::new(*decoder.config());
        spares.push(decoder);
    }
}

/// A close reason fits in a control frame: at most 123 bytes, cut at a character boundary.
fn truncate_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn long_reason_is_cut_at_a_char_boundary() {
        let r = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&r);
        assert!(cut.len() <= 123);
        assert_eq!(cut.len() % 2, 0);
    }
}
