//! Time on a core: the periodic tick that advances the core clock and the `Date` cache and
//! enforces every timeout (request, keep-alive, lingering close, WebSocket idle and close
//! handshake, shutdown deadline).

use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::conn::{Phase, Token};
use crate::core::Core;

impl Core {
    pub(crate) fn tick(&self) {
        self.now_ms.set(self.started.elapsed().as_millis() as u64);
        self.date.borrow_mut().update(SystemTime::now());
        let now = self.now_ms();
        let past_deadline = self.shutdown_deadline.get().is_some_and(|d| now >= d);
        self.each_connection(|t| {
            if past_deadline {
                self.free(t);
            } else {
                self.tick_conn(t, now);
            }
        });
    }

    fn tick_conn(&self, t: Token, now: u64) {
        enum Due {
            Nothing,
            Free,
            Http(u16),
            Ws,
        }
        let due = {
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            let http = &self.cfg.http;
            match &c.phase {
                Phase::Draining { until_ms } if now >= *until_ms => Due::Free,
                Phase::Draining { .. } => Due::Nothing,
                // The peer stopped reading our responses: neither a 408 nor a lingering close
                // could get past the unread output, so the connection just goes.
                Phase::Http(_)
                    if !c.out.is_empty()
                        && now.saturating_sub(c.last_tx_ms)
                            >= http.keep_alive_timeout.as_millis() as u64 =>
                {
                    Due::Free
                }
                Phase::Http(h) => match h.request_started_ms {
                    Some(s)
                        if !c.busy
                            && now.saturating_sub(s) >= http.request_timeout.as_millis() as u64 =>
                    {
                        Due::Http(408)
                    }
                    None if !c.busy
                        && c.out.is_empty()
                        && c.inbuf.is_empty()
                        && (self.is_shutting_down()
                            || now.saturating_sub(c.last_rx_ms)
                                >= http.keep_alive_timeout.as_millis() as u64) =>
                    {
                        Due::Free
                    }
                    _ => Due::Nothing,
                },
                Phase::Ws(_) => Due::Ws,
            }
        };
        match due {
            Due::Nothing => {}
            Due::Free => self.free(t),
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
