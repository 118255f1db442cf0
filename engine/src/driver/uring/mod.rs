//! The io_uring driver: every receive, send and accept is an operation on the core's own ring,
//! and a turn's requests reach the kernel in one `io_uring_enter`.
//!
//! - Receives: one multishot receive per connection, armed once, picking buffers from the
//!   core's provided-buffer ring (`sys/uring.rs`), so an idle connection holds no receive
//!   buffer. A completion's bytes are lent to the core for that completion only; the buffer goes
//!   back to the kernel before the next completion is read, or at the turn's end. `ENOBUFS`
//!   (every buffer in use) ends a multishot receive without losing a byte: it is counted and the
//!   receive re-armed when the turn's buffers are back.
//! - Sends: one `SEND` (own bytes) or `SENDMSG` (own bytes and shared frames) per send request,
//!   over the connection's whole [`SendQueue`], which stays where it is until the completion;
//!   a short send goes on from where the kernel stopped. At most one send per connection is in
//!   flight, so output keeps its order.
//! - Pausing a connection's input cancels its receive; resuming arms a new one. Completions that
//!   arrive before the cancel lands are delivered (the seam allows it).
//! - Closing cancels what is pending, closes the descriptor and reports `Released` only once
//!   the last operation of the connection has completed, so no completion can reach the slot's
//!   next connection (the slot's generation rides in `user_data` as well, and a completion that
//!   does not match returns its buffer and is dropped).
//! - Accepting: one multishot accept per listening socket (its index rides in `user_data`
//!   where a connection's slot would); descriptor exhaustion ends it, and it is re-armed after
//!   the back-off (`accept.rs`). The inbox's eventfd and the tick's timerfd are watched with
//!   multishot polls.
//!
//! The core sleeps by awaiting the ring's fd through monoio, as it awaits the epoll fd on the
//! epoll driver (`waiter.rs`); the ring is set up without deferred task running for that reason.
//!
//! Two halves: [`UringIo`] (`requests.rs`: the ring, the sockets by slot, the requests) belongs
//! to the core; [`UringDriver`] (here: the completions of a turn, the buffers' read offsets, the
//! listeners and their accept back-off) produces the completions. `op.rs` names operations in
//! `user_data`.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use io_uring::types::Fd;
use io_uring::{cqueue, opcode};

use super::accept::{AcceptGate, is_exhaustion};
use super::{Completion, Driver, FdWaiter, Token};
use crate::config::UringConfig;
use crate::sys::fd::TimerFd;
use crate::sys::socket;
use crate::sys::uring::{BufRing, CQE_F_BUF_MORE};
use op::{Op, accept_data, parse};
use requests::RecvEnd;
pub(crate) use requests::UringIo;

mod op;
mod requests;

/// The buffer group of the core's receive buffers.
const GROUP: u16 = 0;

/// What a receive's completion came to.
enum Received {
    /// Bytes `at..at + len` of buffer `id` for the token.
    Data(Token, u16, u32, u32),
    /// A completion without bytes.
    Other(Completion<'static, OwnedFd>),
}

/// The completion half of the io_uring driver.
pub(crate) struct UringDriver {
    core: usize,
    waiter: FdWaiter,
    bufs: Rc<BufRing>,
    /// Per buffer, how much of it earlier completions used (incremental consumption).
    used: Box<[u32]>,
    /// The completions of the last `collect`, handed out from `pos` on.
    cqes: Vec<(u64, i32, u32)>,
    pos: usize,
    /// The listening sockets, by index (emptied when accepting stops).
    listeners: Vec<Listening>,
    wake_fd: RawFd,
    timer: TimerFd,
    /// Receives ended because every buffer was in use.
    no_buffers: u64,
    /// The buffers offered were doubled during this turn's completions: every `ENOBUFS` among
    /// them came from the same shortage, so they grow the offer once, not once each.
    grown: bool,
}

/// One listening socket, whether its multishot accept is armed, and its accept back-off.
struct Listening {
    socket: TcpListener,
    accepting: bool,
    gate: AcceptGate,
}

impl UringDriver {
    /// A driver for core `core` accepting on `listeners`, woken by `wake_fd`, ticking every
    /// `tick`. Must be called on the core's thread, inside its monoio runtime.
    pub(crate) fn new(
        core: usize,
        listeners: Vec<TcpListener>,
        wake_fd: RawFd,
        tick: Duration,
        buffers: UringConfig,
    ) -> io::Result<(UringDriver, UringIo)> {
        let ring = crate::sys::uring::ring()?;
        let (incremental, whole) = buffers.shapes();
        let bufs = Rc::new(BufRing::register(&ring, GROUP, incremental, whole)?);
        let timer = TimerFd::periodic(tick)?;
        let mut io = UringIo::new(ring, bufs.clone());
        let driver = UringDriver {
            core,
            waiter: FdWaiter::new(io.ring.as_raw_fd())?,
            used: vec![0; usize::from(bufs.count())].into_boxed_slice(),
            bufs,
            cqes: Vec::with_capacity(1024),
            pos: 0,
            listeners: listeners
                .into_iter()
                .map(|socket| Listening {
                    socket,
                    accepting: false,
                    gate: AcceptGate::default(),
                })
                .collect(),
            wake_fd,
            timer,
            no_buffers: 0,
            grown: false,
        };
        let mut driver = driver;
        for i in 0..driver.listeners.len() {
            driver.arm_accept(&mut io, i);
        }
        driver.arm_poll(&mut io, Op::Wake);
        driver.arm_poll(&mut io, Op::Tick);
        io.ring.submit()?;
        tracing::debug!(
            core,
            incremental = driver.bufs.is_incremental(),
            buffers = driver.bufs.count(),
            buffer_size = driver.bufs.buffer_size(),
            "io_uring driver ready"
        );
        Ok((driver, io))
    }

    /// Arms listener `i`'s multishot accept unless it is armed (or accepting stopped).
    fn arm_accept(&mut self, io: &mut UringIo, i: usize) {
        if let Some(l) = self.listeners.get_mut(i)
            && !l.accepting
        {
            let e = opcode::AcceptMulti::new(Fd(l.socket.as_raw_fd()))
                .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                .build()
                .user_data(accept_data(i));
            io.push(e);
            l.accepting = true;
        }
    }

    fn arm_poll(&mut self, io: &mut UringIo, op: Op) {
        let fd = match op {
            Op::Wake => self.wake_fd,
            _ => self.timer.as_raw_fd(),
        };
        let e = opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(op as u64);
        io.push(e);
    }

    /// A completion of listener `i`'s multishot accept.
    #[cold]
    fn on_accept(
        &mut self,
        io: &mut UringIo,
        i: usize,
        res: i32,
        more: bool,
    ) -> Option<Completion<'static, OwnedFd>> {
        // Accepted while stopping: dropped, which closes it.
        let Some(l) = self.listeners.get_mut(i) else {
            if res >= 0 {
                // SAFETY: the kernel installed a fresh descriptor for us.
                drop(unsafe { OwnedFd::from_raw_fd(res) });
            }
            return None;
        };
        if !more {
            l.accepting = false;
        }
        if res >= 0 {
            // SAFETY: the kernel installed a fresh descriptor for us.
            let socket = unsafe { OwnedFd::from_raw_fd(res) };
            l.gate.accepted(self.core, Instant::now());
            if !more {
                self.arm_accept(io, i);
            }
            return match socket::peer_addr(socket.as_raw_fd()) {
                Ok(peer) => Some(Completion::Accepted {
                    socket,
                    peer,
                    listener: i,
                }),
                Err(_) => None, // reset before we looked: nothing to serve
            };
        }
        let error = io::Error::from_raw_os_error(-res);
        if is_exhaustion(&error) {
            // Re-armed by the tick once the back-off is over.
            l.gate.refused(self.core, &error, Instant::now());
        } else if res == -libc::ECANCELED {
            // Stopped on purpose.
        } else {
            tracing::warn!(core = self.core, %error, "accept failed");
            if !more {
                self.arm_accept(io, i);
            }
        }
        None
    }

    #[cold]
    fn on_tick(&mut self, io: &mut UringIo) {
        self.timer.drain();
        let now = Instant::now();
        for i in 0..self.listeners.len() {
            if self.listeners[i].gate.resume_due(now) {
                self.arm_accept(io, i);
            }
        }
    }

    /// A completion of `t`'s multishot receive; `None` when the core need not hear of it.
    #[inline]
    fn on_recv(
        &mut self,
        io: &mut UringIo,
        slot: u32,
        generation: u32,
        res: i32,
        flags: u32,
    ) -> Option<Received> {
        let more = cqueue::more(flags);
        // The buffer first: whatever becomes of the completion, its bytes are accounted for.
        let bytes = cqueue::buffer_select(flags).map(|id| {
            let at = std::mem::replace(&mut self.used[usize::from(id)], 0);
            let len = res.max(0) as u32;
            // An incrementally consumed buffer is done with only when the kernel says so on a
            // completion that used some of it: one of no bytes (an end of stream) moves
            // nothing, and giving its buffer back then would offer it again from its start
            // while the kernel may still be filling it.
            if flags & CQE_F_BUF_MORE != 0 || (len == 0 && self.bufs.is_incremental()) {
                self.used[usize::from(id)] = at + len;
            } else {
                self.bufs.lend(id);
            }
            (id, at, len)
        });
        // A completion that is not this slot's connection's returns its buffer (above) only.
        match io.recv_done(slot, generation, res, more)? {
            RecvEnd::Data(t) => {
                let (id, at, len) = bytes?;
                Some(Received::Data(t, id, at, len))
            }
            RecvEnd::Other(c) => Some(Received::Other(c)),
            RecvEnd::NoBuffers => {
                self.no_buffers += 1;
                let grown = !std::mem::replace(&mut self.grown, true) && self.bufs.grow();
                tracing::debug!(
                    core = self.core,
                    times = self.no_buffers,
                    grown,
                    "every receive buffer in use; receive re-armed after the turn"
                );
                None
            }
        }
    }
}

impl Driver for UringDriver {
    type Io = UringIo;

    fn waiter(&self) -> Option<FdWaiter> {
        Some(self.waiter.clone())
    }

    fn end_turn(&mut self, io: &mut UringIo) {
        if std::mem::take(&mut io.stop_accepting) {
            for (i, l) in self.listeners.drain(..).enumerate() {
                if l.accepting {
                    let e = opcode::AsyncCancel::new(accept_data(i))
                        .build()
                        .user_data(Op::Cancel as u64);
                    io.push(e);
                }
            }
        }
    }

    fn collect(&mut self, io: &mut UringIo) {
        self.cqes.clear();
        self.pos = 0;
        self.grown = false;
        self.cqes.extend(io.early.drain(..));
        self.cqes.extend(
            io.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
    }

    #[inline]
    fn completions_posted(&self, io: &mut UringIo) -> bool {
        !io.ring.completion().is_empty()
    }

    #[inline]
    fn has_queued(&self, io: &UringIo) -> bool {
        !io.released.is_empty() || self.pos < self.cqes.len() || !io.early.is_empty()
    }

    fn next<'a>(&'a mut self, io: &mut UringIo) -> Option<Completion<'a, OwnedFd>> {
        let (t, id, at, len) = loop {
            // The previous completion's bytes are done with.
            self.bufs.settle();
            if let Some((token, dropped)) = io.released.pop_front() {
                return Some(Completion::Released { token, dropped });
            }
            let (user_data, res, flags) = match self.cqes.get(self.pos) {
                Some(&c) => {
                    self.pos += 1;
                    c
                }
                None => io.early.pop_front()?,
            };
            let more = cqueue::more(flags);
            if !more {
                io.pending -= 1;
            }
            let (op, slot, generation) = parse(user_data);
            let done = match op {
                Some(Op::Recv) => match self.on_recv(io, slot, generation, res, flags) {
                    Some(Received::Data(t, id, at, len)) => break (t, id, at, len),
                    Some(Received::Other(c)) => Some(c),
                    None => None,
                },
                Some(Op::Send) => io.on_send(slot, generation, res),
                Some(Op::Accept) => self.on_accept(io, slot as usize, res, more),
                Some(Op::Wake) => {
                    if !more {
                        self.arm_poll(io, Op::Wake);
                    }
                    Some(Completion::Woken)
                }
                Some(Op::Tick) => {
                    self.on_tick(io);
                    if !more {
                        self.arm_poll(io, Op::Tick);
                    }
                    Some(Completion::Tick)
                }
                Some(Op::Cancel) | None => None,
            };
            if done.is_some() {
                return done;
            }
        };
        // SAFETY: the kernel handed these bytes over in this completion and offers their buffer
        // again only at the next `settle` (the next `next` or the turn's end), after the core is
        // done with them; nothing else refers to them meanwhile.
        let bytes = unsafe { self.bufs.bytes(id, at, len) };
        Some(Completion::Received { token: t, bytes })
    }
}

/// Whether io_uring with everything this driver needs can be set up here (a kernel that has
/// it, not disabled by `kernel.io_uring_disabled` or a seccomp profile).
///
/// The trial ring is made and dropped on a thread of its own: tearing a ring down makes the
/// kernel queue a notification to every thread that used it, which interrupts a blocking call
/// with a timeout (`EINTR`) on the caller's thread.
pub(crate) fn available() -> io::Result<()> {
    std::thread::spawn(|| {
        let ring = crate::sys::uring::ring()?;
        BufRing::register(&ring, GROUP, (2, 4096), (2, 4096)).map(drop)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the io_uring probe panicked")))
}
