//! How long the subscriber connection's reader may wait for a core whose queue is full before
//! it drops the message for that core's subscribers (counted in `undelivered`).
//!
//! Waiting is what lets a burst pass without loss: the backlog stays in the socket while a
//! core catches up. But Redis has no flow control for a subscriber. What the reader leaves
//! unread fills this socket's receive queue, then Redis's send queue, and then Redis's output
//! buffer for the connection, which Redis closes once that passes `client-output-buffer-limit
//! pubsub` (32 MB, or 8 MB for a minute, by default): everything queued is lost, and so is
//! every message until the link has reconnected. So the wait is bounded by the backlog, not
//! by the time per message:
//!
//! - The reader waits only while its socket holds less unread than [`budget`]: a quarter of the
//!   receive buffer (less than the kernel's window, so Redis can still send and keeps nothing
//!   of its own), and at most [`MAX_BACKLOG`]. Past it the reader sheds: a full core's messages
//!   are dropped at once and it reads as fast as Redis sends, until the backlog is back under
//!   half the budget.
//! - One message is waited for at most [`PATIENCE`], and after a message a core did not take,
//!   none is waited for until a core takes one again: a stuck core costs its own subscribers
//!   messages, not everyone else's latency.
//!
//! This module decides; the hub does the trying (`Hub::deliver_from_broker`), and the reading
//! loop (`super::read_messages`) owns one `Patience` per connection.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::wire::{Conn, ReceiveQueue};
use crate::broker::link::Link;

/// The longest wait for a full core over one message.
pub(super) const PATIENCE: Duration = Duration::from_millis(50);
/// The most unread bytes the reader leaves in its socket while it waits for a full core,
/// however large the kernel lets the receive buffer grow: also a bound on how stale a message
/// a waiting reader delivers can be (1 MiB is a tenth of a second of a 10 MB/s stream).
pub(super) const MAX_BACKLOG: usize = 1 << 20;
/// While shedding, how often the backlog is measured again (each measure is two syscalls,
/// and a shedding reader may drop a million messages a second).
const RECHECK: Duration = Duration::from_millis(1);
/// How often shedding is logged while it goes on (every drop is counted).
const WARNING_EVERY: Duration = Duration::from_secs(10);

/// How much unread data the reader may leave in a socket of this receive queue while it waits.
pub(super) fn budget(queue: ReceiveQueue) -> usize {
    (queue.buffer / 4).min(MAX_BACKLOG)
}

/// The reader's waiting state on one subscriber connection.
#[derive(Default)]
pub(super) struct Patience {
    /// The backlog passed the budget: no waiting until it is back under half of it.
    shedding: bool,
    /// A core did not take the last message: no waiting until a core takes one.
    missed: bool,
    /// When the wait for the current message began.
    waiting_since: Option<Instant>,
    /// When the backlog was last measured.
    measured_at: Option<Instant>,
    /// When shedding was last logged.
    warned_at: Option<Instant>,
}

impl Patience {
    /// Asked each time a core has no room for the current message: may the reader wait for
    /// it (and try again in a moment)?
    pub(super) fn wait(&mut self, conn: &Conn, link: &Link) -> bool {
        if self.missed {
            return false;
        }
        let now = Instant::now();
        let since = *self.waiting_since.get_or_insert(now);
        if now.duration_since(since) >= PATIENCE {
            return false;
        }
        if self.shedding
            && self
                .measured_at
                .is_some_and(|t| now.duration_since(t) < RECHECK)
        {
            return false;
        }
        self.measured_at = Some(now);
        let Ok(queue) = conn.receive_queue() else {
            // Without a measure, the backlog is not known to be small.
            return false;
        };
        let budget = budget(queue);
        link.counts
            .backlog_peak
            .fetch_max(queue.unread as u64, Ordering::Relaxed);
        if self.shedding {
            if queue.unread > budget / 2 {
                return false;
            }
            self.shedding = false;
        }
        if queue.unread >= budget {
            self.shedding = true;
            self.warn(now, queue.unread, budget, link);
            return false;
        }
        true
    }

    /// The current message was handed over: to every core (`taken`) or not.
    pub(super) fn settle(&mut self, taken: bool) {
        self.missed = !taken;
        self.waiting_since = None;
    }

    fn warn(&mut self, now: Instant, backlog: usize, budget: usize, link: &Link) {
        if self
            .warned_at
            .is_some_and(|t| now.duration_since(t) < WARNING_EVERY)
        {
            return;
        }
        self.warned_at = Some(now);
        tracing::warn!(
            backlog,
            budget,
            undelivered = link.counts.undelivered.load(Ordering::Relaxed),
            "the broker sends faster than the cores take: messages for a full core are dropped \
             and counted as undelivered until the link has caught up"
        );
    }
}
