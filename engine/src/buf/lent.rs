//! Receive memory that can be kept past the completion that delivered it.
//!
//! A driver that receives into buffers of its own (io_uring's provided buffers) can let the
//! core keep part of a completion's bytes as a [`Bytes`] instead of copying them out: a large
//! message's payload stays where the kernel wrote it, is unmasked there, and goes back out from
//! there when it is echoed or forwarded. Each buffer counts the parts kept of it ("leases"); the
//! driver offers a buffer to the kernel again only once its count is back to zero, and the
//! memory itself lives as long as the last lease, on whatever thread that ends.
//!
//! Owns: the buffers' memory and their lease counts. Does not own: which buffers the kernel
//! may fill, or when a kept part is dropped (the driver and the message's holders).

use std::io;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

/// `count` buffers of `size` bytes in one anonymous mapping, each with a count of the parts of
/// it that are kept. A mapping of its own rather than the allocator's memory: a page is touched
/// only once the kernel writes into it, however the allocator would have served the request.
pub(crate) struct LendingArea {
    base: NonNull<u8>,
    len: usize,
    size: u32,
    leases: Box<[AtomicU32]>,
}

// SAFETY: the area is plain memory; which thread may write which bytes is decided by the lease
// counts (atomic) and by the driver, which alone hands buffers to the kernel.
unsafe impl Send for LendingArea {}
// SAFETY: as above; shared access only reads kept bytes and updates atomic counts.
unsafe impl Sync for LendingArea {}

impl LendingArea {
    /// An area of `count` buffers of `size` bytes.
    pub(crate) fn new(count: u16, size: u32) -> io::Result<Arc<LendingArea>> {
        let len = (usize::from(count) * size as usize).max(1);
        // SAFETY: an anonymous private mapping; the result is checked.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Arc::new(LendingArea {
            base: NonNull::new(map.cast()).expect("mmap does not return null"),
            len,
            size,
            leases: (0..count).map(|_| AtomicU32::new(0)).collect(),
        }))
    }

    /// The first byte of buffer `id`.
    pub(crate) fn buffer(&self, id: u16) -> *mut u8 {
        debug_assert!(usize::from(id) < self.leases.len());
        // SAFETY: buffer `id` lies within the allocation.
        unsafe { self.base.as_ptr().add(usize::from(id) * self.size as usize) }
    }

    /// Some part of buffer `id` is still kept: the kernel must not have it back yet.
    pub(crate) fn is_leased(&self, id: u16) -> bool {
        // Acquire: pairs with the release of the last lease's drop, so whatever its holder
        // read happens before the kernel writes the buffer again.
        self.leases[usize::from(id)].load(Ordering::Acquire) != 0
    }
}

impl Drop for LendingArea {
    fn drop(&mut self) {
        // SAFETY: mapped in `new` with this length, unmapped once; the last lease and the
        // driver are gone.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// The right to keep parts of one completion's bytes, all in buffer `id` of an area.
#[derive(Clone, Copy)]
pub(crate) struct Lender<'a> {
    area: &'a Arc<LendingArea>,
    id: u16,
}

impl<'a> Lender<'a> {
    /// Parts of buffer `id` of `area` may be kept.
    pub(crate) fn new(area: &'a Arc<LendingArea>, id: u16) -> Lender<'a> {
        Lender { area, id }
    }

    /// `part` kept as a `Bytes`, with no copy; `None` when `part` is not in this lender's
    /// buffer.
    ///
    /// # Safety
    /// `part` must be bytes of the completion this lender came with, and the caller must be
    /// done changing them (a payload unmasked in place): nothing of the caller's writes them
    /// again. (That the kernel does not either is the driver's side: it offers the buffer
    /// again only once every lease of it is dropped.)
    pub(crate) unsafe fn keep(&self, part: &[u8]) -> Option<Bytes> {
        let start = self.area.buffer(self.id) as usize;
        let end = start + self.area.size as usize;
        let at = part.as_ptr() as usize;
        if at < start || at + part.len() > end {
            return None;
        }
        self.area.leases[usize::from(self.id)].fetch_add(1, Ordering::Relaxed);
        Some(Bytes::from_owner(Lease {
            area: self.area.clone(),
            id: self.id,
            at: NonNull::from(part).cast(),
            len: part.len(),
        }))
    }
}

/// A kept part of a buffer: readable for as long as it lives, and its buffer stays out of the
/// kernel's hands until then.
struct Lease {
    area: Arc<LendingArea>,
    id: u16,
    at: NonNull<u8>,
    len: usize,
}

// SAFETY: the bytes are never written while a lease exists (see `Lender::keep`), and the area
// they lie in is kept alive by `area`.
unsafe impl Send for Lease {}

impl AsRef<[u8]> for Lease {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `at..at + len` lies in `area`, which this lease keeps alive, and nothing writes
        // those bytes while it exists.
        unsafe { std::slice::from_raw_parts(self.at.as_ptr(), self.len) }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Release: everything read through this lease happens before the driver sees the count
        // fall (`is_leased`) and gives the buffer back to the kernel.
        self.area.leases[usize::from(self.id)].fetch_sub(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_part_holds_its_buffer_and_outlives_the_area_s_owner() {
        let area = LendingArea::new(4, 4096).unwrap();
        // SAFETY: the test owns the area; buffer 2 is written before it is read.
        let bytes = unsafe {
            std::ptr::write_bytes(area.buffer(2), 0, 4096);
            std::slice::from_raw_parts_mut(area.buffer(2), 4096)
        };
        bytes[..5].copy_from_slice(b"hello");
        let lender = Lender::new(&area, 2);
        // SAFETY: nothing writes the bytes again.
        let kept = unsafe { lender.keep(&bytes[..5]) }.unwrap();
        let other = unsafe { lender.keep(&bytes[100..200]) }.unwrap();
        assert!(area.is_leased(2));
        assert!(!area.is_leased(1));
        drop(other);
        assert!(area.is_leased(2), "one part is still kept");
        drop(area); // the driver's handle goes: the kept bytes keep the memory
        let elsewhere = std::thread::spawn(move || kept.to_vec()).join().unwrap();
        assert_eq!(elsewhere, b"hello");
    }

    #[test]
    fn a_part_outside_the_lender_s_buffer_is_not_kept() {
        let area = LendingArea::new(2, 4096).unwrap();
        // SAFETY: the test owns the area; both buffers are written before they are read.
        let both = unsafe {
            std::ptr::write_bytes(area.buffer(0), 0, 8192);
            std::slice::from_raw_parts_mut(area.buffer(0), 8192)
        };
        let lender = Lender::new(&area, 0);
        // SAFETY: nothing writes the bytes again.
        assert!(unsafe { lender.keep(&both[4000..4200]) }.is_none());
        assert!(unsafe { lender.keep(&both[..4096]) }.is_some());
        assert!(
            !area.is_leased(0),
            "the part kept above was dropped at once"
        );
    }
}
