//! The memory driver: in-process pipes instead of sockets, for tests and fuzzing.
//!
//! A [`MemoryNet`] stands in for the network: [`MemoryNet::connect`] makes a pipe to one of the
//! server's cores (round robin) and returns its client end, a [`MemoryStream`] that reads and
//! writes like a blocking `TcpStream` (with timeouts, half-close and a bounded "socket buffer"
//! each way, so backpressure and partial sends happen as they do over TCP). The core's end is a
//! driver like any other behind the seam: it delivers what the client wrote as `Received`, the
//! client's half-close as `PeerFinished`, a dropped client as `Failed`.
//!
//! Two ways to run it: on the server's own core threads (a `Config` with
//! `Driver::Memory(net)`, where cores sleep on an eventfd as they would on epoll), or stepped
//! by hand on the calling thread, with a clock that moves only when told ([`Stepper`]):
//! deterministic, no threads, no sockets.
//!
//! [`Stepper`]: crate::memory::Stepper

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::{Completion, Driver, FdWaiter, Io, Sending, Token, When, slot_of};
use crate::buf::SendQueue;
use crate::sys::epoll::{Epoll, READ};
use crate::sys::fd::{EventFd, TimerFd};

/// Bytes each direction of a pipe holds before the writer must wait (a socket buffer).
pub const PIPE_CAPACITY: usize = 256 << 10;

/// An in-process network between test clients and the cores of a server on the memory driver.
#[derive(Clone, Default)]
pub struct MemoryNet(Arc<Net>);

#[derive(Default)]
struct Net {
    doors: Mutex<Vec<Arc<Door>>>,
    next: AtomicUsize,
    next_port: AtomicU16,
}

impl fmt::Debug for MemoryNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryNet")
            .field("cores", &lock(&self.0.doors).len())
            .finish()
    }
}

/// Two handles are equal when they name the same network.
impl PartialEq for MemoryNet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for MemoryNet {}

impl MemoryNet {
    /// A network with no server on it yet.
    pub fn new() -> MemoryNet {
        MemoryNet::default()
    }

    /// Opens a connection to the server on this network (to its cores in turn), through its
    /// first listening address. Fails with `ConnectionRefused` when no server listens (or it
    /// stopped accepting).
    pub fn connect(&self) -> io::Result<MemoryStream> {
        self.connect_to(0)
    }

    /// Opens a connection through the server's `listener`-th listening address (in the order
    /// the server was given them: e.g. 1 for the TLS one of `[plain, tls]`), as
    /// [`connect`](Self::connect) does through the first. `ConnectionRefused` when the server
    /// has no such listener.
    pub fn connect_to(&self, listener: usize) -> io::Result<MemoryStream> {
        let door = {
            let doors = lock(&self.0.doors);
            let open: Vec<&Arc<Door>> = doors
                .iter()
                .filter(|d| d.accepting.load(Ordering::Acquire) && listener < d.listeners)
                .collect();
            if open.is_empty() {
                return Err(io::ErrorKind::ConnectionRefused.into());
            }
            open[self.0.next.fetch_add(1, Ordering::Relaxed) % open.len()].clone()
        };
        let port = 1024 + self.0.next_port.fetch_add(1, Ordering::Relaxed) % 60000;
        let pipe = Arc::new(Pipe {
            state: Mutex::new(PipeState::default()),
            changed: Condvar::new(),
            door: door.clone(),
            client_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            listener,
        });
        door.push(|q| q.accepts.push_back(pipe.clone()));
        Ok(MemoryStream {
            pipe,
            read_timeout: None,
            write_timeout: None,
        })
    }

    /// A door for one core of a server with `listeners` listening addresses starting on this
    /// network.
    pub(crate) fn open_door(&self, wake: Option<EventFd>, listeners: usize) -> Arc<Door> {
        let door = Arc::new(Door {
            queue: Mutex::new(DoorQueue::default()),
            wake,
            listeners,
            notified: AtomicBool::new(false),
            accepting: AtomicBool::new(true),
        });
        lock(&self.0.doors).push(door.clone());
        door
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One core's side of the network: new pipes and pipes with news for it.
pub(crate) struct Door {
    queue: Mutex<DoorQueue>,
    /// Wakes the core's thread (none when the core is stepped by hand).
    wake: Option<EventFd>,
    notified: AtomicBool,
    accepting: AtomicBool,
    /// How many listening addresses the server has (a connection names one of them).
    listeners: usize,
}

#[derive(Default)]
struct DoorQueue {
    accepts: VecDeque<Arc<Pipe>>,
    news: Vec<Arc<Pipe>>,
}

impl Door {
    fn push(&self, f: impl FnOnce(&mut DoorQueue)) {
        f(&mut lock(&self.queue));
        if let Some(wake) = &self.wake
            && !self.notified.swap(true, Ordering::AcqRel)
        {
            wake.notify();
        }
    }
}

/// One connection: a byte queue each way plus both ends' half-close and close.
pub(crate) struct Pipe {
    state: Mutex<PipeState>,
    /// Signalled whenever the server end changes something the client may wait for.
    changed: Condvar,
    door: Arc<Door>,
    client_addr: SocketAddr,
    /// The server's listening address the client connected through.
    listener: usize,
}

#[derive(Default)]
struct PipeState {
    to_server: Vec<u8>,
    client_fin: bool,
    client_gone: bool,
    to_client: VecDeque<u8>,
    server_fin: bool,
    server_closed: bool,
    /// Closed with input unread: the client reads a reset once it has read what came before,
    /// as a TCP peer does.
    reset: bool,
    /// The core's token for the pipe, once opened.
    token: Option<Token>,
    /// In the door's list of pipes with news already.
    listed: bool,
    /// Async clients waiting for the pipe to change (`MemoryStream::poll_changed`): a reader
    /// and a writer may wait at once.
    client_wakers: Vec<Waker>,
}

impl Pipe {
    fn state(&self) -> MutexGuard<'_, PipeState> {
        lock(&self.state)
    }

    /// Tells a waiting client that the pipe changed (bytes or room for it, a FIN, a close).
    fn changed(&self, st: &mut PipeState) {
        self.changed.notify_all();
        for w in st.client_wakers.drain(..) {
            w.wake();
        }
    }

    /// Tells the core that something changed (client wrote, read, half-closed or went away).
    fn news(self: &Arc<Self>, state: &mut PipeState) {
        if !state.listed {
            state.listed = true;
            let pipe = self.clone();
            self.door.push(|q| q.news.push(pipe));
        }
    }
}

/// The client end of a memory connection: a blocking, `TcpStream`-like byte stream.
pub struct MemoryStream {
    pipe: Arc<Pipe>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl MemoryStream {
    /// Bounds how long a read waits (`None`: forever); a read that times out fails with
    /// `WouldBlock`, as a `TcpStream`'s does.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Bounds how long a write waits for room.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Sends FIN: the server reads end of stream once it has read everything before it.
    pub fn shutdown_write(&self) {
        let mut st = self.pipe.state();
        st.client_fin = true;
        self.pipe.news(&mut st);
    }

    /// The address the server sees for this client.
    pub fn local_addr(&self) -> SocketAddr {
        self.pipe.client_addr
    }

    /// Writes what fits without waiting; `WouldBlock` when the pipe is full.
    pub fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.pipe.state();
        match write_client(&self.pipe, &mut st, buf) {
            Some(r) => r,
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Has `waker` woken at the pipe's next change (for an async client built on
    /// [`try_read`](Self::try_read) and [`try_write`](Self::try_write)).
    pub fn poll_changed(&self, waker: &Waker) {
        let mut st = self.pipe.state();
        if !st.client_wakers.iter().any(|w| w.will_wake(waker)) {
            st.client_wakers.push(waker.clone());
        }
    }

    /// Reads whatever is there without waiting: `Ok(0)` means the server closed its side;
    /// `WouldBlock` that nothing is there yet.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.pipe.state();
        self.take_bytes(&mut st, buf)
            .unwrap_or(Err(io::ErrorKind::WouldBlock.into()))
    }

    /// Moves bytes out of `st`; `None` when the read would have to wait.
    fn take_bytes(&self, st: &mut PipeState, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if !st.to_client.is_empty() {
            let n = buf.len().min(st.to_client.len());
            for (dst, src) in buf.iter_mut().zip(st.to_client.drain(..n)) {
                *dst = src;
            }
            // Room freed: a send waiting on the core may go on.
            self.pipe.news(st);
            return Some(Ok(n));
        }
        if st.reset {
            return Some(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if st.server_fin || st.server_closed {
            return Some(Ok(0));
        }
        None
    }
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = self.read_timeout.map(|t| Instant::now() + t);
        let mut st = self.pipe.state();
        loop {
            if let Some(r) = self.take_bytes(&mut st, buf) {
                return r;
            }
            st = wait(&self.pipe.changed, st, deadline)?;
        }
    }
}

/// Moves what fits of `buf` into the pipe; `None` when the client must wait for room.
fn write_client(pipe: &Arc<Pipe>, st: &mut PipeState, buf: &[u8]) -> Option<io::Result<usize>> {
    if st.server_closed {
        return Some(Err(io::ErrorKind::BrokenPipe.into()));
    }
    if st.client_fin {
        return Some(Err(io::ErrorKind::NotConnected.into()));
    }
    let room = PIPE_CAPACITY.saturating_sub(st.to_server.len());
    if room == 0 {
        return None;
    }
    let n = room.min(buf.len());
    st.to_server.extend_from_slice(&buf[..n]);
    pipe.news(st);
    Some(Ok(n))
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let deadline = self.write_timeout.map(|t| Instant::now() + t);
        let mut st = self.pipe.state();
        loop {
            if let Some(r) = write_client(&self.pipe, &mut st, buf) {
                return r;
            }
            st = wait(&self.pipe.changed, st, deadline)?;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for MemoryStream {
    fn drop(&mut self) {
        let mut st = self.pipe.state();
        st.client_gone = true;
        self.pipe.news(&mut st);
    }
}

impl fmt::Debug for MemoryStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStream")
            .field("local_addr", &self.pipe.client_addr)
            .finish()
    }
}

/// Waits on `changed` until notified or `deadline` (a timeout is `WouldBlock`).
fn wait<'a>(
    changed: &Condvar,
    st: MutexGuard<'a, PipeState>,
    deadline: Option<Instant>,
) -> io::Result<MutexGuard<'a, PipeState>> {
    match deadline {
        None => Ok(changed.wait(st).unwrap_or_else(|e| e.into_inner())),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0)
        }
    }
}

/// The core's end of one pipe.
struct MemSock {
    pipe: Arc<Pipe>,
    receiving: bool,
    finished: bool,
    sending: Option<Box<SendQueue>>,
}

enum Queued {
    Sent(Token, Box<SendQueue>),
    Released(Token, Option<Box<SendQueue>>),
}

/// How a core on the memory driver sleeps when it runs on a thread of its own.
struct Sleep {
    epoll: Epoll,
    waiter: FdWaiter,
    timer: TimerFd,
}

const DOOR: u64 = 1;
const WAKE: u64 = 2;
const TIMER: u64 = 3;

/// The core's half of a memory driver: its pipes and the requests on them.
pub(crate) struct MemoryIo {
    door: Arc<Door>,
    socks: Vec<Option<MemSock>>,
    queued: VecDeque<Queued>,
    /// Slots to look at again although the client did nothing (receiving resumed, a FIN
    /// behind bytes just delivered, a pipe opened with bytes in it).
    recheck: VecDeque<u32>,
}

/// The completion half of a memory driver.
pub(crate) struct MemoryDriver {
    door: Arc<Door>,
    sleep: Option<Sleep>,
    /// New pipes and pipes with news, taken from the door this turn.
    accepts: VecDeque<Arc<Pipe>>,
    news: VecDeque<Arc<Pipe>>,
    rx: Vec<u8>,
    /// Stepped by hand: the stepper raises these.
    pub(crate) tick_due: bool,
    pub(crate) woken: bool,
}

impl MemoryDriver {
    /// A driver on a thread of its own, sleeping on its door, its inbox's `wake_fd` and a tick
    /// timer, for a server with `listeners` listening addresses. Must be called inside the
    /// core's monoio runtime.
    pub(crate) fn threaded(
        net: &MemoryNet,
        listeners: usize,
        wake_fd: std::os::fd::RawFd,
        tick: Duration,
    ) -> io::Result<(MemoryDriver, MemoryIo)> {
        let door_wake = EventFd::new()?;
        let epoll = Epoll::new()?;
        let timer = TimerFd::periodic(tick)?;
        epoll.add(door_wake.as_raw_fd(), DOOR, READ)?;
        epoll.add(wake_fd, WAKE, READ)?;
        epoll.add(timer.as_raw_fd(), TIMER, READ)?;
        let sleep = Sleep {
            waiter: FdWaiter::new(epoll.as_raw_fd())?,
            epoll,
            timer,
        };
        Ok(MemoryDriver::with(
            net.open_door(Some(door_wake), listeners),
            Some(sleep),
        ))
    }

    /// A driver stepped by hand on the calling thread, for a core with one listening address.
    pub(crate) fn stepped(net: &MemoryNet) -> (MemoryDriver, MemoryIo) {
        MemoryDriver::with(net.open_door(None, 1), None)
    }

    fn with(door: Arc<Door>, sleep: Option<Sleep>) -> (MemoryDriver, MemoryIo) {
        let io = MemoryIo {
            door: door.clone(),
            socks: Vec::new(),
            queued: VecDeque::new(),
            recheck: VecDeque::new(),
        };
        let driver = MemoryDriver {
            door,
            sleep,
            accepts: VecDeque::new(),
            news: VecDeque::new(),
            rx: Vec::new(),
            tick_due: false,
            woken: false,
        };
        (driver, io)
    }

    /// `true` when the door holds news the core has not collected.
    pub(crate) fn has_news(&self) -> bool {
        let q = lock(&self.door.queue);
        !q.accepts.is_empty()
            || !q.news.is_empty()
            || !self.news.is_empty()
            || !self.accepts.is_empty()
    }

    /// Looks at what the sleep epoll says fired (threaded mode).
    fn wake_up(&mut self) {
        let Some(sleep) = &self.sleep else { return };
        let mut ready = Vec::new();
        let _ = sleep.epoll.poll_now(&mut ready);
        for ev in ready {
            match ev.token {
                DOOR => {
                    // Drained before the flag is cleared, as in `Inbox::begin_drain`.
                    if let Some(wake) = &self.door.wake {
                        wake.drain();
                    }
                    self.door.notified.swap(false, Ordering::AcqRel);
                }
                WAKE => self.woken = true,
                TIMER => {
                    sleep.timer.drain();
                    self.tick_due = true;
                }
                _ => {}
            }
        }
    }
}

/// What looking at one pipe came to.
enum Look {
    Nothing,
    Received(Token),
    Finished(Token),
    Failed(Token),
}

impl MemoryIo {
    /// Handles what changed on the pipe of `slot`; received bytes are moved into `rx`.
    fn look_at(&mut self, slot: u32, rx: &mut Vec<u8>) -> Look {
        let Some(Some(sock)) = self.socks.get_mut(slot as usize) else {
            return Look::Nothing;
        };
        let pipe = sock.pipe.clone();
        let mut st = pipe.state();
        st.listed = false;
        let Some(t) = st.token else {
            return Look::Nothing;
        };
        if st.client_gone {
            drop(st);
            // A send in flight stays until the close, which hands it back as dropped.
            sock.receiving = false;
            return Look::Failed(t);
        }
        // A send waiting for room.
        if let Some(queue) = sock.sending.as_mut() {
            write_pipe(&mut st, queue);
            pipe.changed(&mut st);
            if queue.is_empty() {
                let queue = sock.sending.take().expect("checked");
                self.queued.push_back(Queued::Sent(t, queue));
            }
        }
        if !sock.receiving || sock.finished {
            return Look::Nothing;
        }
        if !st.to_server.is_empty() {
            rx.clear();
            std::mem::swap(rx, &mut st.to_server);
            // Room freed for a client waiting to write.
            pipe.changed(&mut st);
            if st.client_fin {
                // The FIN behind these bytes is reported at the next look.
                self.recheck.push_back(slot);
            }
            return Look::Received(t);
        }
        if st.client_fin {
            sock.finished = true;
            return Look::Finished(t);
        }
        Look::Nothing
    }
}

/// Copies as much of `queue` into the pipe as it has room for.
fn write_pipe(st: &mut PipeState, queue: &mut SendQueue) {
    let mut room = PIPE_CAPACITY.saturating_sub(st.to_client.len());
    let mut iov = Vec::new();
    queue.io_slices(&mut iov);
    let mut taken = 0;
    for s in &iov {
        let n = s.len().min(room);
        st.to_client.extend(&s[..n]);
        taken += n;
        room -= n;
        if room == 0 {
            break;
        }
    }
    queue.advance(taken);
}

impl Driver for MemoryDriver {
    type Io = MemoryIo;

    fn waiter(&self) -> Option<FdWaiter> {
        self.sleep.as_ref().map(|s| s.waiter.clone())
    }

    fn collect(&mut self, _io: &mut MemoryIo) {
        self.wake_up();
        let mut q = lock(&self.door.queue);
        self.accepts.extend(q.accepts.drain(..));
        self.news.extend(q.news.drain(..));
    }

    fn has_queued(&self, io: &MemoryIo) -> bool {
        !io.queued.is_empty()
            || !io.recheck.is_empty()
            || !self.news.is_empty()
            || !self.accepts.is_empty()
            || self.woken
            || self.tick_due
    }

    fn next<'a>(&'a mut self, io: &mut MemoryIo) -> Option<Completion<'a, Arc<Pipe>>> {
        let look = loop {
            if let Some(q) = io.queued.pop_front() {
                return Some(match q {
                    Queued::Sent(token, queue) => Completion::Sent { token, queue },
                    Queued::Released(token, dropped) => Completion::Released { token, dropped },
                });
            }
            if let Some(pipe) = self.accepts.pop_front() {
                let (peer, listener) = (pipe.client_addr, pipe.listener);
                return Some(Completion::Accepted {
                    socket: pipe,
                    peer,
                    listener,
                });
            }
            if let Some(pipe) = self.news.pop_front() {
                // A pipe not opened yet is looked at when it is (`open`).
                let token = pipe.state().token;
                if let Some(t) = token {
                    match io.look_at(slot_of(t).0, &mut self.rx) {
                        Look::Nothing => {}
                        other => break other,
                    }
                }
                continue;
            }
            if let Some(slot) = io.recheck.pop_front() {
                match io.look_at(slot, &mut self.rx) {
                    Look::Nothing => continue,
                    other => break other,
                }
            }
            if std::mem::take(&mut self.woken) {
                return Some(Completion::Woken);
            }
            if std::mem::take(&mut self.tick_due) {
                return Some(Completion::Tick);
            }
            return None;
        };
        Some(match look {
            Look::Received(token) => Completion::Received {
                token,
                bytes: &mut self.rx,
            },
            Look::Finished(token) => Completion::PeerFinished { token },
            Look::Failed(token) => Completion::Failed {
                token,
                error: io::ErrorKind::ConnectionReset.into(),
            },
            Look::Nothing => unreachable!("the loop only breaks with an outcome"),
        })
    }
}

impl Io for MemoryIo {
    type Socket = Arc<Pipe>;

    fn open(&mut self, t: Token, pipe: Arc<Pipe>) -> io::Result<()> {
        let slot = slot_of(t).0 as usize;
        if self.socks.len() <= slot {
            self.socks.resize_with(slot + 1, || None);
        }
        let has_news = {
            let mut st = pipe.state();
            st.token = Some(t);
            st.listed = false;
            !st.to_server.is_empty() || st.client_fin || st.client_gone
        };
        self.socks[slot] = Some(MemSock {
            pipe,
            receiving: true,
            finished: false,
            sending: None,
        });
        if has_news {
            self.recheck.push_back(slot as u32);
        }
        Ok(())
    }

    fn send(&mut self, t: Token, mut queue: Box<SendQueue>, _when: When) -> Sending {
        let Some(Some(sock)) = self.socks.get_mut(slot_of(t).0 as usize) else {
            return Sending::Failed(io::ErrorKind::NotConnected.into(), queue);
        };
        let mut st = sock.pipe.state();
        if st.client_gone {
            return Sending::Failed(io::ErrorKind::BrokenPipe.into(), queue);
        }
        write_pipe(&mut st, &mut queue);
        sock.pipe.changed(&mut st);
        drop(st);
        if queue.is_empty() {
            Sending::Done(queue)
        } else {
            sock.sending = Some(queue);
            Sending::InFlight
        }
    }

    fn set_receiving(&mut self, t: Token, receiving: bool) {
        let slot = slot_of(t).0;
        if let Some(Some(sock)) = self.socks.get_mut(slot as usize)
            && sock.receiving != receiving
        {
            sock.receiving = receiving;
            if receiving {
                self.recheck.push_back(slot);
            }
        }
    }

    fn shutdown_write(&mut self, t: Token) {
        if let Some(Some(sock)) = self.socks.get_mut(slot_of(t).0 as usize) {
            let mut st = sock.pipe.state();
            st.server_fin = true;
            sock.pipe.changed(&mut st);
        }
    }

    fn close(&mut self, t: Token) {
        let sock = self
            .socks
            .get_mut(slot_of(t).0 as usize)
            .and_then(Option::take);
        let dropped = sock.and_then(|sock| {
            let mut st = sock.pipe.state();
            st.server_closed = true;
            st.reset = !st.to_server.is_empty();
            st.token = None;
            sock.pipe.changed(&mut st);
            drop(st);
            sock.sending
        });
        self.queued.push_back(Queued::Released(t, dropped));
    }

    fn stop_accepting(&mut self) {
        self.door.accepting.store(false, Ordering::Release);
        // Connections that arrived but were not accepted are refused like a closed port.
        let refused = std::mem::take(&mut lock(&self.door.queue).accepts);
        for pipe in refused {
            refuse(&pipe);
        }
    }

    fn submit(&mut self) {}
}

fn refuse(pipe: &Pipe) {
    let mut st = pipe.state();
    st.server_closed = true;
    pipe.changed(&mut st);
}

impl Drop for MemoryIo {
    fn drop(&mut self) {
        self.stop_accepting();
        for sock in self.socks.drain(..).flatten() {
            refuse(&sock.pipe);
        }
    }
}
