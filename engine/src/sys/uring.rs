//! io_uring below the engine: a ring set up for one thread, and a ring of provided receive
//! buffers the kernel picks from.
//!
//! Owns: the ring's setup flags, the buffer memory and its registration with the kernel.
//! Does not own: what is submitted on the ring or what a completion means (`driver::uring`).

use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

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
pub(crate) struct BufRing {
    /// One mapping: the ring's entries on the first page(s), then the buffers.
    map: NonNull<u8>,
    map_len: usize,
    entries_len: usize,
    count: u16,
    size: u32,
    incremental: bool,
    /// Where the next given-back buffer goes (ours; the kernel reads the published copy).
    tail: Cell<u16>,
    /// A buffer whose bytes the core is reading now, given back at [`settle`](Self::settle).
    lent: Cell<Option<u16>>,
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
        let map_len = entries_len + usize::from(count) * size as usize;
        // SAFETY: an anonymous private mapping; the result is checked.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
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
            map: NonNull::new(map.cast()).expect("mmap does not return null"),
            map_len,
            entries_len,
            count,
            size,
            incremental: flags & PBUF_RING_INC != 0,
            tail: Cell::new(0),
            lent: Cell::new(None),
            offered: Cell::new(0),
        };
        let addr = ring_buf.map.as_ptr() as u64;
        let submitter = ring.submitter();
        // SAFETY: the entries live in our mapping, which outlives the registration: the
        // driver holds the mapping until its ring is quiescent and dropped.
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
        let offset = self.entries_len + usize::from(id) * self.size as usize + at as usize;
        // SAFETY: within the mapping (checked above); exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_ptr().add(offset), len as usize) }
    }

    /// Offers buffer `id` to the kernel again, after the ones given back before it; visible
    /// to the kernel at the next [`publish`](Self::publish).
    pub(crate) fn push(&self, id: u16) {
        let entries = self.map.as_ptr().cast::<BufRingEntry>();
        let tail = self.tail.get();
        let slot = usize::from(tail & (self.count - 1));
        let addr =
            self.map.as_ptr() as usize + self.entries_len + usize::from(id) * self.size as usize;
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

    /// Buffer `id` is being read: it goes back at the next [`settle`](Self::settle) (by then
    /// the completion whose bytes it holds is over).
    pub(crate) fn lend(&self, id: u16) {
        debug_assert!(self.lent.get().is_none(), "one buffer lent at a time");
        self.lent.set(Some(id));
    }

    /// Gives the lent buffer back, if any, and publishes every buffer given back so far.
    pub(crate) fn settle(&self) {
        if let Some(id) = self.lent.take() {
            self.push(id);
        }
        self.publish();
    }

    /// Makes every pushed buffer visible to the kernel (one release store of the tail).
    pub(crate) fn publish(&self) {
        let entries = self.map.as_ptr().cast::<BufRingEntry>();
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
        // SAFETY: our own mapping, unmapped once; no receive can still write into it (the
        // driver quiesces its ring before dropping the buffers).
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}
