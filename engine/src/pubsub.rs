//! Pub/sub topics across cores.
//!
//! Each core keeps its own table from topic to the connections of that core subscribed to it,
//! touched only by that core. A publish encodes the frame once, then reaches each core once: the
//! publishing core (if any) directly, every other core through its mailbox (one command per
//! core, not per subscriber). Each core queues the one frame on each of its subscribers, skipping
//! one that is over its backpressure limit (that message is dropped for it alone), and flushes
//! them with the rest of its turn. A frame of at least `SHARE_MIN_LEN` bytes is queued by
//! reference and reaches the kernel with `writev` (`output.rs`); a smaller one is copied into the
//! subscriber's buffer, which costs less than the reference. Messages of one publisher keep their
//! order for every subscriber: per core they travel one FIFO path.
//!
//! The server-wide [`Hub`] knows every core's mailbox and counts subscribers per topic (a mutex
//! taken on subscribe and unsubscribe only, never on the publish path).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use imphnen_protocol::ws::{OpCode, encode_frame};

use crate::conn::Token;
use crate::core::Core;
use crate::local;
use crate::mailbox::{Command, CoreRemote};
use crate::output::SHARE_MIN_LEN;
use crate::{Message, WsConfig};

/// The server-wide side of pub/sub and of every handle: every core's mailbox, the WebSocket
/// limits (the same for every connection, so not copied into each handle), subscriber counts.
pub(crate) struct Hub {
    pub(crate) cores: Vec<Arc<CoreRemote>>,
    pub(crate) ws: WsConfig,
    counts: Mutex<HashMap<Arc<str>, usize>>,
}

impl Hub {
    pub(crate) fn new(cores: Vec<Arc<CoreRemote>>, ws: WsConfig) -> Hub {
        Hub {
            cores,
            ws,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `msg` to every subscriber of `topic` on every core, except connection `exclude`.
    /// Returns the number of subscribers when the publish started.
    pub(crate) fn publish(&self, topic: &str, msg: &Message, exclude: Option<u64>) -> usize {
        let subscribers = self.subscriber_count(topic);
        if subscribers == 0 {
            return 0;
        }
        let frame = encode_shared(msg);
        let topic: Arc<str> = Arc::from(topic);
        for remote in &self.cores {
            let done_here = local::with_core(remote, |core| {
                core.publish_here(&topic, &frame, exclude).then_some(())
            });
            if done_here.is_none() {
                remote.push(Command::Publish {
                    topic: topic.clone(),
                    frame: frame.clone(),
                    exclude,
                });
            }
        }
        subscribers
    }

    /// Subscribers of `topic` across every core.
    pub(crate) fn subscriber_count(&self, topic: &str) -> usize {
        self.lock().get(topic).copied().unwrap_or(0)
    }

    pub(crate) fn count_subscribe(&self, topic: &Arc<str>) {
        *self.lock().entry(topic.clone()).or_insert(0) += 1;
    }

    pub(crate) fn count_unsubscribe(&self, topic: &str) {
        let mut counts = self.lock();
        if let Some(n) = counts.get_mut(topic) {
            *n -= 1;
            if *n == 0 {
                counts.remove(topic);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, usize>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The frame of `msg`, encoded once for every subscriber.
fn encode_shared(msg: &Message) -> Bytes {
    let mut out = Vec::with_capacity(msg.len() + 10);
    let op = if msg.is_text() {
        OpCode::Text
    } else {
        OpCode::Binary
    };
    encode_frame(&mut out, true, op, None, msg.as_bytes());
    Bytes::from(out)
}

/// The topics each connection of one core is subscribed to, by token. Handles read and change
/// their list from any thread (`is_subscribed`, `subscribe`); the core empties it when the
/// connection ends. Only subscribed connections have an entry.
#[derive(Default)]
pub(crate) struct Subscriptions(Mutex<HashMap<Token, Vec<Arc<str>>>>);

impl Subscriptions {
    /// Connection `t`'s list, locked.
    pub(crate) fn of(&self, t: Token) -> ConnTopics<'_> {
        ConnTopics {
            map: self.0.lock().unwrap_or_else(|e| e.into_inner()),
            token: t,
        }
    }
}

/// One connection's topic list, under its core's lock.
pub(crate) struct ConnTopics<'a> {
    map: MutexGuard<'a, HashMap<Token, Vec<Arc<str>>>>,
    token: Token,
}

impl ConnTopics<'_> {
    /// The topics, in subscription order (until an unsubscribe).
    pub(crate) fn list(&self) -> &[Arc<str>] {
        self.map.get(&self.token).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn push(&mut self, topic: Arc<str>) {
        self.map.entry(self.token).or_default().push(topic);
    }

    /// Removes `topic`; `None` if the connection was not subscribed to it.
    pub(crate) fn remove(&mut self, topic: &str) -> Option<Arc<str>> {
        let list = self.map.get_mut(&self.token)?;
        let i = list.iter().position(|t| **t == *topic)?;
        let removed = list.swap_remove(i);
        if list.is_empty() {
            self.map.remove(&self.token);
        }
        Some(removed)
    }

    /// Takes every topic (the connection is closing).
    pub(crate) fn take(&mut self) -> Vec<Arc<str>> {
        self.map.remove(&self.token).unwrap_or_default()
    }
}

/// One core's topic table.
#[derive(Default)]
pub(crate) struct Topics {
    subscribers: HashMap<Arc<str>, Vec<Token>>,
}

impl Topics {
    pub(crate) fn subscribe(&mut self, topic: Arc<str>, t: Token) {
        let subs = self.subscribers.entry(topic).or_default();
        if !subs.contains(&t) {
            subs.push(t);
        }
    }

    pub(crate) fn unsubscribe(&mut self, topic: &str, t: Token) {
        if let Some(subs) = self.subscribers.get_mut(topic) {
            // Order of delivery does not depend on the list's order: swap_remove is fine.
            if let Some(i) = subs.iter().position(|s| *s == t) {
                subs.swap_remove(i);
            }
            if subs.is_empty() {
                self.subscribers.remove(topic);
            }
        }
    }

    fn subscribers(&self, topic: &str) -> Option<&[Token]> {
        self.subscribers.get(topic).map(Vec::as_slice)
    }
}

impl Core {
    /// Delivers a published frame to this core's subscribers of `topic`. Returns `false`, having
    /// done nothing, when called from inside the core's own bookkeeping (the caller then takes
    /// the mailbox path, which keeps the order).
    pub(crate) fn publish_here(&self, topic: &str, frame: &Bytes, exclude: Option<u64>) -> bool {
        let (Ok(topics), Ok(mut conns), Ok(mut pool)) = (
            self.topics.try_borrow(),
            self.conns.try_borrow_mut(),
            self.pool.try_borrow_mut(),
        ) else {
            return false;
        };
        let Some(subs) = topics.subscribers(topic) else {
            return true;
        };
        for &t in subs {
            let Some(c) = conns.get_mut(t) else { continue };
            let Some(ws) = c.ws() else { continue };
            if ws.close_sent.is_some() || Some(ws.handle.id()) == exclude {
                continue;
            }
            let shared = &ws.handle.0;
            let limit = self.cfg.websocket.backpressure_limit;
            if shared.buffered() > limit {
                // Over its limit: this subscriber misses the message, the others do not wait.
                if shared.over_limit() && !c.dirty {
                    c.dirty = true;
                    self.push_dirty(t);
                }
                continue;
            }
            if frame.len() >= SHARE_MIN_LEN {
                c.share_out(frame.clone());
            } else {
                c.write_out(&mut pool, |out| out.extend_from_slice(frame));
            }
            if c.out.len() > limit {
                // A burst within one turn: hand the kernel what it takes now, so a subscriber
                // that reads keeps up instead of being judged on output the turn has not flushed.
                c.send_now(&mut pool);
            }
            if !c.dirty {
                c.dirty = true;
                self.push_dirty(t);
            }
        }
        true
    }

    /// Subscribes connection `t` (on this core) to `topic` in the core's table, if it is still
    /// an open WebSocket (a lingering or freed connection has already left its topics).
    pub(crate) fn subscribe_here(&self, t: Token, topic: Arc<str>) {
        if self
            .conns
            .borrow_mut()
            .get_mut(t)
            .is_some_and(|c| c.ws().is_some())
        {
            self.topics.borrow_mut().subscribe(topic, t);
        }
    }

    /// Removes connection `t` from `topic` in the core's table.
    pub(crate) fn unsubscribe_here(&self, t: Token, topic: &str) {
        self.topics.borrow_mut().unsubscribe(topic, t);
    }
}
