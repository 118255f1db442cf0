//! Commands for the core, from its own handlers (carried out right after each callback), from
//! other cores (their rings) and from plain threads (the inbox queue); and the graceful shutdown
//! one of them can start.

use std::time::Instant;

use imphnen_protocol::ws::FrameHeader;

use super::State;
use crate::Message;
use crate::buf::SHARE_MIN_LEN;
use crate::conn::{Flags, Phase};
use crate::driver::{Io, Token, token};
use crate::shared::command::{Command, ConnId, Slot};
use crate::shared::local::{self, Direct};

/// What a handler's commands for its own core do while the core runs it: carried out at once.
/// Commands from plain threads (the broker link, a `Publisher` on a `std::thread`) carried out
/// per turn at most.
const PLAIN_BATCH: usize = 256;

impl<I: Io> Direct for State<I> {
    fn execute(&mut self, cmd: Command) {
        match cmd {
            // Closes connections, which runs their `close` handlers: not inside a handler.
            Command::Shutdown { .. } => local::push_own(cmd),
            cmd => self.command(cmd),
        }
    }

    #[inline]
    fn send(&mut self, to: Slot, msg: Message) {
        self.send_queued(to, msg);
    }
}

impl<I: Io> State<I> {
    /// Runs user code with the core lent to it (`shared/local.rs`): its commands for this core
    /// are carried out before the call that made them returns.
    pub(super) fn call_user<R>(&mut self, f: impl FnOnce() -> R) -> R {
        local::lend(self, f)
    }

    /// Carries out what this core's own handlers queued (in the order they queued it).
    #[inline]
    pub(super) fn run_own(&mut self) {
        if local::has_own() {
            self.run_queued_own();
        }
    }

    #[inline(never)]
    fn run_queued_own(&mut self) {
        while let Some(cmd) = local::pop_own() {
            self.command(cmd);
        }
    }

    /// Carries out every queued command: the core's own, then, after a wake-up, the other
    /// cores' and the plain threads'.
    pub(super) fn run_commands(&mut self) {
        self.run_own();
        if !std::mem::take(&mut self.woken) {
            return;
        }
        self.hub.cores[self.index as usize].inbox.begin_drain();
        let mut rings = std::mem::take(&mut self.rings);
        for ring in &mut rings {
            while let Some(cmd) = ring.pop() {
                self.command(cmd);
            }
            ring.release();
        }
        self.rings = rings;
        // A bounded batch from plain threads per turn: a thread that refills the queue as fast
        // as it drains (the broker link in a flood) cannot hold the turn, and the core's own
        // connections are served between batches.
        let hub = self.hub.clone();
        let inbox = &hub.cores[self.index as usize].inbox;
        let mut budget = PLAIN_BATCH;
        while budget > 0
            && let Some(cmd) = inbox.pop_plain()
        {
            budget -= 1;
            self.command(cmd);
        }
        if budget == 0 {
            // What is left waits for the next turn, which this wake-up makes come at once.
            inbox.wake();
        }
        self.run_own();
    }

    /// Carries out one command. Runs no user code: what would (ending a connection) is left to
    /// the turn's flush.
    fn command(&mut self, cmd: Command) {
        let t = |to: Slot| token(to.index, to.generation);
        match cmd {
            Command::Send { to, msg } => self.send_queued(to, msg),
            Command::Close { to, code, reason } => self.close_ws(t(to), code, &reason),
            // A connection's subscribe and unsubscribe may come by different paths (a
            // handler's at once, a plain thread's at the next turn, another core's ring), so in
            // another order than the registry took them: each is carried out only if the
            // registry still says so, and the last one to arrive leaves the index as it says.
            Command::Subscribe { to, topic } => {
                let id = ConnId::new(self.index, to);
                if let Some((c, _)) = self.conns.get(t(to))
                    && c.is_ws()
                    && self.hub.registry.is_subscribed(id, &topic)
                {
                    c.flags.set(Flags::SUBSCRIBED);
                    self.delivery.subscribe(topic, t(to));
                }
            }
            Command::Unsubscribe { to, topic } => {
                if !self
                    .hub
                    .registry
                    .is_subscribed(ConnId::new(self.index, to), &topic)
                {
                    self.delivery.unsubscribe(&topic, t(to));
                }
            }
            Command::Publish {
                topic,
                frame,
                exclude,
                compress,
            } => self.deliver_published(&topic, &frame, exclude, compress),
            Command::Poke { to } => self.mark_dirty(t(to)),
            Command::Shutdown { deadline } => self.begin_shutdown(deadline),
        }
    }

    /// A message another thread (or a handler of this core) sent reaches its connection. The
    /// sender counted the frame when it queued it; writing it into the output moves it without
    /// counting it again, and a frame that is not written leaves the count.
    #[inline]
    fn send_queued(&mut self, to: Slot, msg: Message) {
        let t = token(to.index, to.generation);
        let frame_len = msg.len() + imphnen_protocol::ws::header_len(msg.len() as u64, false);
        if let Some((c, cell)) = self.conns.get(t)
            && let Phase::Ws(ws) = &c.phase
            && ws.close_sent().is_none()
        {
            if c.flags.has(Flags::COMPRESS)
                && msg.wants_compression(self.cfg.websocket.compress_min_size)
            {
                // The sender counted the plain frame; the count holds what is queued.
                cell.sub_buffered(frame_len);
                let deflate = &mut self.deflate;
                let flags = c.flags;
                c.output.write(&mut self.queues, Some(cell), |out| {
                    deflate.write_frame(to.index, flags, msg.opcode(), msg.as_bytes(), out)
                });
            } else if let Some(payload) = msg
                .shared_payload()
                .filter(|p| p.len() >= SHARE_MIN_LEN && !c.flags.has(Flags::TLS))
            {
                // A large payload goes to the kernel from the message's own buffer (an echo
                // sends back the buffer the received message was copied into once): only the
                // frame's header is written here. Not over TLS, where encrypting copies the
                // payload anyway and a header apart would be a record of its own.
                let header = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: msg.opcode(),
                    mask: None,
                    payload_len: payload.len() as u64,
                };
                c.output.write(&mut self.queues, None, |out| {
                    let start = out.len();
                    out.resize(start + header.encoded_len(), 0);
                    header.write(&mut out[start..]);
                });
                c.output
                    .push_shared(&mut self.queues, None, payload.clone());
            } else {
                c.output.write(&mut self.queues, None, |out| {
                    super::encode_message(out, &msg)
                });
            }
            let over = c.output.len() > self.cfg.websocket.backpressure_limit;
            self.counters.messages_out.add(1);
            self.mark_dirty(t);
            if over {
                // Past the limit within one turn: try the socket now rather than grow further.
                let _ = self.start_send(t);
            }
            return;
        }
        if let Some(cell) = self.hub.cores[self.index as usize].slots.get(to.index) {
            cell.sub_buffered(frame_len);
        }
    }

    /// Graceful shutdown: stop accepting, close every connection, finish by `deadline`.
    #[inline(never)]
    fn begin_shutdown(&mut self, deadline: Instant) {
        if self.shutdown_at.is_some() {
            return; // asked again: the first deadline stands, and its work is under way
        }
        let ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(u128::from(crate::config::MAX_TIMEOUT_MS)) as u32;
        self.shutdown_at = Some(self.now.wrapping_add(ms));
        self.io.stop_accepting();
        for slot in 0..self.conns.slot_count() {
            let Some(t) = self.conns.token_at(slot) else {
                continue;
            };
            self.shut(t);
        }
    }

    /// What the shutdown does to connection `t`.
    fn shut(&mut self, t: Token) {
        enum Next {
            Nothing,
            /// Between requests with nothing left to send: no response can be cut off, so
            /// close at once rather than linger for the client's FIN.
            End,
            Flush,
            CloseWs,
        }
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        let next = match &c.phase {
            Phase::Http(h) => {
                let busy = c.flags.has(Flags::BUSY);
                let idle = h.request_started.is_none() && !busy && c.input.is_empty();
                if idle || busy {
                    // The response in flight, if any, is the connection's last.
                    c.flags.set(Flags::CLOSE_AFTER_FLUSH);
                }
                // Else a request is still arriving: it is finished, and answered with
                // `Connection: close` like every response during the shutdown.
                match (idle, c.output.is_empty() && !c.flags.has(Flags::SENDING)) {
                    (true, true) => Next::End,
                    (true, false) => Next::Flush,
                    (false, _) => Next::Nothing,
                }
            }
            Phase::Ws(_) => Next::CloseWs,
            Phase::Draining { .. } | Phase::Closed => Next::Nothing,
        };
        match next {
            Next::Nothing => {}
            Next::End => self.close_idle(t),
            Next::Flush => self.mark_dirty(t),
            Next::CloseWs => self.close_ws(t, 1001, "Server shutting down"),
        }
    }
}
