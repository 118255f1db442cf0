//! Pub/sub across server nodes through a broker (Redis): a publish on any node reaches the
//! topic's subscribers on every node.
//!
//! The seam is [`Broker`], set in [`Config::broker`](crate::Config::broker); with none
//! configured nothing of this module runs. Its one kind today is Redis.
//!
//! - A node subscribes on the broker only to the topics that have a local subscriber: the topic
//!   registry reports each topic's 0 → 1 and 1 → 0 transitions to the link (`link.rs`), whose
//!   writing thread sends whatever changes piled up in one go. No pattern subscriptions.
//! - A publish is delivered to the local subscribers at once and queued for the broker in a
//!   bounded queue; a full queue, or a link that is down, drops the message for the other nodes
//!   and counts it. A core never waits on the broker.
//! - What comes from the broker enters the cores through the same commands a publish from a
//!   plain thread uses. The node drops its own messages when the broker echoes them, so every
//!   subscriber gets a message exactly once, and counts gaps in each other node's sequence.
//! - The link runs on two threads of its own per node (never on a core) and reconnects with
//!   capped exponential back-off, subscribing every current topic again.
//!
//! Order: messages one node publishes to one topic arrive on every node in the order it
//! published them (a core's publishes are queued in order; publishes from different cores of
//! one node are ordered by when they reached the queue). Nothing orders messages of different
//! nodes, or of different topics.

mod envelope;
pub(crate) mod link;
mod redis;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::shared::hub::Hub;
use link::Link;

/// The application's callback for the link's [`BrokerEvent`]s.
pub(crate) type EventFn = Arc<dyn Fn(&BrokerEvent) + Send + Sync>;

/// Which broker carries the server's publishes to its other nodes, and how.
///
/// ```
/// use imphnen_engine::{Broker, Config};
/// let config = Config {
///     broker: Some(Broker::redis("redis://127.0.0.1:6379").sharded(true)),
///     ..Config::default()
/// };
/// # drop(config);
/// ```
#[derive(Clone)]
pub struct Broker {
    kind: Kind,
    queue_capacity: usize,
    node_id: Option<u64>,
    on_event: Option<EventFn>,
}

#[derive(Clone, Debug)]
enum Kind {
    Redis(redis::Settings),
}

impl Broker {
    /// Redis at `url` (`redis://[user:password@]host[:port]`; the database number does not
    /// matter to pub/sub). Each topic is the channel of the same name (see
    /// [`channel_prefix`](Self::channel_prefix)), so a backend can reach the WebSockets of
    /// every node with a plain `PUBLISH topic message`.
    pub fn redis(url: impl Into<String>) -> Broker {
        Broker {
            kind: Kind::Redis(redis::Settings::new(url.into())),
            queue_capacity: 65_536,
            node_id: None,
            on_event: None,
        }
    }

    /// Redis 7's sharded pub/sub (`SSUBSCRIBE`, `SPUBLISH`), which a Redis cluster keeps on the
    /// shard owning each channel instead of sending every message to every shard. The link
    /// talks to the one address it was given. Default off.
    pub fn sharded(mut self, sharded: bool) -> Broker {
        let Kind::Redis(settings) = &mut self.kind;
        settings.sharded = sharded;
        self
    }

    /// Channels are the topics' names behind `prefix` (several applications on one Redis).
    /// Default: no prefix.
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Broker {
        let Kind::Redis(settings) = &mut self.kind;
        settings.prefix = prefix.into();
        self
    }

    /// Publishes waiting for the broker at most; beyond it a publish is dropped for the other
    /// nodes and counted ([`BrokerStats::dropped`]). Default 65,536.
    pub fn queue_capacity(mut self, messages: usize) -> Broker {
        self.queue_capacity = messages;
        self
    }

    /// This node's id in the envelopes it publishes. Default: random per start. Two nodes
    /// with one id would drop each other's messages as echoes.
    pub fn node_id(mut self, id: u64) -> Broker {
        self.node_id = Some(id);
        self
    }

    /// Called on the link's thread when it comes up or goes down.
    pub fn on_event(mut self, f: impl Fn(&BrokerEvent) + Send + Sync + 'static) -> Broker {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// The shared half of the link, made with the server's hub.
    pub(crate) fn link(&self) -> Link {
        Link::new(self)
    }

    /// Starts the link's threads.
    pub(crate) fn start(&self, hub: &Arc<Hub>) -> io::Result<Threads> {
        let link = hub.broker.clone().expect("a hub made with this broker");
        match &self.kind {
            Kind::Redis(settings) => Ok(Threads::Redis(redis::start(settings, link, hub.clone())?)),
        }
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("kind", &self.kind)
            .field("queue_capacity", &self.queue_capacity)
            .field("node_id", &self.node_id)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

/// What happened to the broker link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerEvent {
    /// The link is up: it can publish, and every topic with a local subscriber is subscribed.
    Connected {
        /// `false` the first time.
        reconnect: bool,
        /// How long the link was down (since the server started, the first time).
        outage: Duration,
        /// Publishes dropped for the other nodes while it was down.
        dropped: u64,
    },
    /// The link went down; local publish and delivery go on, and it reconnects.
    Disconnected {
        /// Why.
        error: String,
    },
}

/// The broker link's counters since the server started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// This node's id.
    pub node_id: u64,
    /// Both of the link's connections are up.
    pub connected: bool,
    /// Times the link came back after going down.
    pub reconnects: u64,
    /// Publishes the broker took.
    pub published: u64,
    /// Publishes not sent to the other nodes: the link was down or its queue full, or the
    /// broker refused them.
    ///
    /// This counter is how a node learns that the other nodes missed some of its publishes:
    /// `publish` returns this node's subscriber count, delivers locally whatever the link
    /// does, and never waits for the broker. Its return cannot say more, since the link's
    /// own thread sends the message later and may still drop it then (the connection fails,
    /// or the broker refuses it). A full queue is also logged (at most every 10 s), and an
    /// outage's drops come with [`BrokerEvent::Connected`]. A publish dropped at the queue
    /// (link down, or queue full) takes no sequence number, so the other nodes count no
    /// [`gaps`](Self::gaps) for it; one the link drops after queueing it leaves a gap that
    /// the next message of its topic shows.
    pub dropped: u64,
    /// Messages from other nodes (or other publishers) handed to the cores.
    pub received: u64,
    /// Of those, deliveries a core's queue was too full to take (those subscribers missed it).
    pub undelivered: u64,
    /// Messages of other nodes this node never saw, from the holes in their sequences.
    pub gaps: u64,
    /// This node's own messages coming back from the broker, dropped (they were delivered
    /// locally when published).
    pub echoes: u64,
    /// Messages without an imphnen envelope (a plain `PUBLISH` of a backend), delivered as they are.
    pub foreign: u64,
    /// Messages dropped because they could not be read (an unknown envelope version, or
    /// "text" that is not UTF-8).
    pub malformed: u64,
    /// The most bytes the broker had sent that the node had not read yet, as measured when a
    /// core was too full to take a message (0 when none ever was). Once this passes a quarter
    /// of the socket's receive buffer (or 1 MiB), the node stops waiting for full cores and
    /// drops their messages (counted in `undelivered`) until it has caught up, so the broker
    /// never has to hold a backlog for it, nor disconnect it for lagging.
    pub backlog_peak: u64,
}

/// A running link's threads.
pub(crate) enum Threads {
    Redis(redis::Running),
}

impl Threads {
    /// Stops the link's threads and waits for them.
    pub(crate) fn stop(self) {
        match self {
            Threads::Redis(running) => running.stop(),
        }
    }
}
