//! Received bytes through the connection's phase: each phase's function (`proto/`) consumes
//! what it can and returns an event; the core acts on the event (`http.rs`, `ws.rs`), which may
//! run a handler, and goes on with the rest of the bytes — through the WebSocket phase, after an
//! upgrade. Input that cannot be processed now (a partial head or frame, a handler still running,
//! a peer that does not read our output) is kept in the connection's held bytes.

use imphnen_protocol::http::HeaderSlots;
use imphnen_protocol::ws::{DecoderConfig, Role};

use super::State;
use crate::Message;
use crate::conn::{Conn, Flags, Phase};
use crate::driver::{Io, Token};
use crate::proto::http::{self, HttpLimits};
use crate::proto::ws::{self, Incoming, WsEvent, WsIo};
use crate::shared::slots::SlotCell;

/// `true` while a connection must not take more input: a handler runs, or the peer does not
/// read our output (responses to pipelined requests, pongs, echoes), so what we hold stays
/// bounded.
pub(super) fn held_back(c: &Conn, cell: &SlotCell, ws_limit: usize, http_limit: usize) -> bool {
    match c.phase {
        Phase::Http(_) => {
            (c.flags.has(Flags::BUSY) && c.input.len() >= http_limit)
                || c.output.len() >= http_limit
        }
        Phase::Ws(_) => {
            (c.flags.has(Flags::BUSY) && c.input.len() >= ws_limit) || cell.buffered() >= ws_limit
        }
        Phase::Draining { .. } | Phase::Closed => false,
    }
}

impl<I: Io> State<I> {
    /// Bytes arrived for `t`.
    pub(super) fn received(&mut self, t: Token, bytes: &mut [u8]) {
        let now = self.now;
        self.counters.bytes_in.add(bytes.len() as u64);
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        c.last_rx = now;
        c.flags.clear(Flags::PING_OUT);
        super::list_dirty(t, c, &mut self.dirty);
        #[cfg(feature = "tls")]
        if c.flags.has(Flags::TLS) {
            return self.received_tls(t, bytes);
        }
        self.received_plain(t, bytes);
    }

    /// Plaintext arrived for `t` (from the socket, or decrypted from its records).
    pub(super) fn received_plain(&mut self, t: Token, bytes: &mut [u8]) {
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        if c.input.is_empty() {
            let consumed = self.process(t, bytes);
            self.keep(t, &bytes[consumed..]);
        } else if !matches!(c.phase, Phase::Draining { .. } | Phase::Closed) {
            c.input.vec_mut(&mut self.bytes).extend_from_slice(bytes);
            self.process_held(t);
        }
    }

    /// Keeps the unprocessed rest of a receive (a partial head or frame, or held-back input).
    fn keep(&mut self, t: Token, rest: &[u8]) {
        if rest.is_empty() {
            return;
        }
        if let Some(c) = self.conns.conn(t)
            && !matches!(c.phase, Phase::Draining { .. } | Phase::Closed)
        {
            c.input.vec_mut(&mut self.bytes).extend_from_slice(rest);
        }
    }

    /// Processes the bytes `t` holds (a handler finished, or the peer read our output);
    /// `true` if some were consumed.
    pub(super) fn process_held(&mut self, t: Token) -> bool {
        let Some(c) = self.conns.conn(t) else {
            return false;
        };
        if c.input.is_empty() {
            return false;
        }
        let mut input = std::mem::take(&mut c.input);
        let consumed = self.process(t, &mut input);
        input.consume(consumed, &mut self.bytes);
        match self.conns.get(t) {
            Some((c, _))
                if !input.is_empty()
                    && !matches!(c.phase, Phase::Draining { .. } | Phase::Closed) =>
            {
                c.input = input;
            }
            _ => input.release(&mut self.bytes),
        }
        consumed > 0
    }

    /// `true` while `t` must not take more input (see [`held_back`]).
    pub(super) fn held_back(&mut self, t: Token) -> bool {
        let ws_limit = self.cfg.websocket.backpressure_limit;
        let http_limit = self.cfg.http.pipeline_limit;
        match self.conns.get(t) {
            Some((c, cell)) => held_back(c, cell, ws_limit, http_limit),
            None => true,
        }
    }

    /// Runs `t`'s phase over `input`; returns the bytes consumed. Stops at a handler that is
    /// still running, at a peer that does not read, and at a partial head or frame.
    pub(super) fn process(&mut self, t: Token, input: &mut [u8]) -> usize {
        let mut pos = 0;
        while pos < input.len() {
            let now = self.now;
            let keep_alive = self.shutdown_at.is_none();
            let ws_limit = self.cfg.websocket.backpressure_limit;
            let http_limit = self.cfg.http.pipeline_limit;
            let Some((c, cell)) = self.conns.get(t) else {
                return input.len();
            };
            if c.flags.has(Flags::BUSY) {
                return pos;
            }
            if c.flags.has(Flags::CLOSE_AFTER_FLUSH) {
                return input.len();
            }
            match &mut c.phase {
                Phase::Http(h) => {
                    if c.output.len() >= http_limit {
                        return pos; // responses pile up unread: hold the next requests
                    }
                    let mut slots = HeaderSlots::new();
                    let ctx = HttpLimits {
                        limits: &self.cfg.http.limits,
                        now,
                        keep_alive,
                    };
                    let (n, event) = http::read(
                        h,
                        &input[pos..],
                        &mut slots,
                        &ctx,
                        &mut c.output,
                        &mut self.queues,
                    );
                    pos += n;
                    match event {
                        // After the peer's FIN an unfinished request stays unfinished.
                        None if c.flags.has(Flags::PEER_FIN) => return input.len(),
                        None => return pos,
                        Some(event) => self.on_http_event(t, event),
                    }
                }
                Phase::Ws(w) => {
                    if cell.buffered() >= ws_limit {
                        // The peer is not reading: hold the rest.
                        self.counters.backpressure_pauses.add(1);
                        return pos;
                    }
                    let mut io = WsIo {
                        queues: &mut self.queues,
                        cell,
                        spares: &mut self.decoders,
                        limits: DecoderConfig {
                            role: Role::Server,
                            max_payload_length: self.cfg.websocket.max_payload_length,
                            permessage_deflate: c.flags.has(Flags::DEFLATE),
                            buffer_payloads_from: crate::message::KEPT_FROM,
                        },
                        deflate: &mut self.deflate,
                        slot: crate::driver::slot_of(t).0,
                        flags: c.flags,
                    };
                    let (n, event) = ws::read(w, &mut c.output, &mut io, &mut input[pos..]);
                    pos += n;
                    match event {
                        None => return pos,
                        Some(WsEvent::Message(incoming)) => {
                            self.counters.messages_in.add(1);
                            let session = w.session.clone();
                            match incoming {
                                Incoming::Received { text, len } => {
                                    let payload = &input[pos - len..pos];
                                    self.run_ws(t, move || {
                                        session.on_message(Message::copied(text, payload))
                                    });
                                }
                                Incoming::Message(msg) => {
                                    self.run_ws(t, move || session.on_message(msg));
                                }
                            }
                        }
                        Some(WsEvent::PeerClose { code, reason }) => {
                            self.peer_closed(t, code, reason);
                        }
                        Some(WsEvent::Fail(code)) => self.ws_protocol_error(t, code),
                    }
                }
                Phase::Draining { .. } | Phase::Closed => return input.len(),
            }
        }
        pos
    }
}
