//! What an operation on the ring is, and how its `user_data` names it: the op in the low
//! bits, then the connection's slot (a listener's index, for an accept), then the slot's whole
//! generation (so a completion names its connection's token exactly, and one that outlived its
//! connection is recognised, never credited to the next one).

use crate::driver::{Token, slot_of};

/// What an operation is, in the low bits of its `user_data`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Op {
    Recv = 1,
    Send = 2,
    Cancel = 3,
    Accept = 4,
    Wake = 5,
    Tick = 6,
}

const OP_BITS: u32 = 3;
/// A core has fewer slots than this (the slab's `MAX_SLOTS`), which leaves the generation's
/// 32 bits room above the slot.
const SLOT_BITS: u32 = 24;
const _: () = assert!(OP_BITS + SLOT_BITS + 32 <= 64);

/// `user_data` of operation `op` for `t`: the op, the slot, and the generation.
pub(super) fn user_data(op: Op, t: Token) -> u64 {
    let (slot, generation) = slot_of(t);
    debug_assert!(slot < 1 << SLOT_BITS, "slot {slot} does not fit user_data");
    op as u64 | u64::from(slot) << OP_BITS | u64::from(generation) << (OP_BITS + SLOT_BITS)
}

/// `user_data` of listener `i`'s multishot accept: its index where a connection's slot goes.
pub(super) fn accept_data(i: usize) -> u64 {
    Op::Accept as u64 | (i as u64) << OP_BITS
}

/// The op, slot and generation of a `user_data`.
pub(super) fn parse(user_data: u64) -> (Option<Op>, u32, u32) {
    let op = match user_data & ((1 << OP_BITS) - 1) {
        1 => Some(Op::Recv),
        2 => Some(Op::Send),
        3 => Some(Op::Cancel),
        4 => Some(Op::Accept),
        5 => Some(Op::Wake),
        6 => Some(Op::Tick),
        _ => None,
    };
    (
        op,
        (user_data >> OP_BITS) as u32 & ((1 << SLOT_BITS) - 1),
        (user_data >> (OP_BITS + SLOT_BITS)) as u32,
    )
}
