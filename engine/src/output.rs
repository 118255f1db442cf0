//! A connection's output: the bytes the kernel has not taken yet.
//!
//! Most output is the connection's own (responses, frames it encoded, pongs): it is appended to
//! one buffer, recycled through the core's pool. A large published frame is not copied into each
//! subscriber's buffer: the subscriber keeps a reference to the one encoded frame (`Bytes`),
//! placed after the own bytes written before it, and the flush hands the kernel both with one
//! `writev`. Order is exactly the order of the writes.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;

use bytes::{Buf, Bytes};

use crate::conn::{BufPool, HeldBytes};

/// Published frames at least this large are shared rather than copied: below it a copy costs
/// less than the reference count and the extra `iovec`.
pub(crate) const SHARE_MIN_LEN: usize = 1024;

/// At most this many pieces per `writev` (far below `IOV_MAX`); the rest goes next time.
const MAX_IOVECS: usize = 64;

/// Output waiting for the kernel.
#[derive(Default)]
pub(crate) struct Output {
    own: HeldBytes,
    /// Shared frames; only allocated while one is pending. Boxed: 8 bytes in every idle
    /// connection instead of 40.
    shared: Option<Box<SharedFrames>>,
}

/// The shared frames waiting, in order, and their total length.
#[derive(Default)]
struct SharedFrames {
    /// Each to be written after `at` bytes of `own`.
    frames: VecDeque<SharedFrame>,
    len: usize,
}

struct SharedFrame {
    /// Offset in `own` before which this frame goes (non-decreasing along the queue).
    at: usize,
    /// What is left to send of the frame.
    bytes: Bytes,
}

impl Output {
    /// Bytes waiting, own and shared.
    pub(crate) fn len(&self) -> usize {
        self.own.len() + self.shared.as_ref().map_or(0, |s| s.len)
    }

    /// Nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer the connection's own writes append to (after every frame queued so far).
    pub(crate) fn own_mut(&mut self, pool: &mut BufPool) -> &mut Vec<u8> {
        self.own.vec_mut(pool)
    }

    /// Queues a frame shared with other connections, after everything written so far.
    pub(crate) fn push_shared(&mut self, bytes: Bytes) {
        let at = self.own.len();
        let shared = self.shared.get_or_insert_with(Default::default);
        shared.len += bytes.len();
        shared.frames.push_back(SharedFrame { at, bytes });
    }

    /// Hands the kernel as much as it takes now (one `send`, or one `writev` when shared
    /// frames wait) and forgets what it took. Returns the byte count (0 when it would block).
    pub(crate) fn write_to(&mut self, fd: RawFd, pool: &mut BufPool) -> io::Result<usize> {
        let n = match &self.shared {
            None => crate::socket::send(fd, &self.own)?,
            Some(shared) => {
                let mut iov = Vec::with_capacity(MAX_IOVECS);
                let mut from = 0;
                for f in shared.frames.iter() {
                    if iov.len() + 2 > MAX_IOVECS {
                        break;
                    }
                    if f.at > from {
                        iov.push(io::IoSlice::new(&self.own[from..f.at]));
                    }
                    iov.push(io::IoSlice::new(&f.bytes));
                    from = f.at;
                }
                if iov.len() < MAX_IOVECS && from < self.own.len() {
                    iov.push(io::IoSlice::new(&self.own[from..]));
                }
                crate::socket::send_vectored(fd, &iov)?
            }
        };
        self.consume(n, pool);
        Ok(n)
    }

    /// Forgets the first `n` bytes of the output, in write order.
    fn consume(&mut self, mut n: usize, pool: &mut BufPool) {
        let mut own_taken = 0;
        if let Some(shared) = self.shared.as_mut() {
            let SharedFrames { frames, len } = &mut **shared;
            loop {
                let next_at = frames.front().map_or(self.own.len(), |f| f.at);
                let take = (next_at - own_taken).min(n);
                own_taken += take;
                n -= take;
                let Some(f) = frames.front_mut() else { break };
                if n == 0 && own_taken < next_at {
                    break;
                }
                let take = f.bytes.len().min(n);
                f.bytes.advance(take);
                *len -= take;
                n -= take;
                if !f.bytes.is_empty() {
                    break;
                }
                frames.pop_front();
                if n == 0 {
                    break;
                }
            }
            for f in frames.iter_mut() {
                f.at -= own_taken;
            }
            if frames.is_empty() {
                self.shared = None;
            }
        } else {
            own_taken = n;
        }
        self.own.consume(own_taken, pool);
    }

    /// Gives the buffer back to the pool and drops shared frames (the connection is gone).
    pub(crate) fn recycle(&mut self, pool: &mut BufPool) {
        self.own.release(pool);
        self.shared = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// Writes through a socket pair until the output is empty; returns what the peer read.
    fn drain(out: &mut Output) -> Vec<u8> {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut pool = BufPool::new(4, 1 << 20);
        let mut got = Vec::new();
        while !out.is_empty() {
            let before = out.len();
            let n = out.write_to(a.as_raw_fd(), &mut pool).unwrap();
            assert_eq!(out.len(), before - n);
            let mut buf = vec![0; n];
            b.read_exact(&mut buf).unwrap();
            got.extend_from_slice(&buf);
        }
        got
    }

    #[test]
    fn own_and_shared_bytes_leave_in_write_order() {
        let mut pool = BufPool::new(4, 1 << 20);
        let mut out = Output::default();
        out.own_mut(&mut pool).extend_from_slice(b"ab");
        out.push_shared(Bytes::from_static(b"SHARED1"));
        out.push_shared(Bytes::from_static(b"S2"));
        out.own_mut(&mut pool).extend_from_slice(b"cd");
        out.push_shared(Bytes::from_static(b"S3"));
        assert_eq!(out.len(), 2 + 7 + 2 + 2 + 2);
        assert_eq!(drain(&mut out), b"abSHARED1S2cdS3");
    }

    #[test]
    fn partial_consumption_keeps_order_at_every_split() {
        let pieces: [&[u8]; 5] = [b"xy", b"FRAME", b"z", b"G", b""];
        let expected = b"xyFRAMEzG".to_vec();
        for cut in 0..=expected.len() {
            let mut pool = BufPool::new(4, 1 << 20);
            let mut out = Output::default();
            out.own_mut(&mut pool).extend_from_slice(pieces[0]);
            out.push_shared(Bytes::from_static(pieces[1]));
            out.own_mut(&mut pool).extend_from_slice(pieces[2]);
            out.push_shared(Bytes::from_static(pieces[3]));
            out.consume(cut, &mut pool);
            assert_eq!(out.len(), expected.len() - cut);
            assert_eq!(drain(&mut out), expected[cut..], "cut at {cut}");
        }
    }
}
