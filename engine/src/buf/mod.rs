//! Byte containers that move between a connection and its driver: bytes a connection holds for
//! later ([`HeldBytes`]) and the output handed to a driver in one piece ([`SendQueue`]), each
//! recycled through a per-core pool so a connection that talks every turn does not allocate every
//! turn, while an idle one holds nothing.
//!
//! Architecture invariant: nothing here knows about connections, protocols or the kernel; a
//! `SendQueue` only lists its bytes as `iovec`s and forgets what a driver reports written.

mod held;
mod send_queue;

pub(crate) use held::{BytePool, HeldBytes};
pub(crate) use send_queue::{MAX_IOVECS, QueuePool, SHARE_MIN_LEN, SendQueue};
