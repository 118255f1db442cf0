//! [`Hub`]: what every core and every handle of one server shares — each core's slot cells and
//! inbox, the topic registry, the broker link, and the limits that are the same for every
//! connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use imphnen_protocol::ws::{OpCode, encode_frame};

use super::admission::Admission;
use super::command::{Command, ConnId, Slot};
use super::inbox::Inbox;
use super::local;
use super::metrics::CoreCounters;
use super::slots::SlotTable;
use super::topics::Registry;
use crate::broker::link::Link;
use crate::{Config, Listen, Message, WsConfig};

/// The shared side of one core.
pub(crate) struct CoreShared {
    /// The cells of the core's slots (state, generation, queued bytes of each connection).
    pub(crate) slots: SlotTable,
    /// Where other threads' commands for the core arrive.
    pub(crate) inbox: Inbox,
    /// The core's counters (written by the core alone, read when metrics are scraped).
    pub(crate) counters: Arc<CoreCounters>,
}

/// The server-wide shared state.
pub(crate) struct Hub {
    pub(crate) cores: Box<[CoreShared]>,
    /// The WebSocket limits (the same for every connection, so not copied into each handle).
    pub(crate) ws: WsConfig,
    pub(crate) registry: Registry,
    /// Commands refused because the receiving core's ring or queue was full.
    pub(crate) refused: AtomicU64,
    /// The graceful shutdown has started (set once, never cleared).
    pub(crate) shutting_down: AtomicBool,
    /// The connection limits and the counts they are checked against.
    pub(crate) admission: Admission,
    /// `WebSocket::send` results on threads that are not a core of this server, by
    /// [`SendStatus`](crate::SendStatus) (a core counts its own sends in its counters).
    pub(crate) foreign_sends: [AtomicU64; 4],
    /// The link to the other nodes through a broker, when one is configured.
    pub(crate) broker: Option<Arc<Link>>,
    /// The TLS configuration new connections' handshakes use (replaced by `reload_tls`);
    /// `None` on a plain server.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::RwLock<Arc<rustls::ServerConfig>>>,
    /// By listener index: whether connections accepted there speak TLS.
    #[cfg(feature = "tls")]
    tls_listeners: Box<[bool]>,
}

impl Hub {
    /// The hub of a server of `cores` cores listening on `listeners`.
    pub(crate) fn new(cores: usize, cfg: &Config, listeners: &[Listen]) -> std::io::Result<Hub> {
        #[cfg(not(feature = "tls"))]
        let _ = listeners;
        let cores = (0..cores)
            .map(|_| {
                Ok(CoreShared {
                    slots: SlotTable::default(),
                    inbox: Inbox::new()?,
                    counters: Arc::default(),
                })
            })
            .collect::<std::io::Result<Box<[_]>>>()?;
        let broker = cfg.broker.as_ref().map(|b| Arc::new(b.link()));
        Ok(Hub {
            registry: Registry::new(cores.len(), broker.clone()),
            broker,
            cores,
            ws: cfg.websocket.clone(),
            refused: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            admission: Admission::new(cfg.max_connections, cfg.max_connections_per_address),
            foreign_sends: Default::default(),
            #[cfg(feature = "tls")]
            tls: cfg
                .tls
                .as_ref()
                .map(|tls| std::sync::RwLock::new(tls.rustls().clone())),
            #[cfg(feature = "tls")]
            tls_listeners: listeners.iter().map(|l| l.tls).collect(),
        })
    }

    /// The TLS configuration for a handshake starting now on a connection accepted on
    /// `listener`; `None` when that listener serves plain TCP.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_config_for(&self, listener: usize) -> Option<Arc<rustls::ServerConfig>> {
        match self.tls_listeners.get(listener) {
            Some(true) => self.tls_config(),
            _ => None,
        }
    }

    /// The TLS configuration for a handshake starting now; `None` on a plain server.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        let current = self.tls.as_ref()?;
        Some(current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Counts one `WebSocket::send` result: in the calling core's counters when this thread is
    /// one of the server's cores (their only writer), otherwise in the shared ones.
    #[inline]
    pub(crate) fn count_send(&self, status: crate::SendStatus) {
        let i = super::metrics::send_index(status);
        match local::core_of(self) {
            Some(core) => self.cores[core as usize].counters.sends[i].add(1),
            None => {
                self.foreign_sends[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Hands `cmd` to core `core` by the path that fits the calling thread (`local.rs`);
    /// `Err(cmd)` — counted — when the path is full.
    pub(crate) fn route(self: &Arc<Self>, core: u32, cmd: Command) -> Result<(), Command> {
        let routed = local::route(self, core, cmd);
        if routed.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        routed
    }

    /// Hands a message for connection `to` of core `core` to that core, as `route` does;
    /// `Err` — counted — when the path is full.
    #[inline]
    pub(crate) fn send(self: &Arc<Self>, core: u32, to: Slot, msg: Message) -> Result<(), Command> {
        let routed = local::send(self, core, to, msg);
        if routed.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        routed
    }

    /// Sends `msg` to every subscriber of `topic` on every core, except connection `exclude`,
    /// and to the other nodes through the broker, if there is one. Returns the number of this
    /// node's subscribers when the publish started.
    pub(crate) fn publish(
        self: &Arc<Self>,
        topic: &str,
        msg: &Message,
        exclude: Option<ConnId>,
    ) -> usize {
        if let Some(link) = &self.broker {
            link.publish(topic, msg);
        }
        let compress = msg.wants_compression(self.ws.compress_min_size);
        let frame = (msg.opcode(), msg.as_bytes());
        self.deliver(topic, frame, compress, exclude, &mut || false)
            .0
    }

    /// Sends a message that came from the broker to this node's subscribers of `topic`. A
    /// core whose queue is full is tried again every few microseconds for as long as `wait`,
    /// asked before each try, says so (the broker's reading thread decides how long it can
    /// afford to leave its backlog in the socket; a core never waits). `false` when a core
    /// still had no room (counted in `refused`).
    pub(crate) fn deliver_from_broker(
        self: &Arc<Self>,
        topic: &str,
        text: bool,
        payload: &[u8],
        wait: &mut dyn FnMut() -> bool,
    ) -> bool {
        let opcode = if text { OpCode::Text } else { OpCode::Binary };
        let compress = payload.len() >= self.ws.compress_min_size;
        self.deliver(topic, (opcode, payload), compress, None, wait)
            .1
    }

    /// Hands one frame to every core with subscribers of `topic`, trying a full core again
    /// while `wait` says so: the subscriber count, and whether every core took it.
    fn deliver(
        self: &Arc<Self>,
        topic: &str,
        (opcode, payload): (OpCode, &[u8]),
        compress: bool,
        exclude: Option<ConnId>,
        wait: &mut dyn FnMut() -> bool,
    ) -> (usize, bool) {
        let Some(audience) = self.registry.audience(topic) else {
            return (0, true);
        };
        let frame = encode_shared(opcode, payload);
        let mut all = true;
        for core in audience.cores {
            let mut cmd = Command::Publish {
                topic: audience.topic.clone(),
                frame: frame.clone(),
                exclude,
                compress,
            };
            while let Err(back) = local::route(self, core, cmd) {
                if !wait() {
                    // Lost for this core's subscribers alone, and counted.
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    all = false;
                    break;
                }
                std::thread::sleep(RETRY_PAUSE);
                cmd = back;
            }
        }
        (audience.subscribers, all)
    }

    /// Subscribers of `topic` across every core.
    pub(crate) fn subscriber_count(&self, topic: &str) -> usize {
        self.registry.count(topic)
    }
}

/// How long a delivery that may wait sleeps before trying a full core's queue again.
const RETRY_PAUSE: Duration = Duration::from_micros(20);

/// A message's frame, encoded once for every subscriber.
fn encode_shared(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 10);
    encode_frame(&mut out, true, opcode, None, payload);
    Bytes::from(out)
}
