//! Time on a core: the periodic tick that advances the core clock and the `Date` cache and
//! enforces every timeout (request, keep-alive, lingering close, WebSocket idle and close
//! handshake, TLS handshake, shutdown deadline).

use std::time::{Duration, SystemTime};

use super::{Clock, State};
use crate::config::Config;
use crate::conn::{Flags, Millis, Phase, elapsed};
use crate::driver::{Io, Token};

impl<I: Io> State<I> {
    pub(super) fn tick(&mut self) {
        if let Clock::Real { started } = self.clock {
            self.now = started.elapsed().as_millis() as Millis;
        }
        self.date.update(SystemTime::now());
        let now = self.now;
        let past_deadline = self
            .shutdown_at
            .is_some_and(|d| (now.wrapping_sub(d) as i32) >= 0);
        for slot in 0..self.conns.slot_count() {
            let Some(t) = self.conns.token_at(slot) else {
                continue;
            };
            if past_deadline {
                self.end(t);
            } else {
                self.tick_conn(t, now);
            }
        }
    }

    fn tick_conn(&mut self, t: Token, now: Millis) {
        enum Due {
            Nothing,
            End,
            Idle,
            Http(u16),
            Ws,
        }
        let shutting_down = self.is_shutting_down();
        let http = &self.cfg.http;
        let keep_alive = http.keep_alive_timeout.as_millis() as u32;
        let request_timeout = http.request_timeout.as_millis() as u32;
        #[cfg(feature = "tls")]
        if self.tls_overdue(t, request_timeout) {
            return;
        }
        let Some(c) = self.conns.conn(t) else {
            return;
        };
        let busy = c.flags.has(Flags::BUSY);
        let unsent = !c.output.is_empty() || c.flags.has(Flags::SENDING);
        let due = match &c.phase {
            Phase::Draining { until } if (now.wrapping_sub(*until) as i32) >= 0 => Due::End,
            Phase::Draining { .. } | Phase::Closed => Due::Nothing,
            // The peer stopped reading our responses: neither a 408 nor a lingering close
            // could get past the unread output, so the connection just goes.
            Phase::Http(h) if unsent && elapsed(now, h.last_tx) >= keep_alive => Due::End,
            Phase::Http(h) => match h.request_started {
                Some(s) if !busy && elapsed(now, s) >= request_timeout => Due::Http(408),
                // Idle since the later of its last request's bytes and its last response's
                // (a handler may have run longer than the timeout).
                None if !busy
                    && !unsent
                    && c.input.is_empty()
                    && (shutting_down
                        || elapsed(now, c.last_rx).min(elapsed(now, h.last_tx)) >= keep_alive) =>
                {
                    Due::Idle
                }
                _ => Due::Nothing,
            },
            Phase::Ws(_) => Due::Ws,
        };
        match due {
            Due::Nothing => {}
            Due::End => self.end(t),
            Due::Idle => self.close_idle(t),
            Due::Http(status) => self.http_timeout(t, status),
            Due::Ws => self.ws_tick(t, now),
        }
    }
}

/// The tick period: fine enough for the shortest configured timeout, at most one second.
pub(crate) fn tick_period(cfg: &Config) -> Duration {
    let mut shortest = Duration::from_secs(1);
    for d in [
        cfg.websocket.idle_timeout / 2,
        cfg.websocket.close_timeout,
        cfg.http.keep_alive_timeout,
        cfg.http.request_timeout,
    ] {
        if !d.is_zero() && d < shortest {
            shortest = d;
        }
    }
    (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
}
