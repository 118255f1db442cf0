//! `WebSocket`: the handle to one connection, usable from any thread.
//!
//! The handle is `Clone + Send + Sync + Eq + Hash`, so users keep it in sets and maps (the guide's
//! chat keeps every client in a `Set`) and send from anywhere. On the connection's own core a send
//! writes the frame straight into the connection's output (flushed once per loop turn); from any
//! other thread it goes through the owning core's lock-free mailbox (`mailbox.rs`).
//!
//! Outbound backpressure follows Bun: `send` reports [`SendStatus`]. The queued byte count is one
//! atomic shared by both paths, so a flood from another thread is bounded as well.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use crate::Message;
use crate::conn::{Token, token};
use crate::local;
use crate::mailbox::{Command, CoreRemote};
use crate::pubsub::{ConnTopics, Hub};

/// What happened to a message given to [`WebSocket::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued for sending, with this many payload bytes; the queue is within `backpressure_limit`.
    Sent(usize),
    /// Queued, but the queue is now above `backpressure_limit`: slow down until `buffered_amount`
    /// falls.
    Backpressure,
    /// Not queued: the queue was already above `backpressure_limit`.
    Dropped,
    /// Not queued: the connection is closing or closed.
    Closed,
}

/// The connection's state, with the browser API's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ReadyState {
    /// The opening handshake is in progress.
    Connecting = 0,
    /// Messages can be sent.
    Open = 1,
    /// The close handshake has started; sends are refused.
    Closing = 2,
    /// The connection is closed.
    Closed = 3,
}

impl ReadyState {
    fn from_u8(v: u8) -> ReadyState {
        match v {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }
}

/// The per-connection state every clone of a handle shares. Kept small: everything the same for
/// all connections (limits, the hub) lives in the [`Hub`], the topic list in the owning core's
/// [`CoreRemote`]; an idle connection pays 72 bytes here (a 96-byte allocation).
pub(crate) struct Shared {
    pub(crate) id: u64,
    /// The server's hub: every core's mailbox, the WebSocket limits, the topic counts.
    pub(crate) hub: Arc<Hub>,
    /// Index of the owning core in `hub.cores`.
    core: u32,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
    pub(crate) state: AtomicU8,
    /// A send reported `Backpressure` or `Dropped`, or a publish was dropped: `on_drain` runs
    /// once the connection's output is back under the limit. Set from any thread.
    pub(crate) wants_drain: AtomicBool,
    /// The connection went over its limit with `close_on_backpressure_limit`: its core closes it.
    pub(crate) shed: AtomicBool,
    /// Bytes queued for the connection that the kernel has not accepted yet: frames other
    /// threads put in the mailbox plus the connection's output. One counter changed only by
    /// increments (a sender adds its frame; the core adds what it writes into the output and
    /// subtracts what the kernel takes), so a reader never counts a frame twice or not at all
    /// while it moves from the mailbox into the output.
    pub(crate) buffered: AtomicUsize,
    pub(crate) remote_addr: SocketAddr,
}

// With the reference counts, a 96-byte allocation per connection (see `Conn`'s size check).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Shared>() <= 72);

impl Shared {
    /// Bytes queued for the connection that the kernel has not accepted yet.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// The owning core's mailbox.
    pub(crate) fn remote(&self) -> &Arc<CoreRemote> {
        &self.hub.cores[self.core as usize]
    }

    /// The connection's key in its core: slot and generation.
    pub(crate) fn token(&self) -> Token {
        token(self.slot, self.generation)
    }

    /// A message was dropped because the connection is over its limit: ask for `on_drain`, and
    /// with `close_on_backpressure_limit` mark the connection for closing. Returns `true` when
    /// the owning core must look at the connection (it is to be closed).
    pub(crate) fn over_limit(&self) -> bool {
        self.wants_drain.store(true, Ordering::Release);
        if !self.hub.ws.close_on_backpressure_limit {
            return false;
        }
        let closing = self
            .state
            .compare_exchange(
                ReadyState::Open as u8,
                ReadyState::Closing as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if closing {
            self.shed.store(true, Ordering::Release);
        }
        closing
    }
}

/// A handle to one WebSocket connection.
///
/// ```no_run
/// # fn demo(ws: imphnen_engine::WebSocket) {
/// use imphnen_engine::{ReadyState, SendStatus};
/// if ws.ready_state() == ReadyState::Open {
///     match ws.send("hello") {
///         SendStatus::Sent(n) => assert_eq!(n, 5),
///         SendStatus::Backpressure => { /* queued; slow down */ }
///         SendStatus::Dropped | SendStatus::Closed => {}
///     }
/// }
/// ws.close(4000, "New session started");
/// # }
/// ```
#[derive(Clone)]
pub struct WebSocket(pub(crate) Arc<Shared>);

impl WebSocket {
    /// A handle for the connection in `slot`/`generation` of core `core` (an index into
    /// `hub.cores`).
    pub(crate) fn new(
        hub: Arc<Hub>,
        core: usize,
        (slot, generation): (u32, u32),
        remote_addr: SocketAddr,
    ) -> WebSocket {
        WebSocket(Arc::new(Shared {
            id: crate::next_connection_id(),
            hub,
            core: core as u32,
            slot,
            generation,
            state: AtomicU8::new(ReadyState::Connecting as u8),
            wants_drain: AtomicBool::new(false),
            shed: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            remote_addr,
        }))
    }

    /// Sends a text (`&str`, `String`) or binary (`Vec<u8>`, `&[u8]`, `Bytes`) message.
    ///
    /// After `Backpressure` or `Dropped`, the route's `drain` handler runs once the queue is back
    /// under the limit. With `WsConfig::close_on_backpressure_limit`, a `Dropped` message also
    /// closes the connection (see that option).
    pub fn send(&self, msg: impl Into<Message>) -> SendStatus {
        let msg = msg.into();
        if self.ready_state() != ReadyState::Open {
            return SendStatus::Closed;
        }
        let s = &self.0;
        let limit = s.hub.ws.backpressure_limit;
        if s.buffered() > limit {
            if s.over_limit() {
                local::poke(s);
            }
            return SendStatus::Dropped;
        }
        let len = msg.len();
        if let Some(status) = local::send_local(s, &msg) {
            return status;
        }
        let frame_len = len + imphnen_protocol::ws::header_len(len as u64, false);
        let queued = s.buffered.fetch_add(frame_len, Ordering::AcqRel) + frame_len;
        s.remote().push(Command::Send {
            slot: s.slot,
            generation: s.generation,
            msg,
        });
        let status = status_after(queued, limit, len);
        if status == SendStatus::Backpressure {
            s.wants_drain.store(true, Ordering::Release);
        }
        status
    }

    /// Starts the close handshake with `code` (1000, or 3000–4999 for applications) and `reason`
    /// (at most 123 bytes of UTF-8; longer reasons are cut at a character boundary). Messages
    /// queued before are sent first. Closing twice does nothing.
    pub fn close(&self, code: u16, reason: &str) {
        let s = &self.0;
        let opened = s
            .state
            .compare_exchange(
                ReadyState::Open as u8,
                ReadyState::Closing as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if !opened {
            return;
        }
        if local::close_local(s, code, reason) {
            return;
        }
        s.remote().push(Command::Close {
            slot: s.slot,
            generation: s.generation,
            code,
            reason: reason.to_owned(),
        });
    }

    /// The connection's state.
    pub fn ready_state(&self) -> ReadyState {
        ReadyState::from_u8(self.0.state.load(Ordering::Acquire))
    }

    /// Bytes queued for this connection that the kernel has not accepted yet.
    pub fn buffered_amount(&self) -> usize {
        self.0.buffered()
    }

    /// A process-unique id of this connection.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.0.remote_addr
    }

    /// Subscribes to `topic`; `false` if already subscribed or closed.
    pub fn subscribe(&self, topic: &str) -> bool {
        let s = &self.0;
        let topic: Arc<str> = Arc::from(topic);
        {
            let mut topics = self.lock_topics();
            // Checked under the lock the closing core takes to empty the list (after it set
            // `Closed`): a concurrent close either takes this topic along or refuses it here,
            // so no count outlives the connection.
            if self.ready_state() == ReadyState::Closed
                || topics.list().iter().any(|t| **t == *topic)
            {
                return false;
            }
            topics.push(topic.clone());
            s.hub.count_subscribe(&topic);
        }
        if !local::subscribe_local(s, topic.clone()) {
            s.remote().push(Command::Subscribe {
                slot: s.slot,
                generation: s.generation,
                topic,
            });
        }
        true
    }

    /// Unsubscribes from `topic`; `false` if not subscribed.
    pub fn unsubscribe(&self, topic: &str) -> bool {
        let topic = {
            let mut topics = self.lock_topics();
            let Some(removed) = topics.remove(topic) else {
                return false;
            };
            removed
        };
        let s = &self.0;
        s.hub.count_unsubscribe(&topic);
        if !local::unsubscribe_local(s, &topic) {
            s.remote().push(Command::Unsubscribe {
                slot: s.slot,
                generation: s.generation,
                topic,
            });
        }
        true
    }

    /// `true` if subscribed to `topic`.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.lock_topics().list().iter().any(|t| **t == *topic)
    }

    /// The topics this connection is subscribed to.
    pub fn subscriptions(&self) -> Vec<String> {
        self.lock_topics()
            .list()
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    /// Sends `msg` to every subscriber of `topic` on every core, except this connection (unless
    /// `WsConfig::publish_to_self`). Returns the number of subscribers when the publish started.
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        let exclude = (!self.0.hub.ws.publish_to_self).then_some(self.0.id);
        self.0.hub.publish(topic, &msg.into(), exclude)
    }

    /// Connections subscribed to `topic`, across every core.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.0.hub.subscriber_count(topic)
    }

    /// Runs `f`, whose sends leave together in one write. On the connection's core, sends are
    /// already collected until the end of the loop turn; outside a turn (a spawned task, a timer),
    /// this flushes once after `f` instead of waking the core for each send. From another thread
    /// the sends travel the mailbox as one batch.
    pub fn cork<R>(&self, f: impl FnOnce(&WebSocket) -> R) -> R {
        let r = f(self);
        local::flush_local(&self.0);
        r
    }

    /// Takes every topic (the connection is closing).
    pub(crate) fn take_topics(&self) -> Vec<Arc<str>> {
        self.lock_topics().take()
    }

    fn lock_topics(&self) -> ConnTopics<'_> {
        self.0.remote().subscriptions.of(self.0.token())
    }

    pub(crate) fn set_state(&self, state: ReadyState) {
        self.0.state.store(state as u8, Ordering::Release);
    }
}

/// The status of a send that left `queued` bytes waiting, given the limit.
pub(crate) fn status_after(queued: usize, limit: usize, payload_len: usize) -> SendStatus {
    if queued > limit {
        SendStatus::Backpressure
    } else {
        SendStatus::Sent(payload_len)
    }
}

impl PartialEq for WebSocket {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for WebSocket {}

impl Hash for WebSocket {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.0.id)
            .field("remote_addr", &self.0.remote_addr)
            .field("ready_state", &self.ready_state())
            .finish()
    }
}
