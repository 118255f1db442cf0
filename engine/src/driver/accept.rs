//! Descriptor exhaustion: what a listener does when `accept` fails for want of file descriptors.
//!
//! On `EMFILE`/`ENFILE` (or the kernel out of socket memory) the pending connection stays in the
//! backlog and the listener stays readable, so retrying at once would spin a core at 100 % and
//! print an error every turn. Instead the driver stops watching the listener for a short back-off,
//! keeps serving the connections it has, and tries again when the back-off is over; the backlog
//! is served as soon as descriptors are free. Each episode is reported once when it starts and
//! once when it ends, with the number of refused accepts.

use std::io;
use std::time::{Duration, Instant};

/// How long accepting pauses after a failure for want of descriptors.
pub(crate) const BACKOFF: Duration = Duration::from_millis(100);

/// The state of a listener's accepting.
#[derive(Default)]
pub(crate) struct AcceptGate {
    /// Accepting is paused until then.
    paused_until: Option<Instant>,
    /// The current episode: when it started and how many accepts failed in it.
    episode: Option<(Instant, u64)>,
}

/// `true` for the accept errors that mean "no descriptor (or socket memory) for now".
pub(crate) fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl AcceptGate {
    /// An accept failed for want of descriptors at `now`: pause; the first failure of an
    /// episode is logged.
    pub(crate) fn refused(&mut self, core: usize, error: &io::Error, now: Instant) {
        self.paused_until = Some(now + BACKOFF);
        match &mut self.episode {
            Some((_, count)) => *count += 1,
            None => {
                self.episode = Some((now, 1));
                tracing::warn!(
                    core,
                    %error,
                    backoff_ms = BACKOFF.as_millis() as u64,
                    "accept failed for want of descriptors; pausing accepts (open connections \
                     are still served)"
                );
            }
        }
    }

    /// A connection was accepted: an episode in progress is over.
    pub(crate) fn accepted(&mut self, core: usize, now: Instant) {
        if let Some((started, refused)) = self.episode.take() {
            tracing::warn!(
                core,
                refused,
                lasted_ms = now.duration_since(started).as_millis() as u64,
                "accepting again after running out of descriptors"
            );
        }
    }

    /// Ends the pause once its time is over; `true` when the listener should be watched again.
    pub(crate) fn resume_due(&mut self, now: Instant) -> bool {
        match self.paused_until {
            Some(until) if now >= until => {
                self.paused_until = None;
                true
            }
            _ => false,
        }
    }
}
