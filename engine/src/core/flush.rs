//! The end of a turn for each connection that changed: what it needs from its driver now, and
//! how a connection ends.
//!
//! In order: a connection shed for its backpressure closes at once; input held back is processed
//! if nothing holds it any more; waiting output goes out as one send (at most one in flight);
//! a connection with nothing left to say closes — at once when the peer is done too, else with a
//! lingering close (FIN, then input discarded until the peer's FIN, so unread input cannot turn
//! our close into a reset that destroys the last response); receiving is paused or resumed; and
//! `on_drain` runs once the output is back under the limit.

use std::rc::Rc;

use super::{State, TlsSessions, list_dirty};
use crate::buf::{BytePool, QueuePool, SendQueue};
use crate::conn::{Conn, Flags, Millis, Output, Phase, WsConn};
use crate::driver::{Io, Sending, Token, When};
use crate::service::WsSession;
use crate::shared::metrics::Counter;
use crate::shared::slots::{SHED, SlotCell, WANTS_DRAIN};

/// Passes over the dirty list per turn: flushing one connection can dirty others (its handlers
/// send to them); what is left after these waits for the next turn.
const FLUSH_PASSES: usize = 4;

/// The limits `settle` applies, read once per connection.
#[derive(Clone, Copy)]
struct Limits {
    ws: usize,
    http: usize,
    close_timeout: u32,
}

impl Limits {
    fn of(cfg: &crate::config::Config) -> Limits {
        Limits {
            ws: cfg.websocket.backpressure_limit,
            http: cfg.http.pipeline_limit,
            close_timeout: cfg.websocket.close_timeout.as_millis() as u32,
        }
    }
}

/// What is left to do for a connection after `settle`, which cannot do it under its borrow.
enum After {
    Nothing,
    /// Look at it again in the flush's next pass.
    Dirty,
    End,
    /// It started lingering; its WebSocket phase ended.
    Lingering(WsConn, Flags),
    Drain(Rc<dyn WsSession>),
}

/// What a send request came to.
#[derive(PartialEq, Eq)]
enum Handed {
    /// Nothing to send, or a send already in flight.
    Nothing,
    /// The output went to the driver.
    Over,
    /// The socket failed: the connection must be ended by a flush (the send may have run
    /// inside a handler's call).
    Failed,
}

/// Hands the connection's waiting output to the driver, unless a send is already in flight;
/// what the kernel took at once is added to `bytes_out`.
// Disjoint borrows of the core's parts, so that the caller keeps its borrow of the connection.
#[allow(clippy::too_many_arguments)]
#[inline]
fn send<I: Io>(
    t: Token,
    when: When,
    c: &mut Conn,
    cell: &SlotCell,
    io: &mut I,
    queues: &mut QueuePool,
    now: Millis,
    bytes_out: &Counter,
    tls: &mut TlsSessions,
) -> Handed {
    if c.flags.has(Flags::SENDING) || c.flags.has(Flags::FAILED) {
        return Handed::Nothing;
    }
    let Some(queue) = take_output(t, c, cell, queues, tls) else {
        return Handed::Nothing;
    };
    match io.send(t, queue, when) {
        Sending::Done(queue) => {
            bytes_out.add(queue.submitted as u64);
            Output::finish_send(queue, cell, queues);
            c.sent_at(now);
        }
        Sending::InFlight => c.flags.set(Flags::SENDING),
        Sending::Failed(error, queue) => {
            // Its bytes leave the count: they will never be sent.
            Output::finish_send(queue, cell, queues);
            c.flags.set(Flags::FAILED);
            c.flags.clear(Flags::RECEIVING);
            tracing::debug!(conn = t, %error, "send failed");
            return Handed::Failed;
        }
    }
    Handed::Over
}

/// What `c` has to send: its output as it is, or — on a TLS connection — the records that
/// carry it and those its session made on its own.
#[inline]
fn take_output(
    t: Token,
    c: &mut Conn,
    cell: &SlotCell,
    queues: &mut QueuePool,
    tls: &mut TlsSessions,
) -> Option<Box<SendQueue>> {
    #[cfg(feature = "tls")]
    if c.flags.has(Flags::TLS) {
        let slot = crate::driver::slot_of(t).0;
        let count = c.is_ws().then_some(cell);
        return c.output.take_sealed(count, queues, |plain, records| {
            tls.encrypt(slot, plain, records)
        });
    }
    let _ = (t, cell, queues, tls);
    c.output.take_for_send(c.is_ws())
}

/// `true` while `c`'s TLS session has records to send.
#[inline]
fn tls_pending(t: Token, c: &Conn, tls: &mut TlsSessions) -> bool {
    #[cfg(feature = "tls")]
    if c.flags.has(Flags::TLS) {
        return tls.wants_write(crate::driver::slot_of(t).0);
    }
    let _ = (t, c, tls);
    false
}

/// Queues `close_notify` on `c`'s TLS session before our FIN; `true` if it was queued now
/// (it must be sent first).
#[inline]
fn tls_close_notify(t: Token, c: &Conn, tls: &mut TlsSessions) -> bool {
    #[cfg(feature = "tls")]
    if c.flags.has(Flags::TLS) {
        return tls.close_notify(crate::driver::slot_of(t).0);
    }
    let _ = (t, c, tls);
    false
}

/// After the send: a connection with nothing left to say closes (at once, or lingering),
/// receiving follows the backpressure, and `on_drain` is due once the output is back under the
/// limit.
#[allow(clippy::too_many_arguments)] // disjoint borrows, as in `send`
#[inline]
fn settle<I: Io>(
    t: Token,
    c: &mut Conn,
    cell: &SlotCell,
    io: &mut I,
    bytes: &mut BytePool,
    limits: Limits,
    now: Millis,
    tls: &mut TlsSessions,
) -> After {
    let flushed = c.output.is_empty() && !c.flags.has(Flags::SENDING) && !tls_pending(t, c, tls);
    // A half-closed HTTP client's last request is answered (`process` drops an unfinished one):
    // nothing more can come.
    if c.flags.has(Flags::PEER_FIN)
        && matches!(c.phase, Phase::Http(_))
        && !c.flags.has(Flags::BUSY)
        && c.input.is_empty()
    {
        c.flags.set(Flags::CLOSE_AFTER_FLUSH);
    }
    if flushed && c.flags.has(Flags::CLOSE_AFTER_FLUSH) && !c.flags.has(Flags::BUSY) {
        if matches!(c.phase, Phase::Draining { .. }) || c.flags.has(Flags::FAILED) {
            return After::End;
        }
        // `close_notify` goes before our FIN even when the peer closed first (RFC 8446 §6.1):
        // a client that half-closed reads to it, and takes a bare FIN for a truncation.
        if tls_close_notify(t, c, tls) {
            return After::Dirty; // the flush's next pass sends it, then comes back here
        }
        if c.flags.has(Flags::PEER_FIN) {
            return After::End;
        }
        io.shutdown_write(t);
        c.flags.set(Flags::FIN_SENT);
        c.flags.clear(Flags::CLOSE_AFTER_FLUSH);
        c.input.release(bytes);
        let until = now.wrapping_add(limits.close_timeout);
        return match std::mem::replace(&mut c.phase, Phase::Draining { until }) {
            Phase::Ws(ws) => After::Lingering(ws, c.flags),
            _ => After::Dirty,
        };
    }
    let held_back = super::input::held_back(c, cell, limits.ws, limits.http);
    let receive = !c.flags.has(Flags::PEER_FIN) && !c.flags.has(Flags::FAILED) && !held_back;
    if receive != c.flags.has(Flags::RECEIVING) {
        c.flags.put(Flags::RECEIVING, receive);
        io.set_receiving(t, receive);
    }
    match &c.phase {
        Phase::Ws(ws)
            if cell.buffered() <= limits.ws
                && cell.is_raised(WANTS_DRAIN)
                && cell.take(WANTS_DRAIN) =>
        {
            After::Drain(ws.session.clone())
        }
        _ => After::Nothing,
    }
}

impl<I: Io> State<I> {
    /// Tells the driver what every connection that changed this turn needs.
    pub(super) fn flush(&mut self) {
        for _ in 0..FLUSH_PASSES {
            if self.dirty.is_empty() {
                return;
            }
            let mut dirty = std::mem::take(&mut self.dirty);
            for &t in &dirty {
                self.flush_one(t);
            }
            dirty.clear();
            if self.dirty.is_empty() {
                self.dirty = dirty; // keep the allocation
            }
        }
    }

    fn flush_one(&mut self, t: Token) {
        let now = self.now;
        let limits = Limits::of(&self.cfg);
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        c.flags.clear(Flags::DIRTY);
        if matches!(c.phase, Phase::Closed) {
            if !c.flags.has(Flags::RELEASING) {
                c.flags.set(Flags::RELEASING);
                self.io.close(t);
            }
            return;
        }
        if c.flags.has(Flags::FAILED) || (c.is_ws() && cell.is_raised(SHED)) {
            // A failed socket; or over its limit with `close_on_backpressure_limit`: closed at
            // once, no close frame (it would reach the peer only after the backlog that caused
            // the close).
            return self.end(t);
        }
        let after = if c.input.is_empty() {
            // The common case, with the one lookup above: send, then settle.
            let handed = send(
                t,
                When::Batched,
                c,
                cell,
                &mut self.io,
                &mut self.queues,
                now,
                &self.counters.bytes_out,
                &mut self.tls,
            );
            if handed == Handed::Failed {
                list_dirty(t, c, &mut self.dirty);
            }
            settle(
                t,
                c,
                cell,
                &mut self.io,
                &mut self.bytes,
                limits,
                now,
                &mut self.tls,
            )
        } else {
            self.feed_held(t);
            match self.conns.get(t) {
                Some((c, cell)) if !matches!(c.phase, Phase::Closed) => settle(
                    t,
                    c,
                    cell,
                    &mut self.io,
                    &mut self.bytes,
                    limits,
                    now,
                    &mut self.tls,
                ),
                _ => After::Dirty,
            }
        };
        match after {
            After::Nothing => {}
            After::Dirty => self.mark_dirty(t),
            After::End => self.end(t),
            After::Lingering(ws, flags) => {
                // The WebSocket is over even though TCP lingers: it leaves its topics now.
                self.ws_ended(t, ws, flags);
                self.mark_dirty(t);
            }
            After::Drain(session) => self.detach(move || session.on_drain()),
        }
    }

    /// Held input and output feed each other: answering held requests fills the output, and a
    /// send the kernel takes at once makes room for more answers.
    fn feed_held(&mut self, t: Token) {
        for _ in 0..FLUSH_PASSES {
            let consumed = !self.held_back(t) && self.process_held(t);
            let sent = self.start_send(t);
            let more = self
                .conns
                .conn(t)
                .is_some_and(|c| !c.input.is_empty() && !c.flags.has(Flags::BUSY));
            if !(consumed || sent) || !more || self.held_back(t) {
                break;
            }
        }
    }

    /// Hands `t`'s waiting output to the kernel now (not batched with the turn's end), unless a
    /// send is already in flight: for a connection whose output passed its limit in the middle
    /// of a turn (so a reader that keeps up gets a burst instead of being judged on it), and for
    /// held input that waits for output to leave.
    ///
    /// Returns `true` if output was handed over.
    #[inline]
    pub(super) fn start_send(&mut self, t: Token) -> bool {
        let now = self.now;
        let Some((c, cell)) = self.conns.get(t) else {
            return false;
        };
        let bytes_out = &self.counters.bytes_out;
        match send(
            t,
            When::Now,
            c,
            cell,
            &mut self.io,
            &mut self.queues,
            now,
            bytes_out,
            &mut self.tls,
        ) {
            Handed::Nothing => false,
            Handed::Over => true,
            Handed::Failed => {
                list_dirty(t, c, &mut self.dirty);
                true
            }
        }
    }

    /// A send of `t` is over.
    pub(super) fn sent(&mut self, t: Token, queue: Box<SendQueue>) {
        let now = self.now;
        self.counters.bytes_out.add(queue.submitted as u64);
        Output::finish_send(
            queue,
            super::cell_of(&self.hub, self.index, t),
            &mut self.queues,
        );
        if let Some(c) = self.conns.conn(t) {
            c.flags.clear(Flags::SENDING);
            c.sent_at(now);
        }
        self.mark_dirty(t);
    }

    /// The peer of `t` sent FIN.
    pub(super) fn peer_finished(&mut self, t: Token) {
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        c.flags.set(Flags::PEER_FIN);
        c.flags.clear(Flags::RECEIVING);
        match c.phase {
            // An HTTP client may half-close after its requests: every complete one it sent
            // is answered first; `settle` closes once none is left.
            Phase::Http(_) => {}
            Phase::Ws(_) | Phase::Draining { .. } => self.end(t),
            Phase::Closed => {}
        }
        self.mark_dirty(t);
    }

    /// The socket of `t` failed: the connection ends.
    pub(super) fn failed(&mut self, t: Token, error: &std::io::Error) {
        tracing::debug!(core = self.index, conn = t, %error, "connection failed");
        if let Some(c) = self.conns.conn(t) {
            c.flags.set(Flags::FAILED);
            c.flags.clear(Flags::SENDING | Flags::RECEIVING);
        }
        self.end(t);
    }

    /// The driver let go of `t`: its slot is free.
    pub(super) fn released(&mut self, t: Token, dropped: Option<Box<SendQueue>>) {
        if let Some(queue) = dropped {
            Output::finish_send(
                queue,
                super::cell_of(&self.hub, self.index, t),
                &mut self.queues,
            );
        }
        self.admission_ended(t);
        self.counters.connections_closed.add(1);
        self.conns.remove(t);
    }

    /// Closes `t`, an HTTP connection idle between requests (nothing to send): at once, after
    /// `close_notify` on a TLS connection past its handshake (RFC 8446 §6.1: a bare FIN reads
    /// as a truncation). A `close_notify` the kernel does not take at once goes with the
    /// lingering close of a connection closing after its output.
    pub(super) fn close_idle(&mut self, t: Token) {
        #[cfg(feature = "tls")]
        if let Some(c) = self.conns.conn(t)
            && c.flags.has(Flags::TLS)
            && self.tls.close_notify(crate::driver::slot_of(t).0)
        {
            self.start_send(t);
            if let Some(c) = self.conns.conn(t)
                && c.flags.has(Flags::SENDING)
            {
                c.flags.set(Flags::CLOSE_AFTER_FLUSH);
                return self.mark_dirty(t);
            }
        }
        self.end(t);
    }

    /// The connection `t` is over: buffers go, a WebSocket ends (`on_close`, topics, the handle
    /// reads `Closed`), and the driver is told to close at the next flush. Its slot is reused
    /// once the driver releases it.
    #[inline(never)]
    pub(super) fn end(&mut self, t: Token) {
        let Some((c, cell)) = self.conns.get(t) else {
            return;
        };
        if matches!(c.phase, Phase::Closed) {
            return;
        }
        let phase = std::mem::replace(&mut c.phase, Phase::Closed);
        let counted = matches!(phase, Phase::Ws(_)).then_some(cell);
        c.input.release(&mut self.bytes);
        c.output.discard(counted, &mut self.queues);
        let flags = c.flags;
        #[cfg(feature = "tls")]
        if flags.has(Flags::TLS) {
            self.tls.remove(crate::driver::slot_of(t).0);
        }
        self.mark_dirty(t);
        if let Phase::Ws(ws) = phase {
            self.ws_ended(t, ws, flags);
        }
    }
}
