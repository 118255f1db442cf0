//! [`HeldBytes`]: received bytes a connection could not process yet (a partial head or frame,
//! input held back while a handler runs), and the pool their allocations return to.

/// Bytes a connection holds for later. Empty, it is nothing: 8 bytes in the slot and no
/// allocation. With bytes in it, it is a `Vec` behind a box, so the allocation and its capacity
/// travel between connections and the core's pool as one piece.
#[derive(Default)]
#[allow(clippy::box_collection)] // the box is the point: 8 bytes empty, one piece to pool
pub(crate) struct HeldBytes(Option<Box<Vec<u8>>>);

impl HeldBytes {
    /// The bytes, for appending; takes a recycled allocation from `pool` if there is none.
    pub(crate) fn vec_mut(&mut self, pool: &mut BytePool) -> &mut Vec<u8> {
        self.0.get_or_insert_with(|| pool.take())
    }

    /// Forgets the first `n` bytes; an emptied buffer goes back to `pool`.
    pub(crate) fn consume(&mut self, n: usize, pool: &mut BytePool) {
        let Some(v) = self.0.as_mut() else { return };
        if n >= v.len() {
            self.release(pool);
        } else {
            v.drain(..n);
        }
    }

    /// Drops the bytes and gives the allocation back to `pool`.
    pub(crate) fn release(&mut self, pool: &mut BytePool) {
        if let Some(v) = self.0.take() {
            pool.give(v);
        }
    }
}

impl std::ops::Deref for HeldBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl std::ops::DerefMut for HeldBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().map_or(&mut [], Vec::as_mut_slice)
    }
}

/// A small per-core stack of emptied buffers for [`HeldBytes`].
pub(crate) struct BytePool {
    #[allow(clippy::vec_box)] // the boxes are what connections hold: moved, not copied
    free: Vec<Box<Vec<u8>>>,
    keep: usize,
    max_capacity: usize,
}

impl BytePool {
    /// A pool keeping at most `keep` buffers of at most `max_capacity` bytes each.
    pub(crate) fn new(keep: usize, max_capacity: usize) -> BytePool {
        BytePool {
            free: Vec::with_capacity(keep),
            keep,
            max_capacity,
        }
    }

    /// An empty buffer, recycled when one is available.
    #[allow(clippy::box_collection)] // see `HeldBytes`
    fn take(&mut self) -> Box<Vec<u8>> {
        self.free
            .pop()
            .unwrap_or_else(|| Box::new(Vec::with_capacity(4096)))
    }

    /// Returns a buffer; oversized ones and those beyond `keep` are freed.
    #[allow(clippy::box_collection)] // see `HeldBytes`
    fn give(&mut self, mut buf: Box<Vec<u8>>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity || self.free.len() >= self.keep
        {
            return;
        }
        buf.clear();
        self.free.push(buf);
    }
}
