//! The epoll driver: sockets in an epoll set, read into one per-core buffer when ready, written
//! with one vectored `sendmsg` per send (and again when the socket drains).
//!
//! The core sleeps on the epoll fd itself (through monoio, `waiter.rs`); a turn drains ready
//! events with one non-blocking `epoll_wait`. The set also holds the listeners, the core's
//! wake-up eventfd and its tick timerfd. A send is tried at once: if the kernel takes
//! everything the send is over before the request returns; otherwise the rest waits for
//! `EPOLLOUT`.
//!
//! Two halves: [`EpollIo`] (the sockets by slot, the requests) belongs to the core;
//! [`EpollDriver`] (the read buffer, the ready list, the listeners and their accept back-off)
//! produces the completions.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::accept::{AcceptGate, is_exhaustion};
use super::{Completion, Driver, FdWaiter, Io, MAX_LISTENERS, Sending, Token, When, slot_of};
use crate::buf::{MAX_IOVECS, SendQueue};
use crate::sys::epoll::{Epoll, READ, Ready, WRITE};
use crate::sys::fd::TimerFd;
use crate::sys::socket::{self, Recv};

const WAKE: Token = u64::MAX;
const TIMER: Token = u64::MAX - 1;
/// The token of listener 0; listener `i` is `LISTENER - i` (a connection's token never comes
/// near: its generation would have to be `u32::MAX`).
const LISTENER: Token = u64::MAX - 2;
/// The core's shared read buffer.
const READ_BUF: usize = 64 << 10;
/// At most this many accepts per turn, so a connection storm cannot starve open connections.
const ACCEPTS_PER_TURN: usize = 128;

const INTEREST_READ: u8 = 1;
const INTEREST_WRITE: u8 = 2;
/// The socket failed: nothing is watched any more (a send in flight waits for the close).
const FAILED: u8 = 128;

/// One registered socket (16 bytes: every open connection has one).
struct Sock {
    fd: RawFd,
    /// The interest registered with epoll (`INTEREST_*` bits), and `FAILED`.
    interest: u8,
    /// Receiving is wanted (the core's last request; cleared for good at FIN or failure).
    receiving: bool,
    /// The send in flight: what the kernel has not taken yet.
    sending: Option<Box<SendQueue>>,
}

const _: () = assert!(std::mem::size_of::<Option<Sock>>() <= 16);

/// A completion produced by a request, delivered by the next `next`.
enum Queued {
    Sent(Token, Box<SendQueue>),
    Released(Token, Option<Box<SendQueue>>),
}

/// The core's half of the epoll driver: its sockets and the requests on them.
pub(crate) struct EpollIo {
    epoll: Rc<Epoll>,
    /// Sockets by slot. A slot is reused only after its token was released, and the ready list
    /// of a turn is fetched before any request of that turn, so an event's slot always names
    /// the socket it was meant for.
    socks: Vec<Option<Sock>>,
    queued: VecDeque<Queued>,
    /// Set by `stop_accepting`; the listeners are dropped at the end of the turn.
    stop_accepting: bool,
}

/// The completion half of the epoll driver.
pub(crate) struct EpollDriver {
    core: usize,
    epoll: Rc<Epoll>,
    waiter: FdWaiter,
    /// The listening sockets, by index (emptied when accepting stops).
    listeners: Vec<Listening>,
    timer: TimerFd,
    accepted: VecDeque<(OwnedFd, SocketAddr, usize)>,
    /// Events of the last `collect`, handed out from `pos` on.
    ready: Vec<Ready>,
    pos: usize,
    read_buf: Box<[u8]>,
}

/// One listening socket and its accept back-off.
struct Listening {
    socket: TcpListener,
    gate: AcceptGate,
}

impl EpollDriver {
    /// A driver for core `core` accepting on `listeners`, woken by `wake_fd`, ticking every
    /// `tick`. Must be called inside the core's monoio runtime.
    pub(crate) fn new(
        core: usize,
        listeners: Vec<TcpListener>,
        wake_fd: RawFd,
        tick: Duration,
    ) -> io::Result<(EpollDriver, EpollIo)> {
        let epoll = Rc::new(Epoll::new()?);
        let timer = TimerFd::periodic(tick)?;
        for (i, l) in listeners.iter().enumerate() {
            epoll.add(l.as_raw_fd(), LISTENER - i as Token, READ)?;
        }
        epoll.add(wake_fd, WAKE, READ)?;
        epoll.add(timer.as_raw_fd(), TIMER, READ)?;
        let driver = EpollDriver {
            core,
            waiter: FdWaiter::new(epoll.as_raw_fd())?,
            epoll: epoll.clone(),
            listeners: listeners
                .into_iter()
                .map(|socket| Listening {
                    socket,
                    gate: AcceptGate::default(),
                })
                .collect(),
            timer,
            accepted: VecDeque::new(),
            ready: Vec::with_capacity(crate::sys::epoll::MAX_EVENTS),
            pos: 0,
            read_buf: vec![0u8; READ_BUF].into_boxed_slice(),
        };
        let io = EpollIo {
            epoll,
            // See `RESERVED_SLOTS`.
            socks: Vec::with_capacity(crate::conn::RESERVED_SLOTS * 2),
            queued: VecDeque::new(),
            stop_accepting: false,
        };
        Ok((driver, io))
    }

    /// Listener `i` is readable: accept what it has (up to a turn's share).
    #[cold]
    fn accept(&mut self, i: usize) {
        let Some(l) = self.listeners.get_mut(i) else {
            return;
        };
        let lfd = l.socket.as_raw_fd();
        for _ in 0..ACCEPTS_PER_TURN {
            match socket::accept(lfd) {
                Ok(Some((fd, peer))) => {
                    l.gate.accepted(self.core, Instant::now());
                    // SAFETY: `accept` returned a fresh descriptor that nothing else owns.
                    self.accepted
                        .push_back((unsafe { OwnedFd::from_raw_fd(fd) }, peer, i));
                }
                Ok(None) => return,
                Err(e) if is_exhaustion(&e) => {
                    l.gate.refused(self.core, &e, Instant::now());
                    // Level-triggered: a readable listener would wake every turn. Unwatched
                    // until the back-off is over (`on_tick`).
                    let _ = self.epoll.delete(lfd);
                    return;
                }
                Err(error) => {
                    tracing::warn!(core = self.core, %error, "accept failed");
                    return;
                }
            }
        }
    }

    #[cold]
    fn on_tick(&mut self) {
        let now = Instant::now();
        for (i, l) in self.listeners.iter_mut().enumerate() {
            if l.gate.resume_due(now) {
                let _ = self
                    .epoll
                    .add(l.socket.as_raw_fd(), LISTENER - i as Token, READ);
            }
        }
    }
}

/// What one socket event came to.
enum Outcome {
    Nothing,
    Received(Token, usize),
    Finished(Token),
    Failed(Token, io::Error),
}

impl EpollIo {
    #[inline]
    fn sock(&mut self, t: Token) -> Option<&mut Sock> {
        self.socks.get_mut(slot_of(t).0 as usize)?.as_mut()
    }

    /// Registers the interest the socket of `t` needs now, if it changed.
    fn sync_interest(&mut self, t: Token) {
        let epoll = self.epoll.clone();
        let Some(sock) = self.sock(t) else { return };
        let failed = sock.interest & FAILED;
        let want = if failed != 0 {
            0
        } else {
            u8::from(sock.receiving) * INTEREST_READ
                + u8::from(sock.sending.is_some()) * INTEREST_WRITE
        };
        if want != sock.interest & !FAILED {
            sock.interest = want | failed;
            let mut events = 0;
            if want & INTEREST_READ != 0 {
                events |= READ;
            }
            if want & INTEREST_WRITE != 0 {
                events |= WRITE;
            }
            let _ = epoll.modify(sock.fd, t, events);
        }
    }

    /// The socket of `t` failed: nothing more is watched or sent.
    #[cold]
    fn fail(&mut self, t: Token) {
        if let Some(sock) = self.sock(t) {
            // A send in flight stays until the close, which hands it back as dropped.
            sock.receiving = false;
            sock.interest |= FAILED;
        }
        self.sync_interest(t);
    }

    /// Handles one ready event of a connection's socket; reads into `buf`.
    fn on_socket(&mut self, ev: Ready, buf: &mut [u8]) -> Outcome {
        let t = ev.token;
        let Some(sock) = self.sock(t) else {
            return Outcome::Nothing;
        };
        if sock.interest & FAILED != 0 {
            return Outcome::Nothing; // an event fetched before the failure
        }
        let fd = sock.fd;
        if ev.hung_up() && !sock.receiving && sock.sending.is_none() {
            // Neither a read nor a write is due to tell the error (input paused or finished,
            // nothing to send), and epoll reports it every turn however little is watched:
            // the connection fails now rather than spin the core until it has output.
            let error = socket::take_error(fd);
            self.fail(t);
            return Outcome::Failed(t, error);
        }
        if ev.readable() && sock.receiving && sock.sending.is_none() {
            // The common case: input, nothing waiting to go out.
            return self.receive(t, fd, buf);
        }
        if ev.writable()
            && let Some(queue) = sock.sending.as_mut()
        {
            match write_some(fd, queue) {
                Ok(true) => {
                    let queue = sock.sending.take().expect("checked");
                    self.queued.push_back(Queued::Sent(t, queue));
                    self.sync_interest(t);
                }
                Ok(false) => {}
                Err(error) => {
                    self.fail(t);
                    return Outcome::Failed(t, error);
                }
            }
        }
        if !(ev.readable() && self.sock(t).is_some_and(|s| s.receiving)) {
            return Outcome::Nothing;
        }
        self.receive(t, fd, buf)
    }

    /// One receive on the socket of `t`.
    #[inline]
    fn receive(&mut self, t: Token, fd: RawFd, buf: &mut [u8]) -> Outcome {
        match socket::recv(fd, buf) {
            Ok(Recv::Data(n)) => Outcome::Received(t, n),
            Ok(Recv::WouldBlock) => Outcome::Nothing,
            Ok(Recv::Eof) => {
                // Level-triggered: a socket at EOF stays readable; stop watching for input.
                if let Some(sock) = self.sock(t) {
                    sock.receiving = false;
                }
                self.sync_interest(t);
                Outcome::Finished(t)
            }
            Err(error) => {
                self.fail(t);
                Outcome::Failed(t, error)
            }
        }
    }
}

/// Writes as much of `queue` as the socket takes now; `Ok(true)` once it is empty.
#[inline]
fn write_some(fd: RawFd, queue: &mut SendQueue) -> io::Result<bool> {
    let n = match queue.as_single() {
        Some(bytes) => socket::send(fd, bytes)?,
        None => {
            let mut iov = Vec::with_capacity(MAX_IOVECS);
            queue.io_slices(&mut iov);
            socket::send_vectored(fd, &iov)?
        }
    };
    queue.advance(n);
    Ok(queue.is_empty())
}

impl Driver for EpollDriver {
    type Io = EpollIo;

    fn waiter(&self) -> Option<FdWaiter> {
        Some(self.waiter.clone())
    }

    fn end_turn(&mut self, io: &mut EpollIo) {
        if std::mem::take(&mut io.stop_accepting) {
            for l in self.listeners.drain(..) {
                let _ = self.epoll.delete(l.socket.as_raw_fd());
            }
            self.accepted.clear();
        }
    }

    fn collect(&mut self, _io: &mut EpollIo) {
        self.ready.clear();
        self.pos = 0;
        if let Err(error) = self.epoll.poll_now(&mut self.ready) {
            tracing::error!(core = self.core, %error, "epoll_wait failed");
        }
    }

    #[inline]
    fn has_queued(&self, io: &EpollIo) -> bool {
        !io.queued.is_empty() || !self.accepted.is_empty() || self.pos < self.ready.len()
    }

    fn next<'a>(&'a mut self, io: &mut EpollIo) -> Option<Completion<'a, OwnedFd>> {
        let outcome = loop {
            if let Some(q) = io.queued.pop_front() {
                return Some(match q {
                    Queued::Sent(token, queue) => Completion::Sent { token, queue },
                    Queued::Released(token, dropped) => Completion::Released { token, dropped },
                });
            }
            if let Some((socket, peer, listener)) = self.accepted.pop_front() {
                return Some(Completion::Accepted {
                    socket,
                    peer,
                    listener,
                });
            }
            let &ev = self.ready.get(self.pos)?;
            self.pos += 1;
            match ev.token {
                WAKE => return Some(Completion::Woken),
                TIMER => {
                    self.timer.drain();
                    self.on_tick();
                    return Some(Completion::Tick);
                }
                t if LISTENER - t < MAX_LISTENERS as Token => self.accept((LISTENER - t) as usize),
                _ => match io.on_socket(ev, &mut self.read_buf) {
                    Outcome::Nothing => {}
                    other => break other,
                },
            }
        };
        Some(match outcome {
            Outcome::Received(token, n) => Completion::Received {
                token,
                bytes: &mut self.read_buf[..n],
            },
            Outcome::Finished(token) => Completion::PeerFinished { token },
            Outcome::Failed(token, error) => Completion::Failed { token, error },
            Outcome::Nothing => unreachable!("the loop only breaks with an outcome"),
        })
    }
}

impl Io for EpollIo {
    type Socket = OwnedFd;

    fn open(&mut self, t: Token, socket: OwnedFd) -> io::Result<()> {
        self.epoll.add(socket.as_raw_fd(), t, READ)?;
        let slot = slot_of(t).0 as usize;
        if self.socks.len() <= slot {
            self.socks.resize_with(slot + 1, || None);
        }
        self.socks[slot] = Some(Sock {
            fd: socket.into_raw_fd(),
            interest: INTEREST_READ,
            receiving: true,
            sending: None,
        });
        Ok(())
    }

    fn send(&mut self, t: Token, mut queue: Box<SendQueue>, _when: When) -> Sending {
        let Some(sock) = self.sock(t) else {
            return Sending::Failed(io::ErrorKind::NotConnected.into(), queue);
        };
        debug_assert!(sock.sending.is_none(), "one send in flight per connection");
        match write_some(sock.fd, &mut queue) {
            Ok(true) => Sending::Done(queue),
            Ok(false) => {
                sock.sending = Some(queue);
                self.sync_interest(t);
                Sending::InFlight
            }
            Err(error) => {
                self.fail(t);
                Sending::Failed(error, queue)
            }
        }
    }

    fn set_receiving(&mut self, t: Token, receiving: bool) {
        if let Some(sock) = self.sock(t)
            && sock.receiving != receiving
        {
            sock.receiving = receiving;
            self.sync_interest(t);
        }
    }

    fn shutdown_write(&mut self, t: Token) {
        if let Some(sock) = self.sock(t) {
            socket::shutdown_write(sock.fd);
        }
    }

    fn close(&mut self, t: Token) {
        let sock = self
            .socks
            .get_mut(slot_of(t).0 as usize)
            .and_then(Option::take);
        let dropped = sock.and_then(|sock| {
            // Closing the fd also removes it from the epoll set.
            socket::close(sock.fd);
            sock.sending
        });
        self.queued.push_back(Queued::Released(t, dropped));
    }

    fn stop_accepting(&mut self) {
        // Carried out at the end of the turn (`end_turn`), by the half that owns the listeners.
        self.stop_accepting = true;
    }

    fn submit(&mut self) {}
}

impl Drop for EpollIo {
    fn drop(&mut self) {
        for sock in self.socks.drain(..).flatten() {
            socket::close(sock.fd);
        }
    }
}
