//! `WebSocket`: the handle to one connection, usable from any thread.
//!
//! The handle is `Clone + Send + Sync + Eq + Hash`, so users keep it in sets and maps (the guide's
//! chat keeps every client in a `Set`) and send from anywhere. It is only an address — server,
//! core, slot, generation — plus the peer's address: the connection's shared state is its slot's
//! cell (`slots.rs`), and every change is a command to the owning core (`command.rs`), queued on
//! the path that fits the calling thread (`local.rs`).
//!
//! Outbound backpressure follows Bun: `send` reports [`SendStatus`]. The queued byte count is one
//! atomic per connection shared by every path, so a flood from another thread is bounded too.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::command::{Command, ConnId, Slot};
use super::hub::Hub;
use super::slots::{SHED, SlotCell, WANTS_DRAIN};
use crate::Message;

/// What happened to a message given to [`WebSocket::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued for sending, with this many payload bytes; the queue is within `backpressure_limit`.
    Sent(usize),
    /// Queued, but the queue is now above `backpressure_limit`: slow down until `buffered_amount`
    /// falls.
    Backpressure,
    /// Not queued: the queue was already above `backpressure_limit`, or the path to the
    /// connection's core was full.
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
    pub(crate) fn from_u8(v: u8) -> ReadyState {
        match v {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }
}

/// The peer's address in 19 bytes instead of `SocketAddr`'s 32 (the handle is in every
/// connection's context; flow info and scope id are not kept).
#[derive(Clone, Copy)]
struct PeerAddr {
    ip: [u8; 16],
    port: u16,
    v4: bool,
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        let (ip, v4) = match addr.ip() {
            IpAddr::V4(ip) => (ip.to_ipv6_mapped().octets(), true),
            IpAddr::V6(ip) => (ip.octets(), false),
        };
        PeerAddr {
            ip,
            port: addr.port(),
            v4,
        }
    }
}

impl From<PeerAddr> for SocketAddr {
    fn from(p: PeerAddr) -> Self {
        let ip = Ipv6Addr::from(p.ip);
        match ip.to_ipv4_mapped() {
            Some(v4) if p.v4 => SocketAddr::new(IpAddr::V4(v4), p.port),
            _ => SocketAddr::new(IpAddr::V6(ip), p.port),
        }
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
pub struct WebSocket {
    hub: Arc<Hub>,
    core: u32,
    slot: Slot,
    peer: PeerAddr,
}

// Every connection's context holds one (see `Conn`'s and `SlotCell`'s size checks).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<WebSocket>() <= 40);

impl WebSocket {
    /// The handle of the connection in `slot` of core `core`.
    pub(crate) fn new(hub: Arc<Hub>, core: u32, slot: Slot, peer: SocketAddr) -> WebSocket {
        WebSocket {
            hub,
            core,
            slot,
            peer: peer.into(),
        }
    }

    fn cell(&self) -> &SlotCell {
        self.hub.cores[self.core as usize]
            .slots
            .get(self.slot.index)
            .expect("a handle's slot has a cell")
    }

    fn conn_id(&self) -> ConnId {
        ConnId::new(self.core, self.slot)
    }

    /// Sends a text (`&str`, `String`) or binary (`Vec<u8>`, `&[u8]`, `Bytes`) message.
    ///
    /// After `Backpressure` or `Dropped`, the route's `drain` handler runs once the queue is back
    /// under the limit. With `WsConfig::close_on_backpressure_limit`, a `Dropped` message also
    /// closes the connection (see that option).
    pub fn send(&self, msg: impl Into<Message>) -> SendStatus {
        let status = self.queue(msg.into());
        self.hub.count_send(status);
        status
    }

    /// `send` without the counting.
    #[inline]
    fn queue(&self, msg: Message) -> SendStatus {
        let cell = self.cell();
        if cell.state(self.slot.generation) != ReadyState::Open {
            return SendStatus::Closed;
        }
        let limit = self.hub.ws.backpressure_limit;
        if cell.buffered() > limit {
            self.over_limit(cell);
            return SendStatus::Dropped;
        }
        let len = msg.len();
        let frame_len = len + imphnen_protocol::ws::header_len(len as u64, false);
        cell.add_buffered(frame_len);
        let sent = self.hub.send(self.core, self.slot, msg);
        if let Err(refused) = sent {
            cell.sub_buffered(frame_len);
            cell.raise_for(self.slot.generation, WANTS_DRAIN);
            drop(refused);
            return SendStatus::Dropped;
        }
        // Read after the route: on the connection's own core the frame may already have gone
        // to the kernel, which is what the status then reports.
        if cell.buffered() > limit {
            cell.raise_for(self.slot.generation, WANTS_DRAIN);
            SendStatus::Backpressure
        } else {
            SendStatus::Sent(len)
        }
    }

    /// A message was dropped because the connection is over its limit: ask for `on_drain`, and
    /// with `close_on_backpressure_limit` have the core close the connection.
    fn over_limit(&self, cell: &SlotCell) {
        cell.raise_for(self.slot.generation, WANTS_DRAIN);
        if self.hub.ws.close_on_backpressure_limit
            && cell.transition(self.slot.generation, ReadyState::Open, ReadyState::Closing)
        {
            cell.raise_for(self.slot.generation, SHED);
            // Refused only when the core's path is full; the core sees `SHED` at its next look
            // at the connection anyway.
            let _ = self.hub.route(self.core, Command::Poke { to: self.slot });
        }
    }

    /// Starts the close handshake with `code` (1000, or 3000–4999 for applications) and `reason`
    /// (at most 123 bytes of UTF-8; longer reasons are cut at a character boundary). Messages
    /// queued before are sent first. Closing twice does nothing.
    pub fn close(&self, code: u16, reason: &str) {
        let cell = self.cell();
        if !cell.transition(self.slot.generation, ReadyState::Open, ReadyState::Closing) {
            return;
        }
        let cmd = Command::Close {
            to: self.slot,
            code,
            reason: reason.into(),
        };
        if self.hub.route(self.core, cmd).is_err() {
            // The core's path is full: the state already says Closing, so sends are refused;
            // the core closes with 1001 when it finds a connection in that state at its tick.
        }
    }

    /// The connection's state.
    pub fn ready_state(&self) -> ReadyState {
        self.cell().state(self.slot.generation)
    }

    /// Bytes queued for this connection that the kernel has not accepted yet.
    pub fn buffered_amount(&self) -> usize {
        if self.ready_state() == ReadyState::Closed {
            return 0;
        }
        self.cell().buffered()
    }

    /// An id of this connection, unique within its server (core, slot and generation).
    pub fn id(&self) -> u64 {
        self.conn_id().get()
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.peer.into()
    }

    /// Subscribes to `topic`; `false` if already subscribed or closed (or, rarely, when the
    /// connection's core cannot be told because its inbox is full: then nothing changed).
    pub fn subscribe(&self, topic: &str) -> bool {
        let id = self.conn_id();
        let Some(topic) = self.hub.registry.subscribe(id, self.cell(), topic) else {
            return false;
        };
        let cmd = Command::Subscribe {
            to: self.slot,
            topic: topic.clone(),
        };
        if self.hub.route(self.core, cmd).is_err() {
            // The core would never learn of it: take it back.
            self.hub.registry.unsubscribe(id, &topic);
            return false;
        }
        true
    }

    /// Unsubscribes from `topic`; `false` if not subscribed (or, rarely, when the connection's
    /// core cannot be told because its inbox is full: then nothing changed; try again).
    pub fn unsubscribe(&self, topic: &str) -> bool {
        let id = self.conn_id();
        let Some(topic) = self.hub.registry.unsubscribe(id, topic) else {
            return false;
        };
        let cmd = Command::Unsubscribe {
            to: self.slot,
            topic: topic.clone(),
        };
        if self.hub.route(self.core, cmd).is_err() {
            // The core's delivery index still has the connection: restore the registry to match.
            self.hub.registry.subscribe(id, self.cell(), &topic);
            return false;
        }
        true
    }

    /// `true` if subscribed to `topic`.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.hub.registry.is_subscribed(self.conn_id(), topic)
    }

    /// The topics this connection is subscribed to.
    pub fn subscriptions(&self) -> Vec<String> {
        self.hub.registry.topics_of(self.conn_id())
    }

    /// Sends `msg` to every subscriber of `topic` on every core, except this connection (unless
    /// `WsConfig::publish_to_self`). Returns the number of subscribers when the publish started.
    ///
    /// With a [`Config::broker`](crate::Config::broker) the message also goes to the other
    /// nodes, and the count is this node's. Whether they get it is not in the return value: a
    /// publish the broker link cannot take (down, or its queue full) still reaches this node's
    /// subscribers, is never waited for, and is counted in
    /// [`BrokerStats::dropped`](crate::BrokerStats::dropped)
    /// ([`Publisher::broker_stats`](crate::Publisher::broker_stats)).
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        let exclude = (!self.hub.ws.publish_to_self).then(|| self.conn_id());
        self.hub.publish(topic, &msg.into(), exclude)
    }

    /// Connections subscribed to `topic`, across every core.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.hub.subscriber_count(topic)
    }

    /// Runs `f`, whose sends leave together in one write. Sends are always collected per loop
    /// turn (on the connection's core) or per batch (from another core or thread), so this only
    /// groups them visibly in the code; it is kept for the guide's `cork`.
    pub fn cork<R>(&self, f: impl FnOnce(&WebSocket) -> R) -> R {
        f(self)
    }
}

impl PartialEq for WebSocket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.hub, &other.hub) && self.core == other.core && self.slot == other.slot
    }
}

impl Eq for WebSocket {}

impl Hash for WebSocket {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.id())
            .field("remote_addr", &self.remote_addr())
            .field("ready_state", &self.ready_state())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::PeerAddr;
    use std::net::SocketAddr;

    #[test]
    fn peer_addresses_round_trip_in_their_family() {
        for a in [
            "127.0.0.1:80",
            "[::1]:443",
            "[::ffff:10.0.0.1]:1",
            "0.0.0.0:0",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(SocketAddr::from(PeerAddr::from(addr)), addr, "{a}");
        }
    }
}
