//! A bounded single-producer single-consumer ring: the path from one core to another.
//!
//! One ring per (sending core, receiving core) pair, so a core never contends with another for a
//! slot. The producer writes entries and keeps its new tail private until [`Producer::publish`],
//! so a turn that sends a thousand commands makes them visible with one store (and the caller
//! wakes the receiver once). The consumer frees slots with one store per drain. A full ring
//! refuses the entry (the caller reports the send as dropped): memory stays bounded.
//!
//! Head and tail sit on their own cache lines; each side caches the other's index and reloads it
//! only when the cached value says the ring is full (producer) or empty (consumer).

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[repr(align(128))]
struct Padded(AtomicUsize);

struct Shared<T> {
    /// Next slot the consumer reads (written by the consumer).
    head: Padded,
    /// Next slot the producer writes, as published (written by the producer).
    tail: Padded,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
}

// SAFETY: a slot is written only by the producer before it publishes the tail past it, and read
// only by the consumer after it loaded that tail (Acquire) and before it publishes a head past it
// (Release): no slot is ever accessed by both sides at once. `T: Send` moves across threads.
unsafe impl<T: Send> Sync for Shared<T> {}
unsafe impl<T: Send> Send for Shared<T> {}

/// The sending end.
pub struct Producer<T> {
    ring: Arc<Shared<T>>,
    /// Where the next entry goes (published or not).
    tail: usize,
    /// The consumer's head as last seen.
    head: usize,
    /// The tail as last published.
    published: usize,
}

/// The receiving end.
pub struct Consumer<T> {
    ring: Arc<Shared<T>>,
    /// Where the next entry is read.
    head: usize,
    /// The producer's published tail as last seen.
    tail: usize,
}

/// A ring of `capacity` entries (rounded up to a power of two).
pub fn ring<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let capacity = capacity.next_power_of_two().max(2);
    let ring = Arc::new(Shared {
        head: Padded(AtomicUsize::new(0)),
        tail: Padded(AtomicUsize::new(0)),
        slots: (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
        mask: capacity - 1,
    });
    (
        Producer {
            ring: ring.clone(),
            tail: 0,
            head: 0,
            published: 0,
        },
        Consumer {
            ring,
            head: 0,
            tail: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Writes `value` into the next slot without making it visible; `Err(value)` when full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        let capacity = self.ring.mask + 1;
        if self.tail - self.head == capacity {
            self.head = self.ring.head.0.load(Ordering::Acquire);
            if self.tail - self.head == capacity {
                return Err(value);
            }
        }
        let slot = &self.ring.slots[self.tail & self.ring.mask];
        // SAFETY: slot `tail` is free: the consumer's head has passed it (checked above) and the
        // consumer never reads past the published tail, which is behind `self.tail`.
        unsafe { (*slot.get()).write(value) };
        self.tail += 1;
        Ok(())
    }

    /// Makes every pushed entry visible to the consumer; `true` if there were any.
    pub fn publish(&mut self) -> bool {
        if self.published == self.tail {
            return false;
        }
        self.ring.tail.0.store(self.tail, Ordering::Release);
        self.published = self.tail;
        true
    }
}

impl<T> Consumer<T> {
    /// The next published entry, if any.
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.tail {
            self.tail = self.ring.tail.0.load(Ordering::Acquire);
            if self.head == self.tail {
                return None;
            }
        }
        let slot = &self.ring.slots[self.head & self.ring.mask];
        // SAFETY: `head < tail` (published with Release, loaded with Acquire): the producer
        // wrote this slot and will not touch it again until the head moves past it.
        let value = unsafe { (*slot.get()).assume_init_read() };
        self.head += 1;
        Some(value)
    }

    /// Gives the slots read so far back to the producer.
    pub fn release(&mut self) {
        self.ring.head.0.store(self.head, Ordering::Release);
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Entries published or merely pushed and never read: the producer's end is gone too
        // (both ends hold the Arc), so `tail` is final. Entries pushed but unpublished are only
        // known to the producer, which drops them here through the same slots.
        let head = *self.head.0.get_mut();
        let tail = *self.tail.0.get_mut();
        for i in head..tail {
            // SAFETY: every slot in head..tail holds an initialised entry nobody read.
            unsafe { self.slots[i & self.mask].get_mut().assume_init_drop() };
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Entries read but not released would otherwise be dropped again with the ring.
        self.release();
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // Publish what was pushed, so the ring's own drop (or the consumer) sees every entry.
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_arrive_in_order_only_after_publish() {
        let (mut p, mut c) = ring::<u32>(4);
        p.push(1).unwrap();
        p.push(2).unwrap();
        assert_eq!(c.pop(), None, "unpublished entries are invisible");
        assert!(p.publish());
        assert!(!p.publish());
        assert_eq!(c.pop(), Some(1));
        assert_eq!(c.pop(), Some(2));
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn a_full_ring_refuses_until_the_consumer_releases() {
        let (mut p, mut c) = ring::<u32>(4);
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(9), Err(9));
        p.publish();
        assert_eq!(c.pop(), Some(0));
        assert_eq!(p.push(9), Err(9), "a slot is free only once released");
        c.release();
        p.push(9).unwrap();
        p.publish();
        let rest: Vec<u32> = std::iter::from_fn(|| c.pop()).collect();
        assert_eq!(rest, [1, 2, 3, 9]);
    }

    #[test]
    fn unread_entries_are_dropped_with_the_ring() {
        let value = Arc::new(());
        {
            let (mut p, mut c) = ring::<Arc<()>>(8);
            for _ in 0..5 {
                p.push(value.clone()).unwrap();
            }
            p.publish();
            drop(c.pop());
            p.push(value.clone()).unwrap(); // pushed, never published by hand
            assert_eq!(Arc::strong_count(&value), 6);
        }
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn two_threads_move_a_million_entries_in_order() {
        const N: u64 = 1_000_000;
        let (mut p, mut c) = ring::<u64>(256);
        let producer = std::thread::spawn(move || {
            let mut next = 0;
            while next < N {
                while next < N && p.push(next).is_ok() {
                    next += 1;
                }
                p.publish();
                std::hint::spin_loop();
            }
        });
        let mut expected = 0;
        while expected < N {
            while let Some(v) = c.pop() {
                assert_eq!(v, expected);
                expected += 1;
            }
            c.release();
            std::hint::spin_loop();
        }
        producer.join().unwrap();
    }
}
