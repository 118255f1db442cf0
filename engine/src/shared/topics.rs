//! The topic registry: which connections of the server are subscribed to which topics.
//!
//! The one authority on subscriptions. A handle's `subscribe`, `unsubscribe`, `is_subscribed`
//! and `subscriptions`, and `subscriber_count` and `publish` anywhere, answer from here, at once,
//! from any thread. Each core keeps a private delivery index of its own subscribers (topic →
//! tokens, `core/pubsub.rs`) that it updates from the commands a subscribe sends it; the index
//! follows the registry and is never read by anyone else.
//!
//! The registry also counts subscribers per topic and per core, so a publish reaches only the
//! cores that have subscribers, and a topic's count going 0 → 1 or 1 → 0 is seen in one place:
//! the broker link (`broker/link.rs`), when there is one, hears of both under the registry's
//! lock, so the node's subscriptions on the broker follow the registry in its own order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use smallvec::SmallVec;

use super::command::ConnId;
use super::slots::{SUBSCRIBED, SlotCell};
use crate::broker::link::Link;

/// The subscriptions of every connection of one server.
pub(crate) struct Registry {
    cores: usize,
    inner: Mutex<Inner>,
    /// Told of every topic's first subscriber and last unsubscribe.
    broker: Option<Arc<Link>>,
}

#[derive(Default)]
struct Inner {
    topics: HashMap<Arc<str>, Counts>,
    by_conn: HashMap<ConnId, SmallVec<[Arc<str>; 2]>>,
}

/// Subscribers of one topic.
struct Counts {
    total: usize,
    /// Per core, indexed by core.
    per_core: SmallVec<[u32; 4]>,
}

/// What a publish needs of a topic: its shared name, its subscribers, and the cores they are on.
pub(crate) struct Audience {
    pub(crate) topic: Arc<str>,
    pub(crate) subscribers: usize,
    pub(crate) cores: SmallVec<[u32; 4]>,
}

impl Registry {
    pub(crate) fn new(cores: usize, broker: Option<Arc<Link>>) -> Registry {
        Registry {
            cores,
            inner: Mutex::new(Inner::default()),
            broker,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes connection `id` (whose cell is `cell`) to `topic`. `None` if it already is, or
    /// if the connection is closed: the state is read in the same atomic step that tells the
    /// closing core to clean up after us, so no subscription outlives its connection.
    pub(crate) fn subscribe(&self, id: ConnId, cell: &SlotCell, topic: &str) -> Option<Arc<str>> {
        let mut inner = self.lock();
        cell.raise_if_live(id.slot().generation, SUBSCRIBED)?;
        let Inner { topics, by_conn } = &mut *inner;
        let list = by_conn.entry(id).or_default();
        if list.iter().any(|t| **t == *topic) {
            return None;
        }
        let topic = match topics.get_key_value(topic) {
            Some((name, _)) => name.clone(),
            None => Arc::from(topic),
        };
        list.push(topic.clone());
        let counts = topics.entry(topic.clone()).or_insert_with(|| {
            if let Some(link) = &self.broker {
                link.interest(&topic, true);
            }
            Counts {
                total: 0,
                per_core: smallvec::smallvec![0; self.cores],
            }
        });
        counts.total += 1;
        counts.per_core[id.core() as usize] += 1;
        Some(topic)
    }

    /// Unsubscribes connection `id` from `topic`; `None` if it was not subscribed.
    pub(crate) fn unsubscribe(&self, id: ConnId, topic: &str) -> Option<Arc<str>> {
        let mut inner = self.lock();
        let Inner { topics, by_conn } = &mut *inner;
        let list = by_conn.get_mut(&id)?;
        let i = list.iter().position(|t| **t == *topic)?;
        let removed = list.swap_remove(i);
        if list.is_empty() {
            by_conn.remove(&id);
        }
        uncount(topics, &removed, id.core(), self.broker.as_deref());
        Some(removed)
    }

    /// Removes every subscription of connection `id`, which its core has just closed.
    pub(crate) fn leave_all(&self, id: ConnId) -> SmallVec<[Arc<str>; 2]> {
        let mut inner = self.lock();
        let Inner { topics, by_conn } = &mut *inner;
        let list = by_conn.remove(&id).unwrap_or_default();
        for topic in &list {
            uncount(topics, topic, id.core(), self.broker.as_deref());
        }
        list
    }

    /// `true` if connection `id` is subscribed to `topic`.
    pub(crate) fn is_subscribed(&self, id: ConnId, topic: &str) -> bool {
        self.lock()
            .by_conn
            .get(&id)
            .is_some_and(|list| list.iter().any(|t| **t == *topic))
    }

    /// The topics of connection `id`, in subscription order (until an unsubscribe).
    pub(crate) fn topics_of(&self, id: ConnId) -> Vec<String> {
        self.lock()
            .by_conn
            .get(&id)
            .map(|list| list.iter().map(|t| t.to_string()).collect())
            .unwrap_or_default()
    }

    /// Subscribers of `topic` across every core.
    pub(crate) fn count(&self, topic: &str) -> usize {
        self.lock().topics.get(topic).map_or(0, |c| c.total)
    }

    /// Who a publish to `topic` reaches now; `None` when nobody is subscribed.
    pub(crate) fn audience(&self, topic: &str) -> Option<Audience> {
        let inner = self.lock();
        let (name, counts) = inner.topics.get_key_value(topic)?;
        Some(Audience {
            topic: name.clone(),
            subscribers: counts.total,
            cores: (0..self.cores as u32)
                .filter(|&c| counts.per_core[c as usize] > 0)
                .collect(),
        })
    }

    /// Every topic with a subscriber, for a broker connection that must subscribe them all
    /// again. The link's pending changes are cleared in the same critical section: what it
    /// hears next happened after this snapshot.
    pub(crate) fn resync_broker(&self, link: &Link) -> Vec<Arc<str>> {
        let inner = self.lock();
        link.clear_changes();
        inner.topics.keys().cloned().collect()
    }
}

fn uncount(topics: &mut HashMap<Arc<str>, Counts>, topic: &str, core: u32, broker: Option<&Link>) {
    if let Some(counts) = topics.get_mut(topic) {
        counts.total -= 1;
        counts.per_core[core as usize] -= 1;
        if counts.total == 0 {
            let removed = topics.remove_entry(topic);
            if let (Some((name, _)), Some(link)) = (removed, broker) {
                link.interest(&name, false);
            }
        }
    }
}
