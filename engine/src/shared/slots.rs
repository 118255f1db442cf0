//! The per-connection state every thread may read: one [`SlotCell`] per slot of a core's slab,
//! in a table that grows without moving (so a handle on another thread never sees a cell move).
//!
//! A cell holds the connection's generation, its [`ReadyState`], two flags and the count of bytes
//! queued for it. A [`WebSocket`](crate::WebSocket) handle is just (core, slot, generation) plus
//! its peer address: it reads the cell of its slot and treats a generation that moved on as
//! `Closed`. An idle connection pays 16 bytes here instead of a reference-counted block.
//!
//! Writers: the owning core sets the generation and the state at each step of the connection's
//! life; any thread changes `buffered` (a sender adds its frame, the core subtracts what the
//! kernel took) and the flags. The table's segments are allocated by the owning core only.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::ReadyState;

/// Cells in the first segment; segment `k` holds `BASE << k`.
const BASE: usize = 256;
/// Segments: enough for every slot a core may have (`MAX_SLOTS`).
const SEGMENTS: usize = 17;

const _: () = assert!(
    (BASE << (SEGMENTS - 1)) * 2 - BASE >= super::command::MAX_SLOTS as usize,
    "the segments cover every slot"
);

/// `meta` bits: the state in the low byte, the flags above it, the generation in the high half.
const STATE_MASK: u64 = 0xff;
/// A send reported `Backpressure` or `Dropped`, or a publish was dropped: `on_drain` is due
/// once the output is back under the limit.
pub(crate) const WANTS_DRAIN: u64 = 1 << 8;
/// Over the limit with `close_on_backpressure_limit`: the owning core closes the connection.
pub(crate) const SHED: u64 = 1 << 9;
/// The connection may be in the topic registry: raised by a subscribe in the same atomic step
/// that reads the state, so the core that closes the connection knows whether to clean up
/// (`topics.rs`).
pub(crate) const SUBSCRIBED: u64 = 1 << 10;

/// The shared state of one slot.
#[derive(Default)]
pub(crate) struct SlotCell {
    meta: AtomicU64,
    buffered: AtomicUsize,
}

// Part of what every idle WebSocket costs (see the handle's size check).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<SlotCell>() == 16);

impl SlotCell {
    /// The state as seen by a handle of `generation`: `Closed` once the slot moved on.
    #[inline]
    pub(crate) fn state(&self, generation: u32) -> ReadyState {
        let meta = self.meta.load(Ordering::Acquire);
        if (meta >> 32) as u32 != generation {
            return ReadyState::Closed;
        }
        ReadyState::from_u8((meta & STATE_MASK) as u8)
    }

    /// The generation of the slot's current (or last) connection.
    pub(crate) fn generation(&self) -> u32 {
        (self.meta.load(Ordering::Acquire) >> 32) as u32
    }

    /// Moves the connection of `generation` from `from` to `to`; `false` if it was not in `from`.
    pub(crate) fn transition(&self, generation: u32, from: ReadyState, to: ReadyState) -> bool {
        let mut meta = self.meta.load(Ordering::Acquire);
        loop {
            if (meta >> 32) as u32 != generation || (meta & STATE_MASK) as u8 != from as u8 {
                return false;
            }
            let next = (meta & !STATE_MASK) | to as u64;
            match self
                .meta
                .compare_exchange_weak(meta, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(seen) => meta = seen,
            }
        }
    }

    /// Sets the state of the current connection (owning core only).
    pub(crate) fn set_state(&self, state: ReadyState) {
        let mut meta = self.meta.load(Ordering::Acquire);
        loop {
            let next = (meta & !STATE_MASK) | state as u64;
            match self
                .meta
                .compare_exchange_weak(meta, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(seen) => meta = seen,
            }
        }
    }

    /// Starts the slot's next connection: the generation moves on, the state is `Connecting`
    /// and the flags are clear (owning core only, when it reuses the slot).
    pub(crate) fn next_generation(&self) -> u32 {
        // Never zero: a connection id is never zero (`ConnId`).
        let generation = self.generation().checked_add(1).unwrap_or(1);
        self.meta.store(
            (u64::from(generation) << 32) | ReadyState::Connecting as u64,
            Ordering::Release,
        );
        generation
    }

    /// Sets `flag` and reads the state in one step: `None` (and nothing set) when a handle of
    /// `generation` finds the connection closed or gone, else whether the flag was clear.
    pub(crate) fn raise_if_live(&self, generation: u32, flag: u64) -> Option<bool> {
        let live = |meta: u64| {
            (meta >> 32) as u32 == generation
                && (meta & STATE_MASK) as u8 != ReadyState::Closed as u8
        };
        match self
            .meta
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |meta| {
                live(meta).then_some(meta | flag)
            }) {
            Ok(meta) => Some(meta & flag == 0),
            Err(_) => None,
        }
    }

    /// Marks the current connection `Closed` (owning core only); returns the flags it had.
    pub(crate) fn close(&self) -> u64 {
        let mut meta = self.meta.load(Ordering::Acquire);
        loop {
            let next = (meta & !STATE_MASK) | ReadyState::Closed as u64;
            match self
                .meta
                .compare_exchange_weak(meta, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return meta & !STATE_MASK & 0xffff_ffff,
                Err(seen) => meta = seen,
            }
        }
    }

    /// Sets `flag` (any thread); returns `true` if it was clear.
    pub(crate) fn raise(&self, flag: u64) -> bool {
        self.meta.fetch_or(flag, Ordering::AcqRel) & flag == 0
    }

    /// Sets `flag` for the connection of `generation` only (a handle's raise: a handle whose
    /// connection is gone must not reach the slot's next one); `true` if it set it.
    pub(crate) fn raise_for(&self, generation: u32, flag: u64) -> bool {
        self.meta
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |meta| {
                ((meta >> 32) as u32 == generation && meta & flag == 0).then_some(meta | flag)
            })
            .is_ok()
    }

    /// Clears `flag`; returns `true` if it was set.
    pub(crate) fn take(&self, flag: u64) -> bool {
        self.meta.fetch_and(!flag, Ordering::AcqRel) & flag != 0
    }

    /// `true` while `flag` is set.
    pub(crate) fn is_raised(&self, flag: u64) -> bool {
        self.meta.load(Ordering::Acquire) & flag != 0
    }

    /// Bytes queued for the connection that the kernel has not taken yet.
    #[inline]
    pub(crate) fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// Adds `n` queued bytes; returns the new count.
    #[inline]
    pub(crate) fn add_buffered(&self, n: usize) -> usize {
        self.buffered.fetch_add(n, Ordering::AcqRel) + n
    }

    /// Subtracts `n` bytes that left the queue (sent, or dropped with the connection).
    #[inline]
    pub(crate) fn sub_buffered(&self, n: usize) {
        self.buffered.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The cells of one core's slots.
pub(crate) struct SlotTable {
    segments: [AtomicPtr<SlotCell>; SEGMENTS],
}

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable {
            segments: [const { AtomicPtr::new(ptr::null_mut()) }; SEGMENTS],
        }
    }
}

/// Segment and offset of `slot`.
#[inline]
fn locate(slot: u32) -> (usize, usize) {
    let n = slot as usize + BASE;
    let k = (usize::BITS - 1 - n.leading_zeros()) as usize - BASE.trailing_zeros() as usize;
    (k, n - (BASE << k))
}

impl SlotTable {
    /// The cell of `slot`, if its segment exists (it does for every slot a connection ever had).
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&SlotCell> {
        let (k, i) = locate(slot);
        let seg = self.segments.get(k)?.load(Ordering::Acquire);
        if seg.is_null() {
            return None;
        }
        // SAFETY: a non-null segment `k` is a live allocation of `BASE << k` cells that is only
        // freed when the table is dropped, and `i < BASE << k` by `locate`.
        Some(unsafe { &*seg.add(i) })
    }

    /// The cell of `slot`, allocating its segment first if needed (owning core only: segments
    /// are created by one thread, so no two allocations race for one segment).
    pub(crate) fn ensure(&self, slot: u32) -> &SlotCell {
        let (k, _) = locate(slot);
        if self.segments[k].load(Ordering::Acquire).is_null() {
            // Zeroed memory is a table of default cells (all atomics at 0), and its pages are
            // only touched, and counted in RSS, as slots are used.
            let layout = segment_layout(k);
            // SAFETY: the layout has a non-zero size.
            let seg = unsafe { std::alloc::alloc_zeroed(layout) } as *mut SlotCell;
            if seg.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            self.segments[k].store(seg, Ordering::Release);
        }
        self.get(slot).expect("the segment was just allocated")
    }
}

/// The allocation of segment `k`: `BASE << k` cells.
fn segment_layout(k: usize) -> std::alloc::Layout {
    std::alloc::Layout::array::<SlotCell>(BASE << k).expect("a segment's size fits")
}

impl Drop for SlotTable {
    fn drop(&mut self) {
        for (k, seg) in self.segments.iter_mut().enumerate() {
            let seg = *seg.get_mut();
            if !seg.is_null() {
                // SAFETY: allocated in `ensure` with this very layout; cells need no drop.
                unsafe { std::alloc::dealloc(seg.cast(), segment_layout(k)) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_distinct_cells_across_segments() {
        let mut seen = std::collections::HashSet::new();
        let last = super::super::command::MAX_SLOTS - 1;
        for slot in (0..5000).chain([last - 1, last]) {
            let (k, i) = locate(slot);
            assert!(k < SEGMENTS && i < BASE << k, "slot {slot}");
            assert!(seen.insert((k, i)), "slot {slot} shares a cell");
        }
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(BASE as u32 - 1), (0, BASE - 1));
        assert_eq!(locate(BASE as u32), (1, 0));
    }

    #[test]
    fn a_handle_of_an_old_generation_reads_closed() {
        let table = SlotTable::default();
        let cell = table.ensure(300);
        let g = cell.next_generation();
        cell.set_state(ReadyState::Open);
        assert_eq!(cell.state(g), ReadyState::Open);
        let g2 = cell.next_generation();
        assert_ne!(g, g2);
        assert_eq!(cell.state(g), ReadyState::Closed);
        assert_eq!(cell.state(g2), ReadyState::Connecting);
        assert!(!cell.transition(g, ReadyState::Connecting, ReadyState::Open));
        assert!(cell.transition(g2, ReadyState::Connecting, ReadyState::Open));
    }

    #[test]
    fn flags_are_independent_of_state_and_generation() {
        let table = SlotTable::default();
        let cell = table.ensure(0);
        let g = cell.next_generation();
        assert!(cell.raise(WANTS_DRAIN));
        assert!(!cell.raise(WANTS_DRAIN));
        cell.set_state(ReadyState::Open);
        assert!(cell.is_raised(WANTS_DRAIN));
        assert_eq!(cell.state(g), ReadyState::Open);
        assert!(cell.take(WANTS_DRAIN));
        assert!(!cell.take(WANTS_DRAIN));
    }

    #[test]
    fn a_handle_of_an_old_generation_raises_nothing_on_the_next_connection() {
        let table = SlotTable::default();
        let cell = table.ensure(7);
        let g = cell.next_generation();
        let g2 = cell.next_generation();
        assert!(!cell.raise_for(g, SHED));
        assert!(!cell.is_raised(SHED));
        assert!(cell.raise_for(g2, SHED));
        assert!(!cell.raise_for(g2, SHED));
        assert!(cell.is_raised(SHED));
        assert_eq!(cell.raise_if_live(g, SUBSCRIBED), None);
        assert!(!cell.is_raised(SUBSCRIBED));
        assert_eq!(cell.raise_if_live(g2, SUBSCRIBED), Some(true));
        assert_eq!(cell.raise_if_live(g2, SUBSCRIBED), Some(false));
    }
}
