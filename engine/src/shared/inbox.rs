//! A core's inbox: the rings from every other core, one bounded queue for plain threads, and the
//! one `eventfd` wake-up they share.
//!
//! The rings (`ring.rs`) carry what other cores send, one ring per sending core. Threads that are
//! not cores (a `Publisher` on a `std::thread`, a blocking pool) share one bounded lock-free
//! queue. Either way the wake-up is written only by the sender that finds the core not yet
//! notified, so a burst costs one wake-up and the core drains the whole batch in one turn.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;

use super::command::Command;
use crate::sys::fd::EventFd;

/// Entries of each core-to-core ring.
pub(crate) const RING_CAPACITY: usize = 8192;
/// Entries of the queue plain threads share.
pub(crate) const PLAIN_CAPACITY: usize = 4096;

/// The shared side of one core's inbox.
pub(crate) struct Inbox {
    /// Commands from threads that are not cores of this server.
    plain: ArrayQueue<Command>,
    notified: AtomicBool,
    wake: EventFd,
}

impl Inbox {
    pub(crate) fn new() -> std::io::Result<Inbox> {
        Ok(Inbox {
            plain: ArrayQueue::new(PLAIN_CAPACITY),
            notified: AtomicBool::new(false),
            wake: EventFd::new()?,
        })
    }

    /// Queues a command from a plain thread and wakes the core; `Err` when the queue is full.
    pub(crate) fn push_plain(&self, cmd: Command) -> Result<(), Command> {
        self.plain.push(cmd)?;
        self.wake();
        Ok(())
    }

    /// Wakes the core (one `eventfd` write per batch).
    pub(crate) fn wake(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.wake.notify();
        }
    }

    /// Called by the core before it drains: later pushes will wake it again.
    ///
    /// The eventfd is reset *before* the flag: a sender that finds the flag cleared writes the
    /// eventfd after this reset, so its wake-up survives. The other order loses wake-ups: a push
    /// between the two steps sets the flag and writes the eventfd, the reset eats the write, and
    /// every later push sees the flag set and stays silent, its command stuck in the queue.
    ///
    /// The flag is cleared with a swap, not a store: reading the last sender's swap makes
    /// everything that sender published before it visible to the drain that follows.
    pub(crate) fn begin_drain(&self) {
        self.wake.drain();
        self.notified.swap(false, Ordering::AcqRel);
    }

    /// The next command from a plain thread.
    pub(crate) fn pop_plain(&self) -> Option<Command> {
        self.plain.pop()
    }

    /// The wake-up fd, which the core's driver waits on.
    pub(crate) fn wake_fd(&self) -> &EventFd {
        &self.wake
    }
}
