//! [`SendQueue`]: the bytes a connection hands its driver in one send, in write order.
//!
//! Most output is the connection's own (responses, frames it encoded, pongs): it is appended to
//! one buffer. A large published frame is not copied into each subscriber's queue: the queue keeps
//! a reference to the one encoded frame (`Bytes`), placed after the own bytes written before it,
//! and the driver hands the kernel both in one vectored write. A queue travels whole: the
//! connection fills it, gives it to the driver, and gets it back emptied when the kernel has
//! taken every byte, so the bytes of a send in flight never move and never belong to two owners.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

/// Published frames at least this large are shared rather than copied: below it a copy costs
/// less than the reference count and the extra `iovec`.
pub(crate) const SHARE_MIN_LEN: usize = 1024;

/// At most this many pieces per vectored write (far below `IOV_MAX`); the rest goes next time.
pub(crate) const MAX_IOVECS: usize = 64;

/// Output in write order: own bytes with shared frames placed between them.
#[derive(Default)]
pub(crate) struct SendQueue {
    /// Bytes the queue held when it was handed to a driver: what the connection's count of
    /// queued bytes loses when the send completes (or the connection goes with it in flight).
    pub(crate) submitted: usize,
    /// What the WebSocket's count of queued bytes loses when the send completes: `submitted`,
    /// or the plaintext a TLS send's records carry; 0 for HTTP output, which is not counted.
    pub(crate) counted: usize,
    own: Vec<u8>,
    /// Shared frames, each to be written after `at` bytes of `own`.
    shared: VecDeque<SharedFrame>,
    shared_len: usize,
}

struct SharedFrame {
    /// Offset in `own` before which this frame goes (non-decreasing along the queue).
    at: usize,
    /// What is left to send of the frame.
    bytes: Bytes,
}

impl SendQueue {
    /// Bytes waiting, own and shared.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.own.len() + self.shared_len
    }

    /// Nothing waits.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer own writes append to (after every frame queued so far).
    pub(crate) fn own_mut(&mut self) -> &mut Vec<u8> {
        &mut self.own
    }

    /// Queues a frame shared with other connections, after everything written so far.
    pub(crate) fn push_shared(&mut self, bytes: Bytes) {
        self.shared_len += bytes.len();
        self.shared.push_back(SharedFrame {
            at: self.own.len(),
            bytes,
        });
    }

    /// The queue's bytes as at most [`MAX_IOVECS`] slices, in order, appended to `iov`.
    pub(crate) fn io_slices<'a>(&'a self, iov: &mut Vec<IoSlice<'a>>) {
        self.pieces(|piece| iov.push(IoSlice::new(piece)));
    }

    /// The queue's bytes as at most [`MAX_IOVECS`] `iovec`s, in order, written into `iov`;
    /// returns how many. For a driver whose kernel reads them after this call returns: they
    /// stay valid while the queue is neither changed nor dropped.
    pub(crate) fn iovecs(&self, iov: &mut [libc::iovec; MAX_IOVECS]) -> usize {
        let mut n = 0;
        self.pieces(|piece| {
            iov[n] = libc::iovec {
                iov_base: piece.as_ptr() as *mut libc::c_void,
                iov_len: piece.len(),
            };
            n += 1;
        });
        n
    }

    /// Calls `piece` for every slice of the queue, in order (to encrypt it whole).
    #[cfg(feature = "tls")]
    pub(crate) fn for_each_piece(&self, mut piece: impl FnMut(&[u8])) {
        let mut from = 0;
        for f in &self.shared {
            if f.at > from {
                piece(&self.own[from..f.at]);
            }
            piece(&f.bytes);
            from = f.at;
        }
        if from < self.own.len() {
            piece(&self.own[from..]);
        }
    }

    /// Calls `piece` for each of at most [`MAX_IOVECS`] slices of the queue, in order.
    fn pieces<'a>(&'a self, mut piece: impl FnMut(&'a [u8])) {
        let mut count = 0;
        let mut from = 0;
        for f in &self.shared {
            if count + 2 > MAX_IOVECS {
                return;
            }
            if f.at > from {
                piece(&self.own[from..f.at]);
                count += 1;
            }
            piece(&f.bytes);
            count += 1;
            from = f.at;
        }
        if count < MAX_IOVECS && from < self.own.len() {
            piece(&self.own[from..]);
        }
    }

    /// The first piece alone: the whole queue when it holds only own bytes (the common case,
    /// written without building a slice list).
    #[inline]
    pub(crate) fn as_single(&self) -> Option<&[u8]> {
        self.shared.is_empty().then_some(self.own.as_slice())
    }

    /// Forgets the first `n` bytes, in write order (the kernel took them).
    #[inline]
    pub(crate) fn advance(&mut self, mut n: usize) {
        if self.shared.is_empty() {
            let n = n.min(self.own.len());
            if n == self.own.len() {
                self.own.clear();
            } else {
                self.own.drain(..n);
            }
            return;
        }
        let mut own_taken = 0;
        loop {
            let next_at = self.shared.front().map_or(self.own.len(), |f| f.at);
            let take = (next_at - own_taken).min(n);
            own_taken += take;
            n -= take;
            let Some(f) = self.shared.front_mut() else {
                break;
            };
            if n == 0 && own_taken < next_at {
                break;
            }
            let take = f.bytes.len().min(n);
            f.bytes.advance(take);
            self.shared_len -= take;
            n -= take;
            if !f.bytes.is_empty() {
                break;
            }
            self.shared.pop_front();
            if n == 0 {
                break;
            }
        }
        for f in self.shared.iter_mut() {
            f.at -= own_taken;
        }
        self.own.drain(..own_taken);
    }

    /// Empties the queue, keeping the own buffer's capacity.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.submitted = 0;
        self.counted = 0;
        self.own.clear();
        self.shared.clear();
        self.shared_len = 0;
    }
}

/// A per-core stack of emptied queues, so a connection that sends every turn does not allocate
/// a queue every turn. It keeps queues up to a budget of bytes (their buffers included) rather
/// than a count: a turn that sends to every subscriber of a topic has as many queues in flight
/// as there are subscribers, and each comes back.
pub(crate) struct QueuePool {
    #[allow(clippy::vec_box)] // the boxes are what drivers hold: moved, not copied
    free: Vec<Box<SendQueue>>,
    /// Bytes the queues in `free` hold, by [`footprint`].
    held: usize,
    budget: usize,
    max_capacity: usize,
}

/// The heap bytes of an emptied queue: its box and both buffers' capacity.
fn footprint(q: &SendQueue) -> usize {
    std::mem::size_of::<SendQueue>()
        + q.own.capacity()
        + q.shared.capacity() * std::mem::size_of::<SharedFrame>()
}

impl QueuePool {
    /// A pool keeping emptied queues whose own buffer is at most `max_capacity` bytes, while
    /// all it keeps comes to at most `budget` bytes.
    pub(crate) fn new(budget: usize, max_capacity: usize) -> QueuePool {
        QueuePool {
            free: Vec::new(),
            held: 0,
            budget,
            max_capacity,
        }
    }

    /// An empty queue, recycled when one is available.
    #[inline]
    pub(crate) fn take(&mut self) -> Box<SendQueue> {
        match self.free.pop() {
            Some(q) => {
                self.held -= footprint(&q);
                q
            }
            None => Box::new(SendQueue {
                // Most output is a frame or a response of at most a few hundred bytes; more
                // grows it (and the pool keeps the grown buffer).
                own: Vec::with_capacity(256),
                ..SendQueue::default()
            }),
        }
    }

    /// Returns a queue; oversized ones and those beyond the budget are freed.
    #[inline]
    pub(crate) fn give(&mut self, mut q: Box<SendQueue>) {
        let size = footprint(&q);
        if q.own.capacity() > self.max_capacity || self.held + size > self.budget {
            return;
        }
        q.clear();
        self.held += size;
        self.free.push(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the queue the way a driver writes it: slices, then `advance` by what was "taken",
    /// `chunk` bytes at a time.
    fn drain(q: &mut SendQueue, chunk: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while !q.is_empty() {
            let before = q.len();
            let mut iov = Vec::new();
            q.io_slices(&mut iov);
            let mut taken = 0;
            for s in &iov {
                let n = s.len().min(chunk - taken);
                got.extend_from_slice(&s[..n]);
                taken += n;
                if taken == chunk {
                    break;
                }
            }
            q.advance(taken);
            assert_eq!(q.len(), before - taken);
        }
        got
    }

    #[test]
    fn own_and_shared_bytes_leave_in_write_order() {
        for chunk in [1, 2, 3, 5, 64] {
            let mut q = SendQueue::default();
            q.own_mut().extend_from_slice(b"ab");
            q.push_shared(Bytes::from_static(b"SHARED1"));
            q.push_shared(Bytes::from_static(b"S2"));
            q.own_mut().extend_from_slice(b"cd");
            q.push_shared(Bytes::from_static(b"S3"));
            assert_eq!(q.len(), 15);
            assert_eq!(drain(&mut q, chunk), b"abSHARED1S2cdS3", "chunk {chunk}");
        }
    }

    #[test]
    fn partial_consumption_keeps_order_at_every_split() {
        let expected = b"xyFRAMEzG".to_vec();
        for cut in 0..=expected.len() {
            let mut q = SendQueue::default();
            q.own_mut().extend_from_slice(b"xy");
            q.push_shared(Bytes::from_static(b"FRAME"));
            q.own_mut().extend_from_slice(b"z");
            q.push_shared(Bytes::from_static(b"G"));
            q.advance(cut);
            assert_eq!(q.len(), expected.len() - cut);
            assert_eq!(drain(&mut q, 4), expected[cut..], "cut at {cut}");
        }
    }

    #[test]
    fn own_bytes_alone_are_one_piece() {
        let mut q = SendQueue::default();
        q.own_mut().extend_from_slice(b"hello");
        assert_eq!(q.as_single(), Some(&b"hello"[..]));
        q.push_shared(Bytes::from_static(b"x"));
        assert_eq!(q.as_single(), None);
    }

    /// The pool keeps emptied queues until their bytes reach its budget, hands them out again
    /// before allocating, and never keeps one whose own buffer outgrew the limit.
    #[test]
    fn the_pool_keeps_queues_up_to_its_budget() {
        let one = footprint(&QueuePool::new(0, 0).take());
        let mut pool = QueuePool::new(3 * one, 1 << 10);
        let queues: Vec<_> = (0..5).map(|_| pool.take()).collect();
        for q in queues {
            pool.give(q);
        }
        assert_eq!((pool.free.len(), pool.held), (3, 3 * one));
        let mut big = pool.take();
        assert_eq!(pool.held, 2 * one);
        big.own_mut().extend_from_slice(&[0; 2048]);
        pool.give(big);
        assert_eq!((pool.free.len(), pool.held), (2, 2 * one));
        let mut used = pool.take();
        used.own_mut().extend_from_slice(b"frame");
        used.push_shared(Bytes::from_static(b"shared"));
        let grown = footprint(&used);
        assert!(grown > one, "the frame list's room counts");
        pool.give(used);
        assert_eq!((pool.free.len(), pool.held), (2, one + grown));
        let again = pool.take();
        assert_eq!(pool.held, one);
        assert!(again.is_empty(), "a recycled queue comes back empty");
    }
}
