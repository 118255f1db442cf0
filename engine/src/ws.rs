//! The WebSocket phase of a connection (RFC 6455 §5–§7): frames in, handler events out, pongs,
//! the close handshake, idle pings and timeouts.
//!
//! Decoding is the protocol crate's; this file decides what each event means for the
//! connection. A protocol error fails the connection with the decoder's close code (1002, 1007,
//! 1009): our close frame goes out and TCP closes without waiting (RFC 6455 §7.1.7). A close from
//! the peer is answered with the same code, then TCP closes, server first (§7.1.1).

use std::sync::atomic::Ordering;

use imphnen_protocol::ws::{
    CloseCode, CloseFrame, Decoder, DecoderConfig, Event, Role, encode_close, encode_ping,
    encode_pong,
};

use crate::conn::{Phase, Token};
use crate::core::Core;
use crate::invoke;
use crate::service::{Call, HandlerError, HandlerResult};
use crate::{Message, ReadyState};

/// Decoders kept per core for connections that start receiving again (more are allocated).
const SPARE_DECODERS: usize = 64;

/// A connection silent this long gives its decoder back at the next tick, if it is between
/// messages; one that keeps receiving keeps it (no exchange per read).
const DECODER_KEEP_MS: u64 = 1000;

/// What a decoded event asks of the connection, taken out of the decoder's borrow.
enum Action {
    Deliver(Message),
    PeerClose(u16, String),
    Fail(CloseCode),
}

impl Core {
    /// Decodes frames and delivers messages in order; returns the bytes consumed.
    pub(crate) fn process_ws(&self, t: Token, input: &mut [u8]) -> usize {
        let mut pos = 0;
        loop {
            let action = {
                let mut conns = self.conns.borrow_mut();
                let Some(c) = conns.get_mut(t) else {
                    return input.len();
                };
                if c.busy {
                    return pos;
                }
                if c.close_after_flush {
                    return input.len();
                }
                let crate::conn::Conn { phase, out, .. } = c;
                let Phase::Ws(ws) = phase else { return pos };
                if out.len() >= self.cfg.websocket.backpressure_limit {
                    // The peer is not reading (pongs and echoes pile up): hold the rest of the
                    // input until it does (`Core::resume_held_input`).
                    return pos;
                }
                let decoder = ws.decoder.get_or_insert_with(|| self.take_decoder());
                match decoder.decode(&mut input[pos..]) {
                    Err(e) => Action::Fail(e.close_code()),
                    Ok(d) => {
                        pos += d.consumed;
                        match d.event {
                            None => return pos,
                            // RFC 6455 §5.5.1: after sending a Close frame, data is not acted on.
                            Some(Event::Text(_) | Event::Binary(_)) if ws.close_sent.is_some() => {
                                continue;
                            }
                            Some(Event::Text(s)) => Action::Deliver(Message::text_from_str(s)),
                            Some(Event::Binary(b)) => {
                                Action::Deliver(Message::binary_from_slice(b))
                            }
                            Some(Event::Ping(p)) => {
                                // §5.5.2: answer with a Pong carrying the same payload, unless
                                // we already sent our Close.
                                if ws.close_sent.is_none() {
                                    let out = out.own_mut(&mut self.pool.borrow_mut());
                                    let before = out.len();
                                    let _ = encode_pong(out, None, p);
                                    let added = out.len() - before;
                                    ws.handle.0.buffered.fetch_add(added, Ordering::AcqRel);
                                }
                                continue;
                            }
                            Some(Event::Pong(_)) => continue,
                            Some(Event::Close(frame)) => match frame {
                                Some(CloseFrame { code, reason }) => {
                                    Action::PeerClose(code.0, reason.to_owned())
                                }
                                None => Action::PeerClose(CloseCode::NO_STATUS.0, String::new()),
                            },
                        }
                    }
                }
            };
            match action {
                Action::Deliver(msg) => {
                    let Some(session) = self.session_of(t) else {
                        return input.len();
                    };
                    self.run_ws_handler(t, || session.on_message(msg));
                }
                Action::PeerClose(code, reason) => {
                    self.peer_closed(t, code, reason);
                    return input.len();
                }
                Action::Fail(code) => {
                    self.fail_ws(t, code);
                    return input.len();
                }
            }
        }
    }

    /// A decoder for a connection whose next frame begins: a spare, or a new one.
    fn take_decoder(&self) -> Box<Decoder> {
        self.spare_decoders.borrow_mut().pop().unwrap_or_else(|| {
            Box::new(Decoder::new(DecoderConfig {
                role: Role::Server,
                max_payload_length: self.cfg.websocket.max_payload_length,
            }))
        })
    }

    /// Takes back the decoder of a connection that is between messages.
    fn give_decoder(&self, decoder: Option<Box<Decoder>>) {
        let Some(mut decoder) = decoder else { return };
        let mut spares = self.spare_decoders.borrow_mut();
        if spares.len() < SPARE_DECODERS {
            // A fresh state: drops the buffer of a message it may have assembled.
            *decoder = Decoder::new(*decoder.config());
            spares.push(decoder);
        }
    }

    fn session_of(&self, t: Token) -> Option<std::rc::Rc<dyn crate::service::WsSession>> {
        self.conns
            .borrow_mut()
            .get_mut(t)
            .and_then(|c| c.ws().map(|ws| ws.session.clone()))
    }

    /// Runs a handler future of connection `t`: at once, or as a task that holds back the
    /// connection's next events until it finishes.
    pub(crate) fn run_ws_handler(&self, t: Token, make: impl FnOnce() -> Call<HandlerResult>) {
        self.run_handler(t, make, Core::ws_handler_done);
    }

    /// A handler finished: an error goes to `on_error`; a panic also closes with 1011.
    fn ws_handler_done(&self, t: Token, r: Result<HandlerResult, String>) {
        let error = match r {
            Ok(Ok(())) => return,
            Ok(Err(e)) => HandlerError::Failed(e),
            Err(panic) => HandlerError::Panicked(panic),
        };
        let panicked = matches!(error, HandlerError::Panicked(_));
        if let Some(session) = self.session_of(t) {
            invoke::detach(session.on_error(error));
        }
        if panicked {
            self.close_ws(t, CloseCode::INTERNAL_ERROR.0, "Internal error");
        }
    }

    /// Starts the close handshake from our side (user `close`, idle timeout, shutdown).
    pub(crate) fn close_ws(&self, t: Token, code: u16, reason: &str) {
        let mut conns = self.conns.borrow_mut();
        let Some(c) = conns.get_mut(t) else { return };
        let now = self.now_ms();
        let Some(ws) = c.ws() else { return };
        if ws.close_sent.is_some() {
            return;
        }
        // Only codes an endpoint may send (RFC 6455 §7.4); anything else becomes 1000.
        let code = if CloseCode(code).is_sendable() {
            code
        } else {
            1000
        };
        ws.close_sent = Some((now, code));
        ws.handle.set_state(ReadyState::Closing);
        let reason = truncate_reason(reason);
        c.write_out(&mut self.pool.borrow_mut(), |out| {
            let _ = encode_close(
                out,
                None,
                Some(CloseFrame {
                    code: CloseCode(code),
                    reason,
                }),
            );
        });
        self.mark_dirty(c, t);
    }

    /// The peer's Close arrived: answer it (if we have not closed yet), report it, then close.
    fn peer_closed(&self, t: Token, code: u16, reason: String) {
        let session = {
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            let now = self.now_ms();
            let Some(ws) = c.ws() else { return };
            ws.handle.set_state(ReadyState::Closing);
            let answer = ws.close_sent.is_none();
            if answer {
                ws.close_sent = Some((now, code));
            }
            ws.close_notified = true;
            let session = ws.session.clone();
            if answer {
                // §5.5.1: echo the status code received; an empty Close is answered empty.
                c.write_out(&mut self.pool.borrow_mut(), |out| {
                    let frame = (code != CloseCode::NO_STATUS.0).then_some(CloseFrame {
                        code: CloseCode(code),
                        reason: "",
                    });
                    let _ = encode_close(out, None, frame);
                });
            }
            c.close_after_flush = true;
            session
        };
        invoke::detach(session.on_close(code, reason));
    }

    /// Fails the connection (§7.1.7): our Close with `code`, then TCP closes without waiting.
    fn fail_ws(&self, t: Token, code: CloseCode) {
        let session = {
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            let now = self.now_ms();
            let Some(ws) = c.ws() else { return };
            ws.handle.set_state(ReadyState::Closing);
            let send = ws.close_sent.is_none();
            if send {
                ws.close_sent = Some((now, code.0));
            }
            ws.close_notified = true;
            let session = ws.session.clone();
            if send {
                c.write_out(&mut self.pool.borrow_mut(), |out| {
                    let _ = encode_close(out, None, Some(CloseFrame { code, reason: "" }));
                });
            }
            c.close_after_flush = true;
            session
        };
        invoke::detach(session.on_close(code.0, String::new()));
    }

    /// Timer duties: close handshake deadline, idle ping, idle close.
    pub(crate) fn ws_tick(&self, t: Token, now: u64) {
        let cfg = &self.cfg.websocket;
        enum Due {
            Nothing,
            Free,
            Ping,
            IdleClose,
        }
        let due = {
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            let silent = now.saturating_sub(c.last_rx_ms);
            let busy = c.busy;
            let Some(ws) = c.ws() else { return };
            if silent >= DECODER_KEEP_MS && ws.decoder.as_ref().is_some_and(|d| !d.is_mid_message())
            {
                self.give_decoder(ws.decoder.take());
            }
            let idle = cfg.idle_timeout.as_millis() as u64;
            match ws.close_sent {
                Some((at, _)) if now.saturating_sub(at) >= cfg.close_timeout.as_millis() as u64 => {
                    Due::Free
                }
                Some(_) => Due::Nothing,
                None if idle == 0 || busy => Due::Nothing,
                None if silent >= idle => Due::IdleClose,
                None if cfg.send_pings && silent >= idle / 2 && !ws.ping_outstanding => {
                    ws.ping_outstanding = true;
                    Due::Ping
                }
                None => Due::Nothing,
            }
        };
        match due {
            Due::Nothing => {}
            Due::Free => self.free(t),
            Due::IdleClose => self.close_ws(t, CloseCode::GOING_AWAY.0, "Idle timeout"),
            Due::Ping => {
                let mut conns = self.conns.borrow_mut();
                if let Some(c) = conns.get_mut(t) {
                    c.write_out(&mut self.pool.borrow_mut(), |out| {
                        let _ = encode_ping(out, None, b"");
                    });
                    self.mark_dirty(c, t);
                }
            }
        }
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
