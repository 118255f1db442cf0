//! [`UringIo`], the core's half of the io_uring driver: the ring, the sockets by slot, and the
//! requests (open, send, pause and resume receiving, close) as entries on the ring.
//!
//! Owns: each socket's state (a receive armed or being cancelled, its send in flight, closing)
//! and the rule that a slot is released only once nothing of it is in the kernel. Does not own:
//! the completions of a turn or the receive buffers' offsets (`mod.rs`).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use io_uring::types::{CancelBuilder, Fd};
use io_uring::{IoUring, cqueue, opcode, squeue};

use super::GROUP;
use super::op::{Op, user_data};
use crate::buf::{MAX_IOVECS, SendQueue};
use crate::driver::{Completion, Io, Sending, Token, When, slot_of, token};
use crate::sys::socket;
use crate::sys::uring::BufRing;

/// Emptied send descriptors kept for reuse: as many as sends are in flight at a busy moment
/// (one per connection that has output), so a busy core does not allocate one per send. A
/// descriptor is 24 bytes (32 with the allocator's header): 32 KiB when all are kept.
const KEEP_FLIGHTS: usize = 1024;
/// Message headers kept for reuse, likewise. A header is about 1.1 KiB and only a vectored send
/// (`SENDMSG`: shared frames in the queue) takes one, so a burst of plain sends (10,000
/// handshake answers) leaves none behind; a broadcast to many subscribers keeps up to this many.
const KEEP_HEADERS: usize = 1024;

/// What a send's completion came to: the emptied queue, or the failure with the flight whose
/// bytes never left.
type SendDone = Result<Box<SendQueue>, (io::Error, Box<Flight>)>;

/// A send in flight: the queue, and for a vectored send the message header the kernel reads;
/// neither may move until the completion (hence boxed, and pooled).
struct Flight {
    queue: Option<Box<SendQueue>>,
    /// Taken for a `SENDMSG` only: a plain `SEND` points at the queue's bytes directly.
    header: Option<Box<Header>>,
    /// The send completed (or was cancelled) while its connection was closing: its queue is
    /// what `Released` reports as dropped.
    over: bool,
}

// A plain send's whole bookkeeping: the header stays out of it.
const _: () = assert!(std::mem::size_of::<Flight>() <= 24);

/// The message header of a vectored send and the slices it names.
struct Header {
    msg: libc::msghdr,
    iov: [libc::iovec; MAX_IOVECS],
}

// Sock flags.
/// A receive is armed: its final completion has not come.
const ARMED: u8 = 1;
/// A cancel of the armed receive was submitted.
const CANCELLING: u8 = 4;
/// The peer finished (EOF): no receive is armed again.
const EOF: u8 = 8;
/// The socket failed: nothing more is received or sent.
const FAILED: u8 = 16;
/// `close` was asked: waiting for the last operation before `Released`.
const CLOSING: u8 = 32;
/// In the list of receives to arm at the turn's end.
const REARM: u8 = 64;

/// One registered socket (16 bytes: every open connection has one).
struct Sock {
    fd: RawFd,
    generation: u16,
    flags: u8,
    /// The core wants input (its last request).
    wanted: bool,
    sending: Option<Box<Flight>>,
}

const _: () = assert!(std::mem::size_of::<Option<Sock>>() <= 16);

impl Sock {
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// The core's half of the io_uring driver: the ring, its sockets and the requests on them.
pub(crate) struct UringIo {
    pub(super) ring: IoUring,
    /// Kept alive here too: the kernel may write into the buffers until the ring is quiet
    /// (see `Drop`).
    bufs: Rc<BufRing>,
    /// Sockets by slot. A slot is released only after its last operation completed.
    socks: Vec<Option<Sock>>,
    /// Slots let go of (with the send that never left), reported by the next `next`.
    pub(super) released: VecDeque<(Token, Option<Box<SendQueue>>)>,
    /// Completions reaped by a send made [`When::Now`], for the driver to hand out after the
    /// ones it collected.
    pub(super) early: VecDeque<(u64, i32, u32)>,
    /// Receives to arm at the turn's end (resumed, or ended by `ENOBUFS`).
    rearm: Vec<Token>,
    #[allow(clippy::vec_box)] // the boxes are what the kernel points into: moved, not copied
    flights: Vec<Box<Flight>>,
    #[allow(clippy::vec_box)] // likewise
    headers: Vec<Box<Header>>,
    /// Operations submitted (or queued for submission) whose final completion has not come.
    pub(super) pending: usize,
    /// Set by `stop_accepting`; carried out at the end of the turn (`end_turn`).
    pub(super) stop_accepting: bool,
    /// Descriptors of closed connections, closed after the turn's submission: an entry
    /// queued earlier in the turn names the descriptor by number, which must not be reused
    /// (by an accept) before the kernel has read the entry.
    to_close: Vec<RawFd>,
}

/// What a receive's completion means for its socket (the bytes are the driver's business).
pub(super) enum RecvEnd {
    /// Bytes for the token.
    Data(Token),
    /// A completion without bytes for the core.
    Other(Completion<'static, OwnedFd>),
    /// Every buffer was in use: the receive ended and is re-armed after the turn.
    NoBuffers,
}

impl UringIo {
    /// The requests half over `ring`, whose receives pick from `bufs`.
    pub(super) fn new(ring: IoUring, bufs: Rc<BufRing>) -> UringIo {
        UringIo {
            bufs,
            socks: Vec::with_capacity(crate::conn::RESERVED_SLOTS * 2),
            released: VecDeque::new(),
            early: VecDeque::new(),
            rearm: Vec::new(),
            flights: Vec::new(),
            headers: Vec::new(),
            pending: 0,
            stop_accepting: false,
            to_close: Vec::new(),
            ring,
        }
    }

    /// A completion of the receive of slot `slot` (generation `generation`); `None` when
    /// it is not that slot's connection's, or the core need not hear of it.
    pub(super) fn recv_done(
        &mut self,
        slot: u32,
        generation: u32,
        res: i32,
        more: bool,
    ) -> Option<RecvEnd> {
        let sock = match self.socks.get_mut(slot as usize) {
            Some(Some(s)) if s.generation == generation as u16 => s,
            _ => return None,
        };
        let t = token(slot, generation);
        if !more {
            sock.flags &= !(ARMED | CANCELLING);
        }
        if sock.has(CLOSING) {
            if !more {
                self.release_if_idle(t);
            }
            return None;
        }
        if res > 0 {
            if !more {
                self.want_rearm(t);
            }
            return Some(RecvEnd::Data(t));
        }
        if res == 0 {
            sock.flags |= EOF;
            return Some(RecvEnd::Other(Completion::PeerFinished { token: t }));
        }
        match -res {
            libc::ENOBUFS => {
                self.want_rearm(t);
                Some(RecvEnd::NoBuffers)
            }
            libc::ECANCELED | libc::EINTR | libc::EAGAIN => {
                self.want_rearm(t);
                None
            }
            errno => {
                sock.flags |= FAILED;
                sock.wanted = false;
                Some(RecvEnd::Other(Completion::Failed {
                    token: t,
                    error: io::Error::from_raw_os_error(errno),
                }))
            }
        }
    }
    /// Queues `e` for the next submission; a full submission queue is submitted first.
    #[inline]
    pub(super) fn push(&mut self, e: squeue::Entry) {
        // SAFETY (for every entry pushed here): what an entry points to (a send's queue and
        // message header, in a `Flight` box) stays in place until its completion.
        while unsafe { self.ring.submission().push(&e) }.is_err() {
            if let Err(error) = self.ring.submit() {
                tracing::error!(%error, "io_uring submit failed");
                if error.raw_os_error() != Some(libc::EBUSY) {
                    return;
                }
            }
        }
        self.pending += 1;
    }

    #[inline]
    fn sock(&mut self, t: Token) -> Option<&mut Sock> {
        let (slot, generation) = slot_of(t);
        self.socks
            .get_mut(slot as usize)?
            .as_mut()
            .filter(|s| s.generation == generation as u16)
    }

    /// Arms `t`'s receive at the turn's end, if it is still wanted then.
    fn want_rearm(&mut self, t: Token) {
        if let Some(sock) = self.sock(t)
            && !sock.has(REARM)
        {
            sock.flags |= REARM;
            self.rearm.push(t);
        }
    }

    /// Arms a multishot receive on `t`'s socket.
    #[inline]
    fn arm_recv(&mut self, t: Token) {
        let Some(sock) = self.sock(t) else { return };
        if sock.flags & (ARMED | EOF | FAILED | CLOSING) != 0 || !sock.wanted {
            return;
        }
        sock.flags |= ARMED;
        let e = opcode::RecvMulti::new(Fd(sock.fd), GROUP)
            .build()
            .user_data(user_data(Op::Recv, t));
        self.push(e);
    }

    /// Cancels the operation `op` of `t`.
    fn cancel(&mut self, op: Op, t: Token) {
        let e = opcode::AsyncCancel::new(user_data(op, t))
            .build()
            .user_data(Op::Cancel as u64);
        self.push(e);
    }

    /// Puts the send of `flight` (for `t` on `fd`) on the ring.
    fn submit_send(&mut self, t: Token, fd: RawFd, flight: &mut Flight) {
        let queue = flight.queue.as_ref().expect("a flight carries its queue");
        let e = match queue.as_single() {
            Some(bytes) => opcode::Send::new(Fd(fd), bytes.as_ptr(), bytes.len() as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build(),
            None => {
                let h = flight.header.get_or_insert_with(|| {
                    self.headers.pop().unwrap_or_else(|| {
                        Box::new(Header {
                            // SAFETY: an all-zero msghdr is valid (no name, no control data).
                            msg: unsafe { std::mem::zeroed() },
                            iov: [libc::iovec {
                                iov_base: std::ptr::null_mut(),
                                iov_len: 0,
                            }; MAX_IOVECS],
                        })
                    })
                });
                let n = queue.iovecs(&mut h.iov);
                h.msg.msg_iov = h.iov.as_mut_ptr();
                h.msg.msg_iovlen = n as _;
                opcode::SendMsg::new(Fd(fd), &h.msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
            }
        };
        self.push(e.user_data(user_data(Op::Send, t)));
    }

    fn flight(&mut self, queue: Box<SendQueue>) -> Box<Flight> {
        let mut f = self.flights.pop().unwrap_or_else(|| {
            Box::new(Flight {
                queue: None,
                header: None,
                over: false,
            })
        });
        f.queue = Some(queue);
        f.over = false;
        f
    }

    fn recycle(&mut self, mut f: Box<Flight>) -> Option<Box<SendQueue>> {
        let queue = f.queue.take();
        if let Some(h) = f.header.take()
            && self.headers.len() < KEEP_HEADERS
        {
            self.headers.push(h);
        }
        if self.flights.len() < KEEP_FLIGHTS {
            self.flights.push(f);
        }
        queue
    }

    /// A completion of `t`'s send; `None` when the core need not hear of it (yet).
    #[inline]
    pub(super) fn on_send(
        &mut self,
        slot: u32,
        generation: u32,
        res: i32,
    ) -> Option<Completion<'static, OwnedFd>> {
        let t = token(slot, generation);
        match self.send_done(slot, generation, res)? {
            Ok(queue) => Some(Completion::Sent { token: t, queue }),
            Err((error, mut flight)) => {
                // The flight stays until the close, which hands its queue back as dropped.
                flight.over = true;
                if let Some(sock) = self.sock(t) {
                    sock.sending = Some(flight);
                }
                Some(Completion::Failed { token: t, error })
            }
        }
    }

    /// What a send's completion came to: its queue, emptied; the socket's failure, with the
    /// flight whose bytes never left; or `None` while the send goes on (a short send
    /// resubmitted) or nobody waits for it (closing).
    fn send_done(&mut self, slot: u32, generation: u32, res: i32) -> Option<SendDone> {
        let sock = match self.socks.get_mut(slot as usize) {
            Some(Some(s)) if s.generation == generation as u16 => s,
            _ => return None,
        };
        let t = token(slot, generation);
        let fd = sock.fd;
        let mut flight = sock.sending.take()?;
        if sock.has(CLOSING) {
            flight.over = true;
            sock.sending = Some(flight);
            self.release_if_idle(t);
            return None;
        }
        if res < 0 {
            sock.flags |= FAILED;
            sock.wanted = false;
            return Some(Err((io::Error::from_raw_os_error(-res), flight)));
        }
        let queue = flight.queue.as_mut().expect("a flight carries its queue");
        queue.advance(res as usize);
        if !queue.is_empty() {
            // A short send: the rest goes from where the kernel stopped.
            self.submit_send(t, fd, &mut flight);
            if let Some(Some(sock)) = self.socks.get_mut(slot as usize) {
                sock.sending = Some(flight);
            }
            return None;
        }
        Some(Ok(self
            .recycle(flight)
            .expect("a flight carries its queue")))
    }

    /// Submits what is queued and looks for the completion of `t`'s send among what the
    /// kernel completed during the submission (a send with room in the socket buffer
    /// completes there); the other completions wait in `early` for the driver.
    fn send_now(&mut self, t: Token) -> Sending {
        if let Err(error) = self.ring.submit() {
            tracing::debug!(%error, "io_uring submit for an immediate send failed");
            return Sending::InFlight;
        }
        let wanted = user_data(Op::Send, t);
        let mut found = None;
        for c in self.ring.completion() {
            if found.is_none() && c.user_data() == wanted {
                found = Some(c.result());
            } else {
                self.early.push_back((c.user_data(), c.result(), c.flags()));
            }
        }
        let Some(res) = found else {
            return Sending::InFlight;
        };
        self.pending -= 1;
        let (slot, generation) = slot_of(t);
        match self.send_done(slot, generation, res) {
            Some(Ok(queue)) => Sending::Done(queue),
            Some(Err((error, flight))) => {
                let queue = self.recycle(flight).expect("a flight carries its queue");
                Sending::Failed(error, queue)
            }
            None => Sending::InFlight,
        }
    }

    /// Reports the closing socket of `t` `Released` once nothing of it is in the kernel any more.
    fn release_if_idle(&mut self, t: Token) {
        let slot = slot_of(t).0;
        let idle = matches!(
            &self.socks.get(slot as usize),
            Some(Some(s)) if s.has(CLOSING)
                && !s.has(ARMED)
                && s.sending.as_ref().is_none_or(|f| f.over)
        );
        if !idle {
            return;
        }
        let sock = self.socks[slot as usize].take().expect("checked");
        let dropped = sock.sending.and_then(|f| self.recycle(f));
        self.released.push_back((t, dropped));
    }
}

impl Io for UringIo {
    type Socket = OwnedFd;

    fn open(&mut self, t: Token, socket: OwnedFd) -> io::Result<()> {
        let slot = slot_of(t).0 as usize;
        if self.socks.len() <= slot {
            self.socks.resize_with(slot + 1, || None);
        }
        self.socks[slot] = Some(Sock {
            fd: socket.into_raw_fd(),
            generation: slot_of(t).1 as u16,
            flags: 0,
            wanted: true,
            sending: None,
        });
        self.arm_recv(t);
        Ok(())
    }

    fn send(&mut self, t: Token, queue: Box<SendQueue>, when: When) -> Sending {
        let Some(sock) = self.sock(t) else {
            return Sending::Failed(io::ErrorKind::NotConnected.into(), queue);
        };
        if sock.has(FAILED) {
            return Sending::Failed(io::ErrorKind::NotConnected.into(), queue);
        }
        debug_assert!(sock.sending.is_none(), "one send in flight per connection");
        let fd = sock.fd;
        let mut flight = self.flight(queue);
        self.submit_send(t, fd, &mut flight);
        if let Some(sock) = self.sock(t) {
            sock.sending = Some(flight);
        }
        match when {
            When::Batched => Sending::InFlight,
            When::Now => self.send_now(t),
        }
    }

    fn set_receiving(&mut self, t: Token, receiving: bool) {
        let Some(sock) = self.sock(t) else { return };
        if receiving {
            sock.wanted = true;
            if !sock.has(ARMED) {
                self.arm_recv(t);
            }
            // Armed but cancelling: the cancel's final completion re-arms it.
        } else {
            sock.wanted = false;
            if sock.has(ARMED) && !sock.has(CANCELLING) {
                sock.flags |= CANCELLING;
                self.cancel(Op::Recv, t);
            }
        }
    }

    fn shutdown_write(&mut self, t: Token) {
        if let Some(sock) = self.sock(t) {
            socket::shutdown_write(sock.fd);
        }
    }

    fn close(&mut self, t: Token) {
        let Some(sock) = self.sock(t) else {
            self.released.push_back((t, None));
            return;
        };
        sock.flags |= CLOSING;
        sock.wanted = false;
        let fd = sock.fd;
        let cancel_recv = sock.has(ARMED) && !sock.has(CANCELLING);
        // A flight that is `over` already completed (it failed): nothing to cancel.
        let cancel_send = sock.sending.as_ref().is_some_and(|f| !f.over);
        if cancel_recv {
            sock.flags |= CANCELLING;
            self.cancel(Op::Recv, t);
        }
        if cancel_send {
            self.cancel(Op::Send, t);
        }
        // Closed after this turn's submission (see `to_close`); the pending operations hold
        // the socket open until they complete.
        self.to_close.push(fd);
        self.release_if_idle(t);
    }

    fn stop_accepting(&mut self) {
        self.stop_accepting = true;
    }

    fn submit(&mut self) {
        self.bufs.settle();
        for t in std::mem::take(&mut self.rearm) {
            if let Some(sock) = self.sock(t) {
                sock.flags &= !REARM;
            }
            self.arm_recv(t);
        }
        let mut sq = self.ring.submission();
        let needed = !sq.is_empty() || sq.taskrun() || sq.cq_overflow();
        sq.sync();
        drop(sq);
        if needed && let Err(error) = self.ring.submit() {
            // EBUSY: the completion queue is full; what is queued goes with the next submit.
            if error.raw_os_error() != Some(libc::EBUSY) {
                tracing::error!(%error, "io_uring submit failed");
            }
        }
        if !self.to_close.is_empty() {
            if !self.ring.submission().is_empty() {
                // Not everything went in (EBUSY): the closes wait for the next turn.
                return;
            }
            for fd in self.to_close.drain(..) {
                socket::close(fd);
            }
        }
    }
}

impl Drop for UringIo {
    fn drop(&mut self) {
        // Nothing may write into the buffers once they are unmapped: cancel every operation
        // and wait for the last completion before the ring (and then the buffers) go.
        for fd in self.to_close.drain(..) {
            socket::close(fd);
        }
        for sock in self.socks.drain(..).flatten() {
            if !sock.has(CLOSING) {
                socket::close(sock.fd);
            }
            if let Some(f) = sock.sending {
                // The kernel may still read this send's bytes: keep them until it is quiet.
                self.flights.push(f);
            }
        }
        let e = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(Op::Cancel as u64);
        self.push(e);
        for _ in 0..1000 {
            if self.pending == 0 {
                break;
            }
            if self.ring.submit_and_wait(1).is_err() {
                break;
            }
            let mut done = 0;
            for c in self.ring.completion() {
                if !cqueue::more(c.flags()) {
                    done += 1;
                }
            }
            self.pending = self.pending.saturating_sub(done);
        }
        if self.pending != 0 {
            // Should never happen; leaking the memory is the safe way out.
            tracing::error!(
                pending = self.pending,
                "io_uring operations outlived their ring; leaking its buffers"
            );
            std::mem::forget(self.bufs.clone());
            std::mem::forget(std::mem::take(&mut self.flights));
        }
    }
}
