//! What a server reports about itself: counters each core keeps on its own cache line, written
//! by that core alone (a plain load and store, no locked instruction on the hot path), summed
//! over the cores when read ([`Metrics`]), and written in the Prometheus text exposition format.
//!
//! The format is written here directly rather than through a metrics crate: a dozen counters
//! and gauges with at most one label need no registry, and the text format (Prometheus
//! exposition format 0.0.4) is a few lines per metric.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{BrokerStats, SendStatus};

/// One counter, written by one thread (its core) and read by any.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning core calls this: a load and a store, not a read-modify-write,
    /// are enough for one writer, and cost what a plain increment does.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The close codes counted one by one; any other code is counted as `other`.
pub(crate) const CLOSE_CODES: [u16; 10] =
    [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011];

/// One core's counters, alone on their cache lines.
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct CoreCounters {
    pub(crate) connections_opened: Counter,
    pub(crate) connections_closed: Counter,
    pub(crate) websockets_opened: Counter,
    pub(crate) websockets_closed: Counter,
    pub(crate) messages_in: Counter,
    pub(crate) messages_out: Counter,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) handler_errors: Counter,
    pub(crate) handler_panics: Counter,
    pub(crate) backpressure_pauses: Counter,
    pub(crate) turns: Counter,
    pub(crate) compressed: Counter,
    /// By `CLOSE_CODES`, then one for any other code.
    pub(crate) closes: [Counter; CLOSE_CODES.len() + 1],
    /// `WebSocket::send` on this core's thread, by [`SendStatus`] (`SEND_STATUSES` order).
    pub(crate) sends: [Counter; 4],
    /// Connections refused over `max_connections`, and over `max_connections_per_address`.
    pub(crate) refused_server_limit: Counter,
    pub(crate) refused_address_limit: Counter,
    /// TLS connections that failed before or during their handshake, or broke the record
    /// layer (plain HTTP to the TLS port, garbage, a handshake past its deadline).
    pub(crate) tls_failures: Counter,
    /// Deliveries of a publish a subscriber missed because it was over its backpressure limit.
    pub(crate) publish_missed: Counter,
}

/// The names of [`SendStatus`] values, in the order of `CoreCounters::sends`.
pub(crate) const SEND_STATUSES: [&str; 4] = ["sent", "backpressure", "dropped", "closed"];

/// `status`'s place in `CoreCounters::sends`.
pub(crate) fn send_index(status: SendStatus) -> usize {
    match status {
        SendStatus::Sent(_) => 0,
        SendStatus::Backpressure => 1,
        SendStatus::Dropped => 2,
        SendStatus::Closed => 3,
    }
}

impl CoreCounters {
    /// A WebSocket ended with `code` (reported to `on_close`).
    pub(crate) fn closed_with(&self, code: u16) {
        let i = CLOSE_CODES
            .iter()
            .position(|&c| c == code)
            .unwrap_or(CLOSE_CODES.len());
        self.closes[i].add(1);
        self.websockets_closed.add(1);
    }
}

/// A server's counters, summed over its cores at the moment they were read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// TCP connections open now (HTTP and WebSocket).
    pub connections_open: u64,
    /// WebSocket connections open now.
    pub websockets_open: u64,
    /// TCP connections accepted since start.
    pub connections_total: u64,
    /// WebSocket upgrades since start.
    pub upgrades_total: u64,
    /// WebSocket messages received (complete, after inflating).
    pub messages_in: u64,
    /// WebSocket messages queued for sending (a publish counts once per subscriber).
    pub messages_out: u64,
    /// Bytes received from sockets.
    pub bytes_in: u64,
    /// Bytes the kernel took for sending.
    pub bytes_out: u64,
    /// WebSocket handlers that returned an error.
    pub handler_errors: u64,
    /// Handlers that panicked (WebSocket: closed with 1011; HTTP: answered 500).
    pub handler_panics: u64,
    /// Times a WebSocket's input was held back because its peer did not read its output.
    pub backpressure_pauses: u64,
    /// Loop turns of all cores.
    pub turns: u64,
    /// Messages compressed with permessage-deflate.
    pub compressed_messages: u64,
    /// WebSocket closes by code (`None`: a code not listed on its own).
    pub closes: Vec<(Option<u16>, u64)>,
    /// `WebSocket::send` calls by the [`SendStatus`] they returned.
    pub sends: SendCounts,
    /// Connections answered 503 (or closed) because `max_connections` was reached.
    pub refused_server_limit: u64,
    /// Connections answered 503 (or closed) because their address had
    /// `max_connections_per_address` open.
    pub refused_address_limit: u64,
    /// TLS connections closed for breaking the protocol: plain HTTP sent to the TLS port
    /// (answered 400), records rustls rejected (answered with its alert), and handshakes not
    /// finished within `http.request_timeout`.
    pub tls_failures: u64,
    /// Deliveries of a publish that a subscriber missed because more than its backpressure
    /// limit was queued for it (its `drain` handler runs once it is under again). With
    /// `close_on_backpressure_limit` such a subscriber is closed instead (counted by its close
    /// code); only publishes that reach it while it is already closing are counted here.
    pub publish_missed: u64,
    /// Commands another thread could not hand to a core because the core's queue from that
    /// thread was full: a send (also counted as [`SendStatus::Dropped`], which the caller got),
    /// a subscribe or close (reported to the caller), or a publish, lost for that core's
    /// subscribers alone.
    pub commands_refused: u64,
    /// The broker link's counters, with a [`Config::broker`](crate::Config::broker).
    pub broker: Option<BrokerStats>,
}

/// `WebSocket::send` calls by result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendCounts {
    /// [`SendStatus::Sent`].
    pub sent: u64,
    /// [`SendStatus::Backpressure`].
    pub backpressure: u64,
    /// [`SendStatus::Dropped`].
    pub dropped: u64,
    /// [`SendStatus::Closed`].
    pub closed: u64,
}

impl SendCounts {
    fn add(&mut self, by_status: [u64; 4]) {
        self.sent += by_status[0];
        self.backpressure += by_status[1];
        self.dropped += by_status[2];
        self.closed += by_status[3];
    }

    fn by_status(&self) -> [u64; 4] {
        [self.sent, self.backpressure, self.dropped, self.closed]
    }
}

impl Metrics {
    /// The sum of `cores`' counters, with `foreign_sends` (sends on other threads) and the
    /// broker link's counters.
    pub(crate) fn sum<'a>(
        cores: impl Iterator<Item = &'a CoreCounters>,
        foreign_sends: &[AtomicU64; 4],
        commands_refused: u64,
        broker: Option<BrokerStats>,
    ) -> Metrics {
        let mut m = Metrics {
            broker,
            commands_refused,
            ..Metrics::default()
        };
        let mut closes = [0u64; CLOSE_CODES.len() + 1];
        let (mut opened, mut closed, mut ws_opened, mut ws_closed) = (0, 0, 0, 0);
        for c in cores {
            opened += c.connections_opened.get();
            closed += c.connections_closed.get();
            ws_opened += c.websockets_opened.get();
            ws_closed += c.websockets_closed.get();
            m.messages_in += c.messages_in.get();
            m.messages_out += c.messages_out.get();
            m.bytes_in += c.bytes_in.get();
            m.bytes_out += c.bytes_out.get();
            m.handler_errors += c.handler_errors.get();
            m.handler_panics += c.handler_panics.get();
            m.backpressure_pauses += c.backpressure_pauses.get();
            m.turns += c.turns.get();
            m.compressed_messages += c.compressed.get();
            for (sum, c) in closes.iter_mut().zip(&c.closes) {
                *sum += c.get();
            }
            m.sends.add(c.sends.each_ref().map(Counter::get));
            m.refused_server_limit += c.refused_server_limit.get();
            m.refused_address_limit += c.refused_address_limit.get();
            m.tls_failures += c.tls_failures.get();
            m.publish_missed += c.publish_missed.get();
        }
        m.sends
            .add(foreign_sends.each_ref().map(|n| n.load(Ordering::Relaxed)));
        // Read one counter at a time while the cores run: a close may be seen before its open.
        m.connections_open = opened.saturating_sub(closed);
        m.websockets_open = ws_opened.saturating_sub(ws_closed);
        m.connections_total = opened;
        m.upgrades_total = ws_opened;
        m.closes = CLOSE_CODES
            .iter()
            .map(|&c| Some(c))
            .chain([None])
            .zip(closes)
            .collect();
        m
    }

    /// The Prometheus text exposition format (version 0.0.4), metric names prefixed
    /// `imphnen_`. Serve it with `Content-Type: text/plain; version=0.0.4`.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP imphnen_{name} {help}");
            let _ = writeln!(out, "# TYPE imphnen_{name} {kind}");
            let _ = writeln!(out, "imphnen_{name} {value}");
        };
        let g = "gauge";
        let c = "counter";
        one(
            "connections_open",
            g,
            "TCP connections open (HTTP and WebSocket).",
            self.connections_open,
        );
        one(
            "websockets_open",
            g,
            "WebSocket connections open.",
            self.websockets_open,
        );
        one(
            "http_connections_open",
            g,
            "TCP connections open in the HTTP phase.",
            self.connections_open.saturating_sub(self.websockets_open),
        );
        one(
            "connections_total",
            c,
            "TCP connections accepted.",
            self.connections_total,
        );
        one(
            "websocket_upgrades_total",
            c,
            "WebSocket upgrades.",
            self.upgrades_total,
        );
        one(
            "websocket_messages_received_total",
            c,
            "WebSocket messages received.",
            self.messages_in,
        );
        one(
            "websocket_messages_sent_total",
            c,
            "WebSocket messages queued for sending.",
            self.messages_out,
        );
        one(
            "received_bytes_total",
            c,
            "Bytes received from sockets.",
            self.bytes_in,
        );
        one(
            "sent_bytes_total",
            c,
            "Bytes the kernel took for sending.",
            self.bytes_out,
        );
        one(
            "handler_errors_total",
            c,
            "WebSocket handlers that returned an error.",
            self.handler_errors,
        );
        one(
            "handler_panics_total",
            c,
            "Handlers that panicked.",
            self.handler_panics,
        );
        one(
            "backpressure_pauses_total",
            c,
            "Times a WebSocket's input was held for a peer that did not read.",
            self.backpressure_pauses,
        );
        one(
            "tls_failures_total",
            c,
            "TLS connections closed for plain HTTP, rejected records or a late handshake.",
            self.tls_failures,
        );
        one(
            "publish_deliveries_missed_total",
            c,
            "Deliveries of a publish missed by a subscriber over its backpressure limit.",
            self.publish_missed,
        );
        one(
            "commands_refused_total",
            c,
            "Sends, subscribes, closes and publishes refused by a core whose queue was full.",
            self.commands_refused,
        );
        one(
            "loop_turns_total",
            c,
            "Loop turns of all cores.",
            self.turns,
        );
        one(
            "compressed_messages_total",
            c,
            "Messages compressed with permessage-deflate.",
            self.compressed_messages,
        );
        if let Some(b) = &self.broker {
            let up = u64::from(b.connected);
            one("broker_connected", g, "1 while the broker link is up.", up);
            one(
                "broker_backlog_peak_bytes",
                g,
                "The most bytes from the broker seen unread while a core was full.",
                b.backlog_peak,
            );
            for (name, help, value) in [
                (
                    "reconnects",
                    "Times the broker link came back.",
                    b.reconnects,
                ),
                ("published", "Publishes the broker took.", b.published),
                (
                    "dropped",
                    "Publishes not sent to other nodes (link down, queue full, refused).",
                    b.dropped,
                ),
                (
                    "received",
                    "Messages from the broker handed to the cores.",
                    b.received,
                ),
                (
                    "undelivered",
                    "Broker messages a full core queue did not take.",
                    b.undelivered,
                ),
                (
                    "gaps",
                    "Other nodes' messages missed, from holes in their sequences.",
                    b.gaps,
                ),
                (
                    "echoes",
                    "This node's own messages back from the broker, dropped.",
                    b.echoes,
                ),
                (
                    "foreign",
                    "Broker messages without an imphnen envelope.",
                    b.foreign,
                ),
                (
                    "malformed",
                    "Broker messages that could not be read.",
                    b.malformed,
                ),
            ] {
                one(&format!("broker_{name}_total"), c, help, value);
            }
        }
        labelled(
            &mut out,
            "websocket_sends_total",
            "WebSocket sends by result (SendStatus).",
            "status",
            SEND_STATUSES.iter().copied().zip(self.sends.by_status()),
        );
        labelled(
            &mut out,
            "connections_refused_total",
            "Connections refused by a connection limit.",
            "limit",
            [
                ("server", self.refused_server_limit),
                ("address", self.refused_address_limit),
            ],
        );
        labelled(
            &mut out,
            "websocket_closes_total",
            "WebSocket closes by close code.",
            "code",
            self.closes.iter().map(|(code, n)| match code {
                Some(code) => (code.to_string(), *n),
                None => ("other".to_string(), *n),
            }),
        );
        out
    }
}

/// A counter with one label, one sample per value.
fn labelled<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (V, u64)>,
) {
    let _ = writeln!(out, "# HELP imphnen_{name} {help}");
    let _ = writeln!(out, "# TYPE imphnen_{name} counter");
    for (value, n) in samples {
        let _ = writeln!(out, "imphnen_{name}{{{label}=\"{value}\"}} {n}");
    }
}
