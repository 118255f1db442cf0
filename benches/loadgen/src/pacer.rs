//! Open-loop pacing (`--rate`): a fixed schedule of send times, handed out round robin
//! over a thread's senders, independent of when answers come back.
//!
//! Owns the schedule only. Callers send what is due and measure latency from the due time,
//! so time the client or server spends behind schedule shows up in the percentiles.

use std::time::Duration;

/// A thread's share of the global send rate.
#[derive(Clone, Debug)]
pub struct Pacer {
    interval_ns: f64,
    next_due: f64,
    next_sender: usize,
    senders: usize,
}

impl Pacer {
    /// `rate` messages per second spread over `senders` senders (round robin).
    pub fn new(rate: f64, senders: usize) -> Pacer {
        Pacer {
            interval_ns: 1e9 / rate,
            next_due: 0.0,
            next_sender: 0,
            senders: senders.max(1),
        }
    }

    /// Starts the schedule at `now_ns`.
    pub fn start(&mut self, now_ns: u64) {
        self.next_due = now_ns as f64;
    }

    /// How long the event loop may block: until shortly before the next due send, or not
    /// at all when it is less than ~1.5 ms away (epoll's timeout has millisecond steps).
    pub fn poll_timeout(&self, now_ns: u64) -> Duration {
        let wait = self.next_due - now_ns as f64;
        if wait > 1.5e6 {
            Duration::from_nanos((wait - 1e6) as u64)
        } else {
            Duration::ZERO
        }
    }

    /// The next send that is due at or before `now_ns`: (sender index, due time in ns).
    pub fn next_due(&mut self, now_ns: u64) -> Option<(usize, u64)> {
        if self.next_due > now_ns as f64 {
            return None;
        }
        let due = (self.next_due as u64, self.next_sender);
        self.next_due += self.interval_ns;
        self.next_sender = (self.next_sender + 1) % self.senders;
        Some((due.1, due.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_sends_round_robin_at_the_rate() {
        let mut p = Pacer::new(1000.0, 3);
        p.start(0);
        let due: Vec<_> = std::iter::from_fn(|| p.next_due(2_500_000)).collect();
        assert_eq!(due, [(0, 0), (1, 1_000_000), (2, 2_000_000)]);
        assert_eq!(p.poll_timeout(2_500_000), Duration::ZERO);
        assert_eq!(p.poll_timeout(0), Duration::from_millis(2));
    }
}
