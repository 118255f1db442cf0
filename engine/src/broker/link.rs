//! The part of the broker link that cores and handles touch, whatever the broker: the bounded
//! queue of outgoing publishes with their sequence numbers, the subscription changes waiting to
//! be sent, whether the link is up, its counters, and the events the application hears.
//!
//! Cores only ever take the outbox's mutex for a push (never while the broker threads do IO:
//! they swap the whole queue out and write it after letting go), so a publish never waits on the
//! network. The broker threads (`redis/`) are the only readers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::envelope::Header;
use super::{Broker, BrokerEvent, BrokerStats, EventFn};
use crate::Message;

/// The node's connection for publishing.
pub(crate) const PUBLISHER: usize = 0;
/// The node's connection that receives the topics it subscribes to.
pub(crate) const SUBSCRIBER: usize = 1;

/// How often a full outbox is logged while it stays full (every drop is counted).
const FULL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Topics a node keeps a publish count for at most (about 6 MB of them): a node that publishes
/// to ever new topics (one per user, say) starts every count over rather than grow for good.
const COUNTED_TOPICS: usize = 1 << 16;

/// The shared side of one node's broker link.
pub(crate) struct Link {
    /// This node's id, written into every envelope it publishes.
    pub(crate) node: u64,
    capacity: usize,
    outbox: Mutex<Outbox>,
    work: Condvar,
    /// Whether each connection ([`PUBLISHER`], [`SUBSCRIBER`]) is up.
    up: [AtomicBool; 2],
    outage: Mutex<Outage>,
    on_event: Option<EventFn>,
    stopping: AtomicBool,
    pub(crate) counts: Counts,
}

/// What the broker threads count (each counter has one writer but `dropped`).
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) published: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) undelivered: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) echoes: AtomicU64,
    pub(crate) foreign: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) backlog_peak: AtomicU64,
}

#[derive(Default)]
struct Outbox {
    publishes: VecDeque<Outgoing>,
    seqs: TopicCounts,
    /// Topics whose local subscriber count went 0 → 1 (`true`) or 1 → 0 (`false`) since the
    /// broker threads last looked; the latest change of a topic wins.
    changes: HashMap<Arc<str>, bool>,
    /// Every current topic must be subscribed again (a new subscriber connection).
    resync: bool,
    /// The writing thread is asleep on `work`.
    waiting: bool,
    /// When a full queue was last logged.
    full_warned: Option<Instant>,
}

/// One publish on its way to the broker.
pub(crate) struct Outgoing {
    pub(crate) topic: Arc<str>,
    pub(crate) header: Header,
    pub(crate) payload: Bytes,
}

/// What the writing thread takes from the outbox in one go.
#[derive(Default)]
pub(crate) struct Work {
    pub(crate) publishes: VecDeque<Outgoing>,
    pub(crate) changes: Vec<(Arc<str>, bool)>,
    pub(crate) resync: bool,
}

struct Outage {
    /// When the link went down (or the server started, before the first connection).
    since: Option<Instant>,
    /// `dropped` when it went down.
    dropped_before: u64,
    ever_up: bool,
    /// A link that never came up was logged as failing (once: it is retried for ever).
    start_warned: bool,
}

impl Link {
    pub(crate) fn new(broker: &Broker) -> Link {
        Link {
            node: broker.node_id.unwrap_or_else(random_node_id),
            capacity: broker.queue_capacity.max(1),
            outbox: Mutex::default(),
            work: Condvar::new(),
            up: Default::default(),
            outage: Mutex::new(Outage {
                since: Some(Instant::now()),
                dropped_before: 0,
                ever_up: false,
                start_warned: false,
            }),
            on_event: broker.on_event.clone(),
            stopping: AtomicBool::new(false),
            counts: Counts::default(),
        }
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `msg` for the other nodes. `false` — counted in `dropped` — when the link is down
    /// or the queue is full.
    pub(crate) fn publish(&self, topic: &str, msg: &Message) -> bool {
        if !self.up[PUBLISHER].load(Ordering::Acquire) {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut outbox = self.outbox();
        if outbox.publishes.len() >= self.capacity {
            let warn = outbox
                .full_warned
                .is_none_or(|t| t.elapsed() >= FULL_WARNING_EVERY);
            if warn {
                outbox.full_warned = Some(Instant::now());
            }
            drop(outbox);
            let dropped = self.counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if warn {
                tracing::warn!(
                    capacity = self.capacity,
                    dropped,
                    "the broker queue is full: publishes to other nodes are dropped and counted"
                );
            }
            return false;
        }
        let (topic, seq) = outbox.seqs.next(topic, COUNTED_TOPICS);
        outbox.publishes.push_back(Outgoing {
            topic,
            header: Header {
                node: self.node,
                seq,
                text: msg.is_text(),
            },
            payload: msg.clone().into_bytes(),
        });
        self.wake_writer(outbox);
        true
    }

    /// Notes that `topic` gained its first local subscriber (`true`) or lost its last. Called
    /// by the topic registry under its lock, so changes arrive in the registry's order.
    pub(crate) fn interest(&self, topic: &Arc<str>, subscribed: bool) {
        let mut outbox = self.outbox();
        outbox.changes.insert(topic.clone(), subscribed);
        self.wake_writer(outbox);
    }

    /// Forgets the pending changes: the registry is about to hand over every current topic.
    /// Called by the registry under its lock.
    pub(crate) fn clear_changes(&self) {
        self.outbox().changes.clear();
    }

    /// Asks the writing thread to subscribe every current topic again.
    pub(crate) fn request_resync(&self) {
        let mut outbox = self.outbox();
        outbox.resync = true;
        self.wake_writer(outbox);
    }

    fn wake_writer(&self, mut outbox: MutexGuard<'_, Outbox>) {
        if outbox.waiting {
            outbox.waiting = false;
            drop(outbox);
            self.work.notify_one();
        }
    }

    /// Waits until there is work, `until` passes or the link is stopping, and takes the work.
    pub(crate) fn next_work(&self, until: Option<Instant>, work: &mut Work) {
        let mut outbox = self.outbox();
        while outbox.publishes.is_empty()
            && outbox.changes.is_empty()
            && !outbox.resync
            && !self.is_stopping()
        {
            outbox.waiting = true;
            outbox = match until {
                None => self.work.wait(outbox).unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    let Some(left) = t.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    self.work
                        .wait_timeout(outbox, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        outbox.waiting = false;
        std::mem::swap(&mut work.publishes, &mut outbox.publishes);
        work.changes.extend(outbox.changes.drain());
        work.resync |= std::mem::take(&mut outbox.resync);
    }

    /// Marks connection `which` up or down; tells the application when the link as a whole
    /// (both connections) comes up or goes down.
    pub(crate) fn set_up(&self, which: usize, up: bool, error: Option<&str>) {
        self.up[which].store(up, Ordering::Release);
        let both = self.up.iter().all(|u| u.load(Ordering::Acquire));
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        let event = match (both, outage.since) {
            (true, Some(since)) => {
                let reconnect = outage.ever_up;
                if reconnect {
                    self.counts.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                outage.since = None;
                outage.ever_up = true;
                BrokerEvent::Connected {
                    reconnect,
                    outage: since.elapsed(),
                    dropped: self.counts.dropped.load(Ordering::Relaxed) - outage.dropped_before,
                }
            }
            (false, None) => {
                outage.since = Some(Instant::now());
                outage.dropped_before = self.counts.dropped.load(Ordering::Relaxed);
                BrokerEvent::Disconnected {
                    error: error.unwrap_or("connection closed").to_string(),
                }
            }
            (false, Some(_)) if !up && !outage.ever_up && !outage.start_warned => {
                // No `Disconnected` for a link that was never up, but a wrong URL, password or
                // address must not go unsaid while every publish to the other nodes is dropped.
                outage.start_warned = true;
                tracing::warn!(
                    error = error.unwrap_or("connection closed"),
                    "the broker link cannot come up: publishes to other nodes are dropped and \
                     counted until it does (retrying)"
                );
                return;
            }
            _ => return,
        };
        match &event {
            BrokerEvent::Connected {
                reconnect,
                outage,
                dropped,
            } => tracing::info!(reconnect, ?outage, dropped, "broker link up"),
            BrokerEvent::Disconnected { error } => {
                tracing::warn!(error = %error, "broker link down: publishes are dropped and counted until it is back")
            }
        }
        if let Some(f) = &self.on_event {
            // The application's callback must not take the link's thread down with it.
            let call = std::panic::AssertUnwindSafe(|| f(&event));
            if std::panic::catch_unwind(call).is_err() {
                tracing::error!("the broker event callback panicked");
            }
        }
        drop(outage);
    }

    /// Tells the broker threads to finish.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let mut outbox = self.outbox();
        outbox.waiting = false;
        drop(outbox);
        self.work.notify_all();
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sleeps `d`, or less when the link is stopping.
    pub(crate) fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.is_stopping() {
            let Some(left) = end.checked_duration_since(Instant::now()) else {
                return;
            };
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }

    pub(crate) fn stats(&self) -> BrokerStats {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BrokerStats {
            node_id: self.node,
            connected: self.up.iter().all(|u| u.load(Ordering::Acquire)),
            reconnects: get(&c.reconnects),
            published: get(&c.published),
            dropped: get(&c.dropped),
            received: get(&c.received),
            undelivered: get(&c.undelivered),
            gaps: get(&c.gaps),
            echoes: get(&c.echoes),
            foreign: get(&c.foreign),
            malformed: get(&c.malformed),
            backlog_peak: get(&c.backlog_peak),
        }
    }
}

/// A node id no other process is likely to pick: the standard library's per-process random
/// hash keys, mixed with the process id and the time.
fn random_node_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// The last sequence number a node used per topic it published to.
#[derive(Default)]
struct TopicCounts(HashMap<Arc<str>, u64>);

impl TopicCounts {
    /// The topic's name, shared, and the sequence number of its next publish. Past `most`
    /// topics every count starts over from 1, which receivers take as a fresh start
    /// ([`Sequences::note`]).
    fn next(&mut self, topic: &str, most: usize) -> (Arc<str>, u64) {
        if self.0.len() >= most && !self.0.contains_key(topic) {
            self.0.clear();
        }
        let (topic, seq) = match self.0.get_key_value(topic) {
            Some((name, &seq)) => (name.clone(), seq + 1),
            None => (Arc::<str>::from(topic), 1),
        };
        self.0.insert(topic.clone(), seq);
        (topic, seq)
    }
}

/// The last sequence number seen per topic and publishing node, for counting gaps. Owned by the
/// receiving thread.
#[derive(Default)]
pub(crate) struct Sequences {
    last: HashMap<Box<str>, smallvec::SmallVec<[(u64, u64); 2]>>,
}

impl Sequences {
    /// Notes message `seq` of `node` on `topic`; returns how many of that node's messages to the
    /// topic were skipped since the last one seen (0 for the first one seen, and for a 1: the
    /// node started its counts over).
    pub(crate) fn note(&mut self, topic: &str, node: u64, seq: u64) -> u64 {
        let nodes = match self.last.get_mut(topic) {
            Some(nodes) => nodes,
            None => self.last.entry(topic.into()).or_default(),
        };
        match nodes.iter_mut().find(|(n, _)| *n == node) {
            Some((_, last)) if seq == 1 => {
                *last = 1;
                0
            }
            Some((_, last)) => {
                let skipped = seq.saturating_sub(*last + 1);
                *last = (*last).max(seq);
                skipped
            }
            None => {
                nodes.push((node, seq));
                0
            }
        }
    }

    /// Forgets `topic` (the node no longer subscribes to it).
    pub(crate) fn forget(&mut self, topic: &str) {
        self.last.remove(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::{Sequences, TopicCounts};

    #[test]
    fn gaps_are_counted_per_node_and_topic() {
        let mut s = Sequences::default();
        assert_eq!(
            s.note("a", 1, 5),
            0,
            "the first message seen sets the baseline"
        );
        assert_eq!(s.note("a", 1, 6), 0);
        assert_eq!(s.note("a", 1, 9), 2);
        assert_eq!(s.note("a", 2, 1), 0, "another node has its own sequence");
        assert_eq!(s.note("b", 1, 1), 0, "and so has another topic");
        assert_eq!(s.note("a", 1, 8), 0, "a late message is no gap");
        s.forget("a");
        assert_eq!(s.note("a", 1, 20), 0);
        assert_eq!(s.note("a", 1, 1), 0, "a node that started its counts over");
        assert_eq!(s.note("a", 1, 3), 1, "counts gaps from there");
    }

    #[test]
    fn a_node_publishing_to_ever_new_topics_keeps_a_bounded_count() {
        let mut counts = TopicCounts::default();
        assert_eq!(counts.next("a", 3).1, 1);
        assert_eq!(counts.next("a", 3).1, 2);
        assert_eq!(counts.next("b", 3).1, 1);
        assert_eq!(counts.next("c", 3).1, 1);
        assert_eq!(
            counts.next("a", 3).1,
            3,
            "a known topic goes on at the limit"
        );
        assert_eq!(
            counts.next("d", 3).1,
            1,
            "a new one past it starts every count over"
        );
        assert_eq!(counts.0.len(), 1);
        assert_eq!(counts.next("a", 3).1, 1);
    }
}
