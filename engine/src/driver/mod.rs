//! The IO seam: a core never calls `recv` or `send` itself. Its driver hands it completions
//! (a connection accepted, bytes received for token T, a send of T finished, T's peer finished or
//! failed, T released) and takes requests (start receiving on T, send this queue for T, pause or
//! resume receiving, half-close, close, stop accepting).
//!
//! The seam is completion-shaped so that a driver on io_uring (multishot receives from a
//! kernel-owned buffer ring, sends batched into one submission) fits it as well as one on epoll
//! readiness: a send request hands the driver a whole [`SendQueue`], which comes back only when
//! the kernel took every byte, so the bytes of a send in flight never move; a token stays
//! registered until the driver says [`Completion::Released`], so a late completion can never reach
//! the slot's next connection.
//!
//! Drivers:
//! - `uring`: the core's own io_uring ring: multishot receives into a provided-buffer ring,
//!   sends and re-arms of a turn in one submission (the default where io_uring is allowed).
//! - `epoll`: sockets on an epoll set, read into one per-core buffer, written with `sendmsg`.
//! - `memory`: in-process pipes instead of sockets; deterministic when stepped by hand
//!   ([`memory::Stepper`]), for tests and fuzzing.
//!
//! Architecture invariant: a driver knows tokens, sockets and bytes, never connections, protocols
//! or user code. What a completion means is the core's business.

mod accept;
pub(crate) mod epoll;
pub(crate) mod memory;
pub(crate) mod uring;
mod waiter;

use std::io;
use std::net::SocketAddr;

use crate::buf::SendQueue;

pub(crate) use waiter::FdWaiter;

/// The most listening addresses a server may have (each core holds a socket for each).
pub(crate) const MAX_LISTENERS: usize = 16;

/// A connection's key: its slab slot in the low half, the slot's generation in the high half.
pub(crate) type Token = u64;

/// The token of generation `generation` of slot `slot`.
pub(crate) fn token(slot: u32, generation: u32) -> Token {
    (u64::from(generation) << 32) | u64::from(slot)
}

/// The slot and generation of a token.
pub(crate) fn slot_of(token: Token) -> (u32, u32) {
    (token as u32, (token >> 32) as u32)
}

/// Something the driver reports to its core.
pub(crate) enum Completion<'a, S> {
    /// A connection was accepted on the core's `listener`-th listening socket (in the order
    /// the server was given its addresses); the core gives it a token with [`Io::open`] (or
    /// drops the socket, which closes it).
    Accepted {
        socket: S,
        peer: SocketAddr,
        listener: usize,
    },
    /// Bytes arrived for `token`. They live in the driver's buffer until the next completion
    /// is asked for.
    Received { token: Token, bytes: &'a mut [u8] },
    /// The peer of `token` will send nothing more (an orderly FIN).
    PeerFinished { token: Token },
    /// A send of `token` that was still in flight when [`Io::send`] returned is over: the
    /// kernel took every byte of `queue`, which comes back emptied for reuse.
    Sent { token: Token, queue: Box<SendQueue> },
    /// `token`'s socket failed (reset, or an error on a receive or a send); nothing more will be
    /// received or sent. The core still closes the token; a send that was in flight stays with
    /// the driver until then and comes back as [`Completion::Released`]'s `dropped`.
    Failed { token: Token, error: io::Error },
    /// After [`Io::close`]: the driver holds nothing of `token` any more; the slot may be
    /// reused. `dropped` is the send that was still in flight, whose bytes never left.
    Released {
        token: Token,
        dropped: Option<Box<SendQueue>>,
    },
    /// Another thread queued commands for the core (its inbox's wake-up fired).
    Woken,
    /// The periodic tick: time to check timeouts.
    Tick,
}

/// How soon a send request must reach the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum When {
    /// With the rest of the turn's requests (a driver may batch it into one submission).
    Batched,
    /// Before `send` returns: the core needs to know what the kernel takes now (output past its
    /// limit in the middle of a turn, so a reader that keeps up is not judged on bytes the turn
    /// has not flushed yet).
    Now,
}

/// What became of a send request.
pub(crate) enum Sending {
    /// The kernel took every byte at once; the queue comes back emptied.
    Done(Box<SendQueue>),
    /// Some bytes wait for the socket: [`Completion::Sent`] (or `Failed`) follows.
    InFlight,
    /// The socket failed; the queue comes back with the bytes that never left.
    Failed(io::Error, Box<SendQueue>),
}

/// A core's requests to its driver. The core owns this half, so it can ask for a send in the
/// middle of handling a completion (a burst of output over a connection's limit goes to the
/// kernel at once, so a reader that keeps up is not judged on bytes the turn has not flushed).
pub(crate) trait Io: 'static {
    /// What [`Completion::Accepted`] hands over until the core opens it.
    type Socket;

    /// Starts receiving on an accepted socket under `token`.
    fn open(&mut self, token: Token, socket: Self::Socket) -> io::Result<()>;

    /// Sends `queue` for `token`, `when` the core needs it. At most one send per token is in
    /// flight: after [`Sending::InFlight`] the core sends again only after
    /// [`Completion::Sent`].
    fn send(&mut self, token: Token, queue: Box<SendQueue>, when: When) -> Sending;

    /// Stops (`false`) or resumes (`true`) receiving for `token`. Bytes the kernel already
    /// delivered before a stop still arrive as completions.
    fn set_receiving(&mut self, token: Token, receiving: bool);

    /// Sends FIN for `token` (after its last send completed); receiving goes on.
    fn shutdown_write(&mut self, token: Token);

    /// Closes `token`'s socket, dropping a send still in flight; [`Completion::Released`] follows.
    fn close(&mut self, token: Token);

    /// Stops accepting new connections on every listener, for good (shutdown).
    fn stop_accepting(&mut self);

    /// Ends the turn: whatever the requests of this turn need goes to the kernel.
    fn submit(&mut self);
}

/// A core's source of completions, the other half of a driver.
pub(crate) trait Driver {
    /// The requests half.
    type Io: Io;

    /// What the core awaits to sleep until the driver has completions; `None` for a driver that
    /// is stepped by hand and never waited on.
    fn waiter(&self) -> Option<FdWaiter>;

    /// Collects what the kernel has for the core (its waiter fired): the completions then
    /// come out of [`next`](Self::next).
    fn collect(&mut self, io: &mut Self::Io);

    /// Completions (or collected events that may make some) are ready without waiting.
    fn has_queued(&self, io: &Self::Io) -> bool;

    /// The kernel has posted completions since the last [`collect`](Self::collect) (the
    /// turn's submission ran their work): a core may collect them at once instead of waiting.
    /// `false` for drivers that cannot tell without a system call.
    fn completions_posted(&self, _io: &mut Self::Io) -> bool {
        false
    }

    /// Carries out what the turn asked of the listeners (`Io::stop_accepting`): called at the
    /// end of every turn, before [`Io::submit`], so a shutdown closes them at once rather than
    /// at the next wake-up.
    fn end_turn(&mut self, _io: &mut Self::Io) {}

    /// The next completion collected or queued, if any; no syscall but what an event needs
    /// (a receive, an accept).
    fn next<'a>(
        &'a mut self,
        io: &mut Self::Io,
    ) -> Option<Completion<'a, <Self::Io as Io>::Socket>>;
}
