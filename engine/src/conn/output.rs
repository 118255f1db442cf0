//! A connection's output: the [`SendQueue`] being filled, and the rule that keeps the
//! connection's count of queued bytes exact.
//!
//! The count (`SlotCell::buffered`, read by handles on any thread) covers everything queued for
//! a WebSocket that the kernel has not taken: frames other threads put in the core's inbox (their
//! senders counted them), bytes written here, and the queue of a send in flight. This file is the
//! only place on the core that changes it: it adds what the core writes on its own, and subtracts
//! what a completed send took and what a closing connection drops.

use bytes::Bytes;

use crate::buf::{QueuePool, SendQueue};
use crate::shared::slots::SlotCell;

/// Output waiting for the next send. Empty, it is 8 bytes and no allocation.
#[derive(Default)]
pub(crate) struct Output(Option<Box<SendQueue>>);

impl Output {
    /// Bytes waiting (not counting a send in flight).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    /// Nothing waits.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn queue(&mut self, pool: &mut QueuePool) -> &mut SendQueue {
        self.0.get_or_insert_with(|| pool.take())
    }

    /// Appends what `write` puts into the queue's own buffer (the protocol crate's encoders).
    /// `count`: the WebSocket's cell, when these bytes are new to its count; `None` for HTTP
    /// output and for frames their sender already counted.
    #[inline]
    pub(crate) fn write(
        &mut self,
        pool: &mut QueuePool,
        count: Option<&SlotCell>,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let own = self.queue(pool).own_mut();
        let before = own.len();
        write(own);
        if let Some(cell) = count {
            cell.add_buffered(own.len() - before);
        }
    }

    /// Queues bytes that stay in their own shared buffer (a frame published to many
    /// subscribers, the payload of a large message) without copying them. `count`: as for
    /// [`write`](Self::write).
    pub(crate) fn push_shared(
        &mut self,
        pool: &mut QueuePool,
        count: Option<&SlotCell>,
        bytes: Bytes,
    ) {
        if let Some(cell) = count {
            cell.add_buffered(bytes.len());
        }
        self.queue(pool).push_shared(bytes);
    }

    /// The waiting bytes as one queue for a driver, marked with their length and with whether
    /// they are in the WebSocket's count (`counted`).
    #[inline]
    pub(crate) fn take_for_send(&mut self, counted: bool) -> Option<Box<SendQueue>> {
        let mut q = self.0.take().filter(|q| !q.is_empty())?;
        q.submitted = q.len();
        q.counted = if counted { q.submitted } else { 0 };
        Some(q)
    }

    /// TLS: the waiting plaintext (if any) goes through `seal`, which appends the records that
    /// carry it — and any record the session makes on its own — to a new queue for a driver.
    /// The count (`count`: the WebSocket's cell, when the plaintext is in it) moves with the
    /// bytes: the records' queue holds the plaintext's share of it until the kernel took them,
    /// so the count still covers everything not sent (rustls keeps no counted plaintext: it
    /// encrypts at once after the handshake, and counting starts after the upgrade). Plaintext
    /// that leaves no record (the session failed: nothing follows its alert) leaves the count
    /// here. `None` when there are no records to send.
    #[cfg(feature = "tls")]
    pub(crate) fn take_sealed(
        &mut self,
        count: Option<&SlotCell>,
        pool: &mut QueuePool,
        seal: impl FnOnce(Option<&SendQueue>, &mut Vec<u8>),
    ) -> Option<Box<SendQueue>> {
        let plain = self.0.take().filter(|q| !q.is_empty());
        let mut records = pool.take();
        seal(plain.as_deref(), records.own_mut());
        records.submitted = records.len();
        let counted = match (&plain, count) {
            (Some(q), Some(_)) => q.len(),
            _ => 0,
        };
        if let Some(q) = plain {
            pool.give(q);
        }
        if records.is_empty() {
            if let Some(cell) = count.filter(|_| counted > 0) {
                cell.sub_buffered(counted);
            }
            pool.give(records);
            return None;
        }
        records.counted = counted;
        Some(records)
    }

    /// A send is over (completed, or dropped with its connection): its bytes leave the count
    /// of `cell` if they were in it.
    #[inline]
    pub(crate) fn finish_send(queue: Box<SendQueue>, cell: &SlotCell, pool: &mut QueuePool) {
        if queue.counted > 0 {
            cell.sub_buffered(queue.counted);
        }
        pool.give(queue);
    }

    /// Drops what waits (the connection is closing); its bytes leave the count.
    pub(crate) fn discard(&mut self, count: Option<&SlotCell>, pool: &mut QueuePool) {
        if let Some(q) = self.0.take() {
            if let Some(cell) = count {
                cell.sub_buffered(q.len());
            }
            pool.give(q);
        }
    }

    /// The count starts at the upgrade: what waits then (the 101) is counted from now on.
    pub(crate) fn start_counting(&self, cell: &SlotCell) {
        cell.add_buffered(self.len());
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    /// A frame counted by its sender is queued after the session failed: the session's seal
    /// writes no record (nothing follows a fatal alert), and the frame must leave the count
    /// then, or every later WebSocket of the slot starts with it.
    #[test]
    fn plaintext_that_leaves_no_record_leaves_the_count() {
        let (mut pool, cell, mut output) = (
            QueuePool::new(16 << 10, 1 << 16),
            SlotCell::default(),
            Output::default(),
        );
        output.write(&mut pool, Some(&cell), |out| {
            out.extend_from_slice(&[0x82, 3, 1, 2, 3])
        });
        assert_eq!(cell.buffered(), 5);
        let sent = output.take_sealed(Some(&cell), &mut pool, |plain, _records| {
            assert_eq!(plain.map(SendQueue::len), Some(5));
        });
        assert!(sent.is_none());
        assert_eq!(cell.buffered(), 0);
    }

    /// Records that carry the plaintext keep its share of the count until their send is over.
    #[test]
    fn sealed_plaintext_stays_counted_until_its_records_are_sent() {
        let (mut pool, cell, mut output) = (
            QueuePool::new(16 << 10, 1 << 16),
            SlotCell::default(),
            Output::default(),
        );
        output.write(&mut pool, Some(&cell), |out| {
            out.extend_from_slice(&[0x82, 1, 7])
        });
        let sent = output
            .take_sealed(Some(&cell), &mut pool, |_plain, records| {
                records.extend_from_slice(&[23; 25])
            })
            .expect("records to send");
        assert_eq!((sent.len(), cell.buffered()), (25, 3));
        Output::finish_send(sent, &cell, &mut pool);
        assert_eq!(cell.buffered(), 0);
    }
}
