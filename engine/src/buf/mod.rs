//! Byte containers that move between a connection and its driver: bytes a connection holds for
//! later ([`HeldBytes`]), the output handed to a driver in one piece ([`SendQueue`]), and
//! receive memory whose bytes a message can keep without a copy ([`LendingArea`]). The first two
//! are recycled through per-core pools, so a connection that talks every turn does not allocate
//! every turn, while an idle one holds nothing.
//!
//! Architecture invariant: nothing here knows about connections, protocols or the kernel (but
//! for mapping memory); a `SendQueue` only lists its bytes as `iovec`s and forgets what a driver
//! reports written, a `LendingArea` only counts what is kept of each buffer.

mod held;
mod lent;
mod send_queue;

pub(crate) use held::{BytePool, HeldBytes};
pub(crate) use lent::{Lender, LendingArea};
pub(crate) use send_queue::{MAX_IOVECS, QueuePool, SHARE_MIN_LEN, SendQueue};
