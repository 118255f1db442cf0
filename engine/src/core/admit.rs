//! A new connection meets the server's connection limits (`shared/admission.rs`).
//!
//! Within the limits it becomes an HTTP connection like any other. Over a limit it is answered
//! `503 Service Unavailable` with `Retry-After`, without reading its request, and closed the
//! way every refused request is (FIN, then its input discarded until the peer's FIN, so the
//! answer is not lost to a reset): a browser, a load balancer or a WebSocket client sees why. The
//! answer costs a connection slot for the short time it takes; once a core holds
//! [`MAX_REFUSING`] such answers, further connections over a limit are closed at once, before
//! anything is allocated for them. Refusals are counted by limit and reported in the log at most
//! once per [`WARN_EVERY`] with their number.

use std::collections::HashMap;
use std::net::SocketAddr;

use imphnen_protocol::http::write_service_unavailable;

use super::State;
use crate::conn::{Conn, Flags, Millis};
use crate::driver::{Io, Token, slot_of};
use crate::shared::admission::{Admitted, Refusal};

/// Refusals a core answers at once with a 503; beyond them it closes new connections unanswered.
pub(super) const MAX_REFUSING: usize = 256;

/// What `Retry-After` asks of a refused client, in seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// At most one warning about refusals per this many milliseconds.
const WARN_EVERY: Millis = 10_000;

/// A core's side of the limits: what each of its open connections holds of the shared counts.
#[derive(Default)]
pub(super) struct Admissions {
    /// By slot index, for connections counted against a limit or being refused (empty when
    /// no limit is set).
    by_slot: HashMap<u32, Held>,
    /// Connections being answered 503 now.
    refusing: usize,
    /// Refusals not reported in the log yet, and when the last report was.
    unreported: u64,
    last_warning: Option<Millis>,
}

#[derive(Clone, Copy)]
enum Held {
    Admitted(Admitted),
    Refused,
}

impl<I: Io> State<I> {
    /// A connection was accepted from `peer` on listener `listener` (TLS or plain, as the
    /// server's list of listeners says).
    pub(super) fn accepted(&mut self, socket: I::Socket, peer: SocketAddr, listener: usize) {
        #[cfg(not(feature = "tls"))]
        let _ = listener;
        if self.shutdown_at.is_some() {
            return; // dropping the socket closes it
        }
        let admission = &self.hub.admission;
        let verdict = admission.is_limited().then(|| admission.admit(peer.ip()));
        if let Some(Err(refusal)) = verdict {
            self.refused(refusal, peer);
            if self.admissions.refusing >= MAX_REFUSING {
                return;
            }
        }
        let Some(t) = self.conns.insert(Conn::new_http(peer, self.now)) else {
            tracing::warn!(core = self.index, %peer, "no free connection slot");
            if let Some(Ok(admitted)) = verdict {
                self.hub.admission.leave(admitted);
            }
            return;
        };
        self.counters.connections_opened.add(1);
        let held = verdict.map(|v| v.map_or(Held::Refused, Held::Admitted));
        if let Some(held) = held {
            self.admissions.by_slot.insert(slot_of(t).0, held);
            if let Held::Refused = held {
                self.admissions.refusing += 1;
            }
        }
        if let Err(error) = self.io.open(t, socket) {
            tracing::warn!(core = self.index, %peer, %error, "cannot register a connection");
            self.forget(t);
            return;
        }
        if let Some(Held::Refused) = held {
            // A TLS client could read the 503 only after a handshake: it is closed at once.
            #[cfg(feature = "tls")]
            if self.hub.tls_config_for(listener).is_some() {
                return self.end(t);
            }
            self.answer_unavailable(t);
        } else {
            #[cfg(feature = "tls")]
            self.open_tls(t, listener);
        }
    }

    /// Counts a refusal and reports it in the log now and then.
    fn refused(&mut self, refusal: Refusal, peer: SocketAddr) {
        match refusal {
            Refusal::Server => self.counters.refused_server_limit.add(1),
            Refusal::Address => self.counters.refused_address_limit.add(1),
        }
        tracing::debug!(core = self.index, %peer, ?refusal, "connection over a limit");
        let a = &mut self.admissions;
        a.unreported += 1;
        let due = a
            .last_warning
            .is_none_or(|at| self.now.wrapping_sub(at) >= WARN_EVERY);
        if due {
            tracing::warn!(
                core = self.index,
                refused = a.unreported,
                max_connections = self.cfg.max_connections,
                max_connections_per_address = self.cfg.max_connections_per_address,
                "refusing connections over the connection limits (503, Retry-After)"
            );
            a.unreported = 0;
            a.last_warning = Some(self.now);
        }
    }

    /// Answers `t` with 503 and closes it after the answer.
    fn answer_unavailable(&mut self, t: Token) {
        let date = &self.date;
        if let Some(c) = self.conns.conn(t) {
            c.output.write(&mut self.queues, None, |out| {
                write_service_unavailable(out, RETRY_AFTER_SECS, date)
            });
            c.flags.set(Flags::CLOSE_AFTER_FLUSH);
        }
        self.mark_dirty(t);
    }

    /// The connection `t` is gone: its place in the counts is free.
    pub(super) fn admission_ended(&mut self, t: Token) {
        if self.admissions.by_slot.is_empty() {
            return;
        }
        match self.admissions.by_slot.remove(&slot_of(t).0) {
            Some(Held::Admitted(admitted)) => self.hub.admission.leave(admitted),
            Some(Held::Refused) => self.admissions.refusing -= 1,
            None => {}
        }
    }
}
