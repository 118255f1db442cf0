//! [`Command`]: what a thread asks of the core that owns a connection or a topic's subscribers.
//!
//! Every operation on a [`WebSocket`](crate::WebSocket) handle that changes a connection becomes
//! a command for the owning core, on its own core too: a handler's `ws.send` is queued and
//! carried out right after the handler returns, so the core's state is only ever touched by the
//! core itself, and messages keep the order in which they were sent.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::Message;

/// A connection of one core: its slot and the generation of the connection in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Slot {
    /// Index in the core's slab.
    pub(crate) index: u32,
    /// Generation of the connection (the slot is reused with the next one).
    pub(crate) generation: u32,
}

/// Slots a core may have: the slot index of a [`ConnId`] has 24 bits.
pub(crate) const MAX_SLOTS: u32 = 1 << 24;
/// Cores a server may have: the core index of a [`ConnId`] has 8 bits.
pub(crate) const MAX_CORES: usize = 1 << 8;

/// A connection of a server: core, slot and generation in one word (never zero, because a
/// generation never is), so it can name the connection a publish skips without widening the
/// command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnId(NonZeroU64);

impl ConnId {
    /// The id of the connection in `slot` of core `core`.
    pub(crate) fn new(core: u32, slot: Slot) -> ConnId {
        debug_assert!((core as usize) < MAX_CORES && slot.index < MAX_SLOTS);
        let word =
            (u64::from(core) << 56) | (u64::from(slot.index) << 32) | u64::from(slot.generation);
        ConnId(NonZeroU64::new(word).expect("generations are never zero"))
    }

    /// The word, as `WebSocket::id` reports it.
    pub(crate) fn get(self) -> u64 {
        self.0.get()
    }

    /// The core index.
    pub(crate) fn core(self) -> u32 {
        (self.0.get() >> 56) as u32
    }

    /// The slot within its core.
    pub(crate) fn slot(self) -> Slot {
        Slot {
            index: ((self.0.get() >> 32) as u32) & (MAX_SLOTS - 1),
            generation: self.0.get() as u32,
        }
    }
}

/// A request to a core.
pub(crate) enum Command {
    /// Queue `msg` on the connection. The sender already counted the frame in the
    /// connection's `buffered` bytes.
    Send { to: Slot, msg: Message },
    /// Start the close handshake with `code` and `reason`.
    Close {
        to: Slot,
        code: u16,
        reason: Box<str>,
    },
    /// Add the connection to `topic` in the core's delivery index, if the registry (which
    /// already has it) still does.
    Subscribe { to: Slot, topic: Arc<str> },
    /// Remove the connection from `topic` in the core's delivery index, unless the registry
    /// has it again.
    Unsubscribe { to: Slot, topic: Arc<str> },
    /// Deliver an encoded frame to the core's subscribers of `topic`, except connection
    /// `exclude` (when it is on this core).
    Publish {
        topic: Arc<str>,
        frame: Bytes,
        exclude: Option<ConnId>,
        /// Compress it for subscribers that negotiated permessage-deflate.
        compress: bool,
    },
    /// Look at the connection: flush it, close it if it was shed, run `on_drain` if due.
    Poke { to: Slot },
    /// Graceful shutdown: stop accepting, close every connection, finish by `deadline`.
    Shutdown { deadline: Instant },
}

// Every command travels through fixed-size ring slots: a variant that grows them shows here.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Command>() <= 64);
