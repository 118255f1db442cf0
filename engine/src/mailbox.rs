//! The cross-thread path into a core: a lock-free command queue plus one `eventfd` wake-up.
//!
//! Any thread (another core, a plain `std::thread`, a blocking task) reaches a connection by
//! pushing a [`Command`] onto its owning core's queue. The queue is the standard library's
//! unbounded channel (a lock-free linked list of blocks); the wake-up is an `eventfd` in the core's
//! epoll set, written only by the push that finds the core not yet notified, so a burst of sends
//! costs one wake-up and the core drains the whole batch in one turn.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

use crate::Message;
use crate::poller::EventFd;
use crate::pubsub::Subscriptions;

/// A request from another thread to the core that owns a connection.
pub(crate) enum Command {
    /// Queue `msg` on the connection in `slot` (if it is still generation `generation`).
    Send {
        slot: u32,
        generation: u32,
        msg: Message,
    },
    /// Start the close handshake with `code` and `reason`.
    Close {
        slot: u32,
        generation: u32,
        code: u16,
        reason: String,
    },
    /// Add the connection to `topic` in the core's table.
    Subscribe {
        slot: u32,
        generation: u32,
        topic: std::sync::Arc<str>,
    },
    /// Remove the connection from `topic` in the core's table.
    Unsubscribe {
        slot: u32,
        generation: u32,
        topic: std::sync::Arc<str>,
    },
    /// Deliver an encoded frame to the core's subscribers of `topic`, except connection `exclude`.
    Publish {
        topic: std::sync::Arc<str>,
        frame: bytes::Bytes,
        exclude: Option<u64>,
    },
    /// Look at the connection: flush it, close it if it was shed, run `on_drain` if due.
    Poke { slot: u32, generation: u32 },
    /// Graceful shutdown: stop accepting, close every connection, finish by `deadline`.
    Shutdown { deadline: Instant },
}

/// The sending side of a core's mailbox; shared by every `WebSocket` handle of the core.
pub(crate) struct CoreRemote {
    /// The core's index within its server.
    pub(crate) index: usize,
    tx: Sender<Command>,
    wake: EventFd,
    notified: AtomicBool,
    /// The topic list of each of the core's subscribed connections (read by handles anywhere).
    pub(crate) subscriptions: Subscriptions,
}

impl CoreRemote {
    /// A mailbox for core `index`; the receiver goes to the core.
    pub(crate) fn new(index: usize) -> std::io::Result<(CoreRemote, Receiver<Command>)> {
        let (tx, rx) = channel();
        Ok((
            CoreRemote {
                index,
                tx,
                wake: EventFd::new()?,
                notified: AtomicBool::new(false),
                subscriptions: Subscriptions::default(),
            },
            rx,
        ))
    }

    /// Queues `cmd` and wakes the core unless a wake-up is already pending.
    pub(crate) fn push(&self, cmd: Command) {
        if self.tx.send(cmd).is_err() {
            return; // the core has exited; its connections are gone
        }
        self.wake();
    }

    /// Wakes the core (one `eventfd` write per batch).
    pub(crate) fn wake(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.wake.notify();
        }
    }

    /// Called by the core before it drains the queue: later pushes will wake it again.
    ///
    /// The eventfd is reset *before* the flag: a push that finds the flag cleared writes the
    /// eventfd after this reset, so its wake-up survives. The other order lost wake-ups: a push
    /// between the two steps set the flag and wrote the eventfd, the reset ate the write, and
    /// every later push saw the flag set and stayed silent, its command stuck in the queue.
    pub(crate) fn begin_drain(&self) {
        self.wake.drain();
        self.notified.store(false, Ordering::Release);
    }

    /// The wake-up fd, registered in the core's epoll set.
    pub(crate) fn wake_fd(&self) -> &EventFd {
        &self.wake
    }
}
