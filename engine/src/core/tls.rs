//! The core's side of TLS: a connection accepted on a TLS listener gets its session, its
//! received records become plaintext for its phases, and the three ways a handshake goes
//! wrong end it — plain HTTP answered `400 Bad Request` in plain HTTP (as nginx does), garbage
//! answered by the alert rustls chose, a handshake still unfinished at the deadline closed.
//! The record layer itself is `tls/`; sending records is the flush's (`flush.rs`).

use imphnen_protocol::http::{StatusCode, write_empty_closing};

use super::State;
use crate::conn::{Flags, Phase};
use crate::driver::{Io, Token, slot_of};
use crate::tls::Received;

impl<I: Io> State<I> {
    /// Starts TLS on `t`, just accepted on `listener`, when that listener serves TLS.
    pub(super) fn open_tls(&mut self, t: Token, listener: usize) {
        let Some(config) = self.hub.tls_config_for(listener) else {
            return;
        };
        match self.tls.open(slot_of(t).0, config, self.now) {
            Ok(()) => {
                if let Some(c) = self.conns.conn(t) {
                    c.flags.set(Flags::TLS);
                }
            }
            Err(error) => {
                tracing::warn!(core = self.index, conn = t, %error, "cannot start TLS");
                self.end(t);
            }
        }
    }

    /// Records arrived for `t`: the plaintext they carry goes through its phase.
    pub(super) fn received_tls(&mut self, t: Token, records: &mut [u8]) {
        let slot = slot_of(t).0;
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        if c.flags.has(Flags::CLOSE_AFTER_FLUSH)
            || matches!(c.phase, Phase::Draining { .. } | Phase::Closed)
        {
            return; // our side is done: the rest is discarded, as plain input is
        }
        match self.tls.receive(slot, records) {
            None => {}
            Some(Received::Plain { peer_closed }) => {
                let mut plain = self.tls.take_plain();
                if !plain.is_empty() {
                    self.received_plain(t, &mut plain);
                }
                self.tls.give_plain(plain);
                if peer_closed {
                    // `close_notify`: the peer sends nothing more, as with its FIN.
                    self.peer_finished(t);
                }
            }
            Some(Received::PlainHttp) => {
                self.counters.tls_failures.add(1);
                self.tls.remove(slot);
                let date = &self.date;
                if let Some(c) = self.conns.conn(t) {
                    tracing::debug!(conn = t, "plain HTTP on the TLS port: 400");
                    c.flags.clear(Flags::TLS);
                    c.output.write(&mut self.queues, None, |out| {
                        write_empty_closing(out, StatusCode::BAD_REQUEST, date)
                    });
                    c.flags.set(Flags::CLOSE_AFTER_FLUSH);
                }
            }
            Some(Received::Fatal(error)) => {
                self.counters.tls_failures.add(1);
                tracing::debug!(conn = t, %error, "TLS failed: alert, then close");
                if let Some(c) = self.conns.conn(t) {
                    c.input.release(&mut self.bytes);
                    c.flags.set(Flags::CLOSE_AFTER_FLUSH);
                }
            }
        }
        self.mark_dirty(t);
    }

    /// `true` (and the connection ended) if `t` is still in its TLS handshake past the
    /// request timeout.
    pub(super) fn tls_overdue(&mut self, t: Token, timeout: u32) -> bool {
        let now = self.now;
        let overdue = self
            .conns
            .conn(t)
            .is_some_and(|c| c.flags.has(Flags::TLS) && matches!(c.phase, Phase::Http(_)))
            && self.tls.handshake_overdue(slot_of(t).0, now, timeout);
        if overdue {
            self.counters.tls_failures.add(1);
            tracing::debug!(conn = t, "TLS handshake past its deadline: closed");
            self.end(t);
        }
        overdue
    }
}
