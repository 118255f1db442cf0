//! io_uring below the engine: a ring set up for one thread, and a ring of provided receive
//! buffers the kernel picks from.
//!
//! Owns: the ring's setup flags, the buffer ring's entries and its registration with the
//! kernel, which buffers are offered. Does not own: what is submitted on the ring or what a
//! completion means (`driver::uring`), nor the buffers' memory, which is a [`LendingArea`] so
//! that a message can keep received bytes past their completion.

use std::cell::{Cell, RefCell};
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

use crate::buf::{Lender, LendingArea};

/// Submission queue entries. A turn that sends on every connection pushes one entry per
/// connection; a fuller queue is submitted early, so this bounds nothing but batching. (The
/// queues are memory the process touches as they wrap: 64 B per entry here, 16 B per
/// completion entry.)
const SQ_ENTRIES: u32 = 256;
/// Completion queue entries: room for a burst in which a thousand connections complete a
/// receive and a send each in one turn before the core reaps them (overflow beyond it is kept
/// by the kernel, `IORING_FEAT_NODROP`, and flushed by the next submit).
const CQ_ENTRIES: u32 = 4096;

/// Buffers an incrementally consumed ring offers before receives first run out.
const FIRST_OFFER: u16 = 2;

/// Buffers never lent (see [`BufRing::lender`]): however many parts of received messages a
/// program keeps, this many (less the one or two the kernel is filling) still serve receives.
/// A ring of this many buffers or fewer lends none.
const NEVER_LENT: u16 = 4;

/// `IOU_PBUF_RING_INC` (Linux 6.12): a buffer is consumed a receive at a time instead of whole.
const PBUF_RING_INC: u16 = 2;
/// `IORING_CQE_F_BUF_MORE`: the buffer of this completion goes on serving receives.
pub(crate) const CQE_F_BUF_MORE: u32 = 16;

/// A ring for the calling thread alone: submissions only from it (`SINGLE_ISSUER`), completion
/// work run when it enters the kernel anyway rather than by interrupting it (`COOP_TASKRUN`,
/// with `TASKRUN_FLAG` so a submit knows to collect it). Deferred task running is left off on
/// purpose: the core sleeps by polling the ring's fd through monoio, and deferred completions
/// do not wake a poll.
pub(crate) fn ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .setup_submit_all()
        .setup_cqsize(CQ_ENTRIES)
        .build(SQ_ENTRIES)
}

/// `count` receive buffers of `size` bytes, registered with a ring as buffer group `group`.
///
/// The kernel takes buffers from the ring's head as receives need them and names the buffer
/// in each completion; the owner gives each one back (at the tail) once it has read the bytes.
/// With incremental consumption a buffer serves receive after receive, each completion's bytes
/// following the previous one's, until the kernel says it is done with it: small messages of
/// many connections then share a few hot buffers instead of one buffer each.
///
/// Parts of a buffer may be kept past their completion ([`lender`](Self::lender)): a buffer
/// the kernel is done with goes back only once nothing is kept of it
/// ([`reclaim`](Self::reclaim)), and lending stops before too many buffers wait so, so that
/// messages a program keeps for long cannot starve the receives.
pub(crate) struct BufRing {
    /// The ring's entries (a mapping of their own, registered with the kernel).
    entries: NonNull<u8>,
    entries_len: usize,
    /// The buffers.
    area: Arc<LendingArea>,
    count: u16,
    size: u32,
    incremental: bool,
    /// Where the next given-back buffer goes (ours; the kernel reads the published copy).
    tail: Cell<u16>,
    /// A buffer the kernel is done with whose bytes the core is reading now, given back at
    /// [`settle`](Self::settle).
    reading: Cell<Option<u16>>,
    /// Buffers the kernel is done with that wait for their kept parts to be dropped.
    held: RefCell<Vec<u16>>,
    /// Buffers `0..offered` have been offered to the kernel; the rest are untouched memory.
    offered: Cell<u16>,
}

impl BufRing {
    /// Maps and registers buffers with `ring`: `incremental` (count, size) consumed a receive
    /// at a time where the kernel can (6.12), else `whole` (count, size), each completion
    /// taking a buffer of its own. Counts must be powers of two.
    pub(crate) fn register(
        ring: &IoUring,
        group: u16,
        incremental: (u16, u32),
        whole: (u16, u32),
    ) -> io::Result<BufRing> {
        match BufRing::map_and_register(ring, group, incremental, PBUF_RING_INC) {
            Ok(bufs) => Ok(bufs),
            Err(_) => BufRing::map_and_register(ring, group, whole, 0),
        }
    }

    fn map_and_register(
        ring: &IoUring,
        group: u16,
        (count, size): (u16, u32),
        flags: u16,
    ) -> io::Result<BufRing> {
        assert!(count.is_power_of_two());
        let page = 4096;
        let entries_len =
            (usize::from(count) * std::mem::size_of::<BufRingEntry>()).next_multiple_of(page);
        let area = LendingArea::new(count, size)?;
        // SAFETY: an anonymous private mapping; the result is checked.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                entries_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring_buf = BufRing {
            entries: NonNull::new(map.cast()).expect("mmap does not return null"),
            entries_len,
            area,
            count,
            size,
            incremental: flags & PBUF_RING_INC != 0,
            tail: Cell::new(0),
            reading: Cell::new(None),
            held: RefCell::new(Vec::new()),
            offered: Cell::new(0),
        };
        let addr = ring_buf.entries.as_ptr() as u64;
        let submitter = ring.submitter();
        // SAFETY: the entries live in our mapping, which outlives the registration: the
        // driver holds the mapping (and the buffers) until its ring is quiescent and dropped.
        // (On failure the mapping is unmapped by `ring_buf`'s drop.)
        unsafe { submitter.register_buf_ring_with_flags(addr, count, group, flags) }?;
        // Incrementally consumed buffers are written front to back, and the kernel moves on to
        // the next one in ring order: every byte offered is touched. Offer the first half of
        // two to start with, and more only when receives run out, so a quiet core's receive
        // memory stays one buffer's worth (as much as the epoll driver's read buffer). Whole
        // buffers are touched only as far as each receive writes: offer all.
        let first = if ring_buf.incremental {
            count.min(FIRST_OFFER)
        } else {
            count
        };
        ring_buf.offered.set(first);
        for id in 0..first {
            ring_buf.push(id);
        }
        ring_buf.publish();
        Ok(ring_buf)
    }

    /// Every buffer offered was in use: offers as many again (up to all of them). `false` when
    /// all are offered already.
    pub(crate) fn grow(&self) -> bool {
        let offered = self.offered.get();
        let more = offered.min(self.count - offered);
        // Counted first: the offer's length follows from it.
        self.offered.set(offered + more);
        for id in offered..offered + more {
            self.push(id);
        }
        self.publish();
        more > 0
    }

    /// Bytes of a buffer offered: the first half while a core has only ever offered its first
    /// buffers (it never ran out), all of it once it has grown the offer.
    fn offer_len(&self) -> u32 {
        if self.incremental && self.count > FIRST_OFFER && self.offered.get() <= FIRST_OFFER {
            self.size / 2
        } else {
            self.size
        }
    }

    /// Buffers are consumed a receive at a time (else each completion takes a whole buffer).
    pub(crate) fn is_incremental(&self) -> bool {
        self.incremental
    }

    /// Buffers in the ring.
    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// Bytes per buffer.
    pub(crate) fn buffer_size(&self) -> u32 {
        self.size
    }

    /// The bytes `at..at + len` of buffer `id`.
    ///
    /// # Safety
    /// The kernel must have handed these bytes over in a completion (they are not in any
    /// buffer the ring still offers), and the caller must not hold another reference to them.
    #[allow(clippy::mut_from_ref)] // the memory is the kernel's and ours in turns, never Rust's
    pub(crate) unsafe fn bytes(&self, id: u16, at: u32, len: u32) -> &mut [u8] {
        debug_assert!(id < self.count && at + len <= self.size);
        // SAFETY: within buffer `id` (checked above); exclusivity is the caller's promise.
        unsafe {
            std::slice::from_raw_parts_mut(self.area.buffer(id).add(at as usize), len as usize)
        }
    }

    /// The right to keep parts of a completion's bytes in buffer `id`; `None` while all but
    /// [`NEVER_LENT`] buffers wait for kept parts to be dropped (the bytes are then copied).
    ///
    /// The buffer ring's side of [`Lender::keep`]'s contract: a buffer goes back to the kernel
    /// only once every lease of it is dropped ([`settle`](Self::settle),
    /// [`reclaim`](Self::reclaim)).
    pub(crate) fn lender(&self, id: u16) -> Option<Lender<'_>> {
        (self.held.borrow().len() < usize::from(self.count.saturating_sub(NEVER_LENT)))
            .then(|| Lender::new(&self.area, id))
    }

    /// Offers again the held buffers of which nothing is kept any more; once a turn.
    pub(crate) fn reclaim(&self) {
        let mut held = self.held.borrow_mut();
        if held.is_empty() {
            return;
        }
        let before = held.len();
        held.retain(|&id| {
            let leased = self.area.is_leased(id);
            if !leased {
                self.push(id);
            }
            leased
        });
        if held.len() != before {
            drop(held);
            self.publish();
        }
    }

    /// Offers buffer `id` again once the kernel is done with it: now, or when the last part
    /// kept of it is dropped.
    fn give_back(&self, id: u16) {
        if self.area.is_leased(id) {
            self.held.borrow_mut().push(id);
        } else {
            self.push(id);
        }
    }

    /// Offers buffer `id` to the kernel again, after the ones given back before it; visible
    /// to the kernel at the next [`publish`](Self::publish).
    pub(crate) fn push(&self, id: u16) {
        let entries = self.entries.as_ptr().cast::<BufRingEntry>();
        let tail = self.tail.get();
        let slot = usize::from(tail & (self.count - 1));
        let addr = self.area.buffer(id) as usize;
        // SAFETY: `slot < count` entries lie in the mapping; the kernel reads only entries
        // before the published tail, and this one is at or after it.
        unsafe {
            let e = &mut *entries.add(slot);
            e.set_addr(addr as u64);
            e.set_len(self.offer_len());
            e.set_bid(id);
        }
        self.tail.set(tail.wrapping_add(1));
    }

    /// The kernel is done with buffer `id`, whose last bytes are being read: it goes back at
    /// the next [`settle`](Self::settle) (by then the completion that holds them is over).
    pub(crate) fn finished(&self, id: u16) {
        debug_assert!(
            self.reading.get().is_none(),
            "one finished buffer read at a time"
        );
        self.reading.set(Some(id));
    }

    /// Gives the buffer read last back (now, or once nothing is kept of it), if the kernel was
    /// done with it, and publishes every buffer given back so far.
    pub(crate) fn settle(&self) {
        if let Some(id) = self.reading.take() {
            self.give_back(id);
        }
        self.publish();
    }

    /// Makes every pushed buffer visible to the kernel (one release store of the tail).
    pub(crate) fn publish(&self) {
        let entries = self.entries.as_ptr().cast::<BufRingEntry>();
        // SAFETY: the tail field lies in the first entry of the mapping; the kernel reads it
        // with acquire semantics, so the entries written before this store are visible to it.
        unsafe {
            let tail = BufRingEntry::tail(entries).cast::<AtomicU16>();
            (*tail).store(self.tail.get(), Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; the kernel no longer reads it (the driver
        // quiesces its ring before dropping the buffer ring). The buffers themselves go with
        // the last of this ring and the parts kept of them.
        unsafe { libc::munmap(self.entries.as_ptr().cast(), self.entries_len) };
    }
}
