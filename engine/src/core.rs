//! One core: its epoll set, its slab of connections, its driver loop.
//!
//! The driver task awaits the readiness of the core's epoll fd through monoio, then, in one
//! *turn*, accepts, reads every ready socket into the core's shared read buffer, runs the
//! protocol and the handlers, and writes each connection's output with one `send`. Handler
//! futures that do not finish at once run as monoio tasks of the same core and resume their
//! connection when done (`invoke.rs`).
//!
//! Owns: the turn, accept, reads, writes and closing. Elsewhere: the slab (`slab.rs`), timeouts
//! (`timers.rs`), commands from other threads and shutdown (`commands.rs`), a handle's direct
//! paths on its own core (`local.rs`), and the HTTP and WebSocket phases (`http.rs`, `ws.rs`).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Instant, SystemTime};

use imphnen_protocol::http::DateCache;

use crate::config::Config;
use crate::conn::{BufPool, Conn, HeldBytes, Phase, Token};
use crate::mailbox::{Command, CoreRemote};
use crate::poller::{Poller, READ, Ready, TimerFd, WRITE};
use crate::pubsub::{Hub, Topics};
use crate::service::Service;
use crate::slab::Slab;
use crate::socket::{self, Recv};
use crate::{Message, ReadyState};

const LISTENER: Token = u64::MAX;
const WAKE: Token = u64::MAX - 1;
const TIMER: Token = u64::MAX - 2;
/// The core's shared read buffer.
const READ_BUF: usize = 64 << 10;
/// At most this many accepts per turn, so a connection storm cannot starve open connections.
const ACCEPTS_PER_TURN: usize = 128;

thread_local! {
    pub(crate) static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// The per-core state, shared (single-threaded) by the driver task, handler tasks and
/// same-core `WebSocket` handles. `RefCell` borrows are never held across user code.
pub(crate) struct Core {
    pub(crate) remote: Arc<CoreRemote>,
    pub(crate) cfg: Arc<Config>,
    pub(crate) service: Rc<dyn Service>,
    pub(crate) conns: RefCell<Slab>,
    pub(crate) pool: RefCell<BufPool>,
    pub(crate) date: RefCell<DateCache>,
    pub(crate) topics: RefCell<Topics>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) poller: Poller,
    pub(crate) listener: RefCell<Option<TcpListener>>,
    pub(crate) timer: TimerFd,
    pub(crate) dirty: RefCell<Vec<Token>>,
    /// Frame decoders not held by any connection (see `WsConn::decoder`).
    #[allow(clippy::vec_box)] // boxes move between this list and the connections, unmoved
    pub(crate) spare_decoders: RefCell<Vec<Box<imphnen_protocol::ws::Decoder>>>,
    pub(crate) in_turn: Cell<bool>,
    pub(crate) started: Instant,
    pub(crate) now_ms: Cell<u64>,
    pub(crate) shutdown_deadline: Cell<Option<u64>>,
}

impl Core {
    /// Sets up the core inside its runtime: epoll set with listener, wake-up and timer fds.
    pub(crate) fn new(
        remote: Arc<CoreRemote>,
        hub: Arc<Hub>,
        cfg: Arc<Config>,
        service: Rc<dyn Service>,
        listener: TcpListener,
    ) -> io::Result<Rc<Core>> {
        let poller = Poller::new(1024)?;
        let timer = TimerFd::periodic(crate::timers::tick_period(&cfg))?;
        poller.add(listener.as_raw_fd(), LISTENER, READ)?;
        poller.add(remote.wake_fd().as_raw_fd(), WAKE, READ)?;
        poller.add(timer.as_raw_fd(), TIMER, READ)?;
        let core = Rc::new(Core {
            remote,
            cfg,
            service,
            conns: RefCell::new(Slab::default()),
            pool: RefCell::new(BufPool::new(256, 256 << 10)),
            date: RefCell::new(DateCache::new(SystemTime::now())),
            topics: RefCell::new(Topics::default()),
            hub,
            poller,
            listener: RefCell::new(Some(listener)),
            timer,
            dirty: RefCell::new(Vec::new()),
            spare_decoders: RefCell::new(Vec::new()),
            in_turn: Cell::new(false),
            started: Instant::now(),
            now_ms: Cell::new(0),
            shutdown_deadline: Cell::new(None),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(core.clone()));
        Ok(core)
    }

    /// The driver loop; returns after a shutdown once every connection is gone.
    pub(crate) async fn run(self: Rc<Self>, rx: Receiver<Command>) {
        let mut read_buf = vec![0u8; READ_BUF];
        let mut ready = Vec::with_capacity(1024);
        loop {
            if let Err(e) = self.poller.wait_ready().await {
                eprintln!(
                    "imphnen: core {} cannot wait on its epoll set: {e}",
                    self.remote.index
                );
                break;
            }
            self.in_turn.set(true);
            ready.clear();
            if let Err(e) = self.poller.poll_now(&mut ready) {
                eprintln!("imphnen: epoll_wait failed: {e}");
            }
            for ev in &ready {
                self.on_event_guarded(*ev, &mut read_buf, &rx);
            }
            self.flush_dirty();
            self.in_turn.set(false);
            if self.shutdown_deadline.get().is_some() && self.conns.borrow().len == 0 {
                break;
            }
        }
        CURRENT.with(|c| *c.borrow_mut() = None);
    }

    /// Handles one event. In release builds, should the engine itself panic on it (a bug: user
    /// code is guarded where it runs), the connection it concerned is dropped and the core keeps
    /// serving the rest. Debug builds (the tests) let the panic through, so the bug is seen.
    fn on_event_guarded(&self, ev: Ready, read_buf: &mut [u8], rx: &Receiver<Command>) {
        if cfg!(debug_assertions) {
            return self.on_event(ev, read_buf, rx);
        }
        let handled = catch_unwind(AssertUnwindSafe(|| self.on_event(ev, read_buf, rx)));
        if handled.is_err() {
            eprintln!(
                "imphnen: internal error on core {}; dropping the connection",
                self.remote.index
            );
            if ev.token < TIMER {
                let _ = catch_unwind(AssertUnwindSafe(|| self.free(ev.token)));
            }
        }
    }

    fn on_event(&self, ev: Ready, read_buf: &mut [u8], rx: &Receiver<Command>) {
        match ev.token {
            LISTENER => self.accept_ready(),
            WAKE => self.drain_mailbox(rx),
            TIMER => {
                self.timer.drain();
                self.tick();
            }
            t => {
                if ev.readable() {
                    self.on_readable(t, read_buf);
                }
                if ev.writable() {
                    self.after_io(t);
                    self.resume_held_input(t);
                }
            }
        }
    }

    /// This core as an `Rc`, for a task that resumes a connection later (it runs on this thread).
    pub(crate) fn rc(&self) -> Rc<Core> {
        current().expect("called on a core thread")
    }

    /// Core time in milliseconds (advanced by the tick timer).
    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown_deadline.get().is_some()
    }

    fn accept_ready(&self) {
        let lfd = match &*self.listener.borrow() {
            Some(l) => l.as_raw_fd(),
            None => return,
        };
        for _ in 0..ACCEPTS_PER_TURN {
            match socket::accept(lfd) {
                Ok(Some((fd, addr))) => {
                    let now = self.now_ms();
                    let t = self
                        .conns
                        .borrow_mut()
                        .insert(|_| Conn::new_http(fd, addr, now, READ));
                    if let Err(e) = self.poller.add(fd, t, READ) {
                        eprintln!("imphnen: cannot register a connection: {e}");
                        self.conns.borrow_mut().remove(t);
                        socket::close(fd);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: keep serving; the listener stays readable and we
                    // retry next turn.
                    eprintln!("imphnen: accept failed: {e}");
                    break;
                }
            }
        }
    }

    /// One read from a ready socket, then protocol processing and a flush.
    fn on_readable(&self, t: Token, read_buf: &mut [u8]) {
        let (fd, mut inbuf, draining) = {
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            if c.peer_eof {
                return;
            }
            let draining = matches!(c.phase, Phase::Draining { .. });
            (c.fd, std::mem::take(&mut c.inbuf), draining)
        };
        let from_shared = inbuf.is_empty();
        let res = if from_shared {
            socket::recv(fd, read_buf)
        } else {
            let held = inbuf.vec_mut(&mut self.pool.borrow_mut());
            held.reserve(READ_BUF);
            let len = held.len();
            let cap = held.capacity();
            // SAFETY: `reserve` made `cap - len` bytes available after `len`; recv writes at most
            // that many and `set_len` below only covers what it reported written.
            let spare =
                unsafe { std::slice::from_raw_parts_mut(held.as_mut_ptr().add(len), cap - len) };
            let r = socket::recv(fd, spare);
            if let Ok(Recv::Data(n)) = r {
                // SAFETY: the kernel initialized `n` bytes after `len`.
                unsafe { held.set_len(len + n) };
            }
            r
        };
        let n = match res {
            Ok(Recv::Data(n)) => n,
            Ok(Recv::WouldBlock) => {
                self.restore_inbuf(t, inbuf);
                return;
            }
            Ok(Recv::Eof) => {
                self.restore_inbuf(t, inbuf);
                self.on_eof(t);
                return;
            }
            Err(_) => {
                self.free(t);
                return;
            }
        };
        if let Some(c) = self.conns.borrow_mut().get_mut(t) {
            c.last_rx_ms = self.now_ms();
            if let Some(ws) = c.ws() {
                ws.ping_outstanding = false;
            }
        }
        if draining {
            inbuf.release(&mut self.pool.borrow_mut());
            return;
        }
        if from_shared {
            let consumed = self.process_input(t, &mut read_buf[..n]);
            self.keep_leftover(t, &read_buf[consumed..n]);
        } else {
            let consumed = self.process_input(t, &mut inbuf);
            inbuf.consume(consumed, &mut self.pool.borrow_mut());
            self.restore_inbuf(t, inbuf);
        }
        self.after_io(t);
        self.resume_held_input(t);
    }

    /// Calls `f` with the token of every connection, each looked up under its own short borrow
    /// of the slab (acting on a connection may run user code): no list of every connection is
    /// copied. The tick and the shutdown walk the connections this way.
    pub(crate) fn each_connection(&self, mut f: impl FnMut(Token)) {
        let slots = self.conns.borrow().slot_count();
        for slot in 0..slots {
            let Some(t) = self.conns.borrow().token_at(slot) else {
                continue;
            };
            f(t);
        }
    }

    /// Runs the connection's current phase over `input`; returns the bytes consumed. Input left
    /// over is a partial head or frame, or input held back while a handler runs.
    pub(crate) fn process_input(&self, t: Token, input: &mut [u8]) -> usize {
        let mut pos = 0;
        loop {
            let phase = {
                let mut conns = self.conns.borrow_mut();
                let Some(c) = conns.get_mut(t) else {
                    return input.len();
                };
                if c.busy {
                    return pos;
                }
                if c.close_after_flush {
                    return input.len();
                }
                match c.phase {
                    Phase::Http(_) => 0,
                    Phase::Ws(_) => 1,
                    Phase::Draining { .. } => return input.len(),
                }
            };
            let n = if phase == 0 {
                self.process_http(t, &mut input[pos..])
            } else {
                self.process_ws(t, &mut input[pos..])
            };
            pos += n;
            let switched = matches!(
                (
                    phase,
                    self.conns
                        .borrow_mut()
                        .get_mut(t)
                        .map(|c| matches!(c.phase, Phase::Ws(_)))
                ),
                (0, Some(true))
            );
            if !switched || pos >= input.len() {
                return pos;
            }
        }
    }

    /// Processes input held back while a handler ran (called when it finishes).
    pub(crate) fn process_leftover(&self, t: Token) {
        let inbuf = match self.conns.borrow_mut().get_mut(t) {
            Some(c) if !c.inbuf.is_empty() => std::mem::take(&mut c.inbuf),
            _ => return,
        };
        let mut inbuf = inbuf;
        let consumed = self.process_input(t, &mut inbuf);
        inbuf.consume(consumed, &mut self.pool.borrow_mut());
        self.restore_inbuf(t, inbuf);
    }

    /// Processes input held back while the connection's output was over `backpressure_limit`
    /// (pipelined requests, WebSocket frames), once the peer has taken enough of it; repeats
    /// while the kernel keeps taking the answers.
    pub(crate) fn resume_held_input(&self, t: Token) {
        let limit = self.cfg.websocket.backpressure_limit;
        loop {
            let held = match self.conns.borrow_mut().get_mut(t) {
                Some(c)
                    if !matches!(c.phase, Phase::Draining { .. })
                        && !c.busy
                        && !c.close_after_flush
                        && c.out.len() < limit =>
                {
                    c.inbuf.len()
                }
                _ => 0,
            };
            if held == 0 {
                return;
            }
            self.process_leftover(t);
            self.after_io(t);
            let left = self
                .conns
                .borrow_mut()
                .get_mut(t)
                .map_or(0, |c| c.inbuf.len());
            if left >= held {
                return; // a partial head or frame: wait for more bytes
            }
        }
    }

    fn keep_leftover(&self, t: Token, rest: &[u8]) {
        if rest.is_empty() {
            return;
        }
        let mut conns = self.conns.borrow_mut();
        if let Some(c) = conns.get_mut(t) {
            c.inbuf
                .vec_mut(&mut self.pool.borrow_mut())
                .extend_from_slice(rest);
        }
    }

    fn restore_inbuf(&self, t: Token, mut buf: HeldBytes) {
        let mut conns = self.conns.borrow_mut();
        match conns.get_mut(t) {
            Some(c) if !buf.is_empty() => c.inbuf = buf,
            _ => buf.release(&mut self.pool.borrow_mut()),
        }
    }

    fn on_eof(&self, t: Token) {
        let close_now = {
            let mut conns = self.conns.borrow_mut();
            let Some(c) = conns.get_mut(t) else { return };
            c.peer_eof = true;
            match &c.phase {
                // An HTTP client may half-close after its request: answer first, then close.
                Phase::Http(_) => {
                    c.close_after_flush = true;
                    !c.busy && c.out.is_empty()
                }
                Phase::Ws(_) | Phase::Draining { .. } => true,
            }
        };
        if close_now {
            self.free(t);
        } else {
            self.after_io(t);
        }
    }

    /// Flushes the connection's output, then updates its epoll interest, and finishes the
    /// connection when it has nothing left to say.
    pub(crate) fn after_io(&self, t: Token) {
        let mut conns = self.conns.borrow_mut();
        let Some(c) = conns.get_mut(t) else { return };
        c.dirty = false;
        if c.ws()
            .is_some_and(|ws| ws.handle.0.shed.load(Ordering::Acquire))
        {
            // Over its backpressure limit with `close_on_backpressure_limit`: close at once.
            drop(conns);
            self.free(t);
            return;
        }
        let mut ended = None;
        if !c.out.is_empty() {
            // Bound first: a borrow in a match scrutinee would live through the arms, and the
            // error arm frees the connection, which needs the pool again.
            let flushed = c.flush_out(&mut self.pool.borrow_mut());
            match flushed {
                Ok(n) => {
                    if n > 0 {
                        c.last_tx_ms = self.now_ms();
                    }
                }
                Err(_) => {
                    drop(conns);
                    self.free(t);
                    return;
                }
            }
        }
        if c.out.is_empty() && c.close_after_flush && !c.busy {
            if c.peer_eof || matches!(c.phase, Phase::Draining { .. }) {
                drop(conns);
                self.free(t);
                return;
            }
            // Lingering close: send FIN, then read and discard until the peer's FIN, so that
            // unread input does not turn our close into a reset that destroys the last response.
            socket::shutdown_write(c.fd);
            c.close_after_flush = false;
            c.inbuf.release(&mut self.pool.borrow_mut());
            let until_ms = self.now_ms() + self.cfg.websocket.close_timeout.as_millis() as u64;
            if let Phase::Ws(ws) = std::mem::replace(&mut c.phase, Phase::Draining { until_ms }) {
                // The WebSocket is over even though TCP lingers: it leaves its topics now.
                ended = Some(ws);
            }
        }
        let limit = self.cfg.websocket.backpressure_limit;
        let mut want = 0;
        // Input waits while a handler runs, and while the peer does not take our output
        // (responses to pipelined requests, pongs, echoes): what the server holds stays bounded.
        let held_back = (c.busy && c.inbuf.len() >= limit)
            || (!matches!(c.phase, Phase::Draining { .. }) && c.out.len() >= limit);
        if !c.peer_eof && !held_back {
            want |= READ;
        }
        if !c.out.is_empty() {
            want |= WRITE;
        }
        if want != c.interest {
            c.interest = want;
            let _ = self.poller.modify(c.fd, t, want);
        }
        let drained = match c.ws() {
            Some(ws)
                if ws.handle.0.buffered() <= limit
                    && ws.handle.0.wants_drain.swap(false, Ordering::AcqRel) =>
            {
                Some(ws.session.clone())
            }
            _ => None,
        };
        drop(conns);
        if let Some(ws) = ended {
            self.ws_ended(t, ws);
        }
        if let Some(session) = drained {
            crate::invoke::detach(session.on_drain());
        }
    }

    /// Marks a connection whose output grew outside its own read processing; flushed at the end
    /// of the turn (or, outside a turn, the core is woken to do it).
    pub(crate) fn mark_dirty(&self, c: &mut Conn, t: Token) {
        if !c.dirty {
            c.dirty = true;
            self.push_dirty(t);
        }
    }

    /// Queues `t` for the end-of-turn flush (the caller set its `dirty` flag).
    pub(crate) fn push_dirty(&self, t: Token) {
        self.dirty.borrow_mut().push(t);
        if !self.in_turn.get() {
            self.remote.wake();
        }
    }

    fn flush_dirty(&self) {
        let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
        for t in &dirty {
            self.after_io(*t);
        }
        let mut d = self.dirty.borrow_mut();
        if d.is_empty() {
            *d = dirty;
            d.clear();
        }
    }

    /// Closes the socket and forgets the connection; a WebSocket's `on_close` runs if it has not.
    pub(crate) fn free(&self, t: Token) {
        let Some(mut c) = self.conns.borrow_mut().remove(t) else {
            return;
        };
        socket::close(c.fd);
        {
            let mut pool = self.pool.borrow_mut();
            c.inbuf.release(&mut pool);
            c.out.recycle(&mut pool);
        }
        if let Phase::Ws(ws) = c.phase {
            self.ws_ended(t, ws);
        }
    }

    /// The WebSocket phase of connection `t` is over (its socket is closed, or only lingers for
    /// the peer's FIN): the handle reads `Closed`, the connection leaves every topic, and
    /// `on_close` runs if it has not.
    fn ws_ended(&self, t: Token, ws: crate::conn::WsConn) {
        ws.handle.set_state(ReadyState::Closed);
        for topic in ws.handle.take_topics() {
            self.topics.borrow_mut().unsubscribe(&topic, t);
            self.hub.count_unsubscribe(&topic);
        }
        ws.handle
            .0
            .buffered
            .store(0, std::sync::atomic::Ordering::Release);
        if !ws.close_notified {
            // A close from the peer was reported when it arrived; so here either the peer
            // never answered ours (report our code, as `WsSession::on_close` says) or TCP
            // ended without any close frame (1006).
            let code = ws.close_sent.map_or(1006, |(_, code)| code);
            crate::invoke::detach(ws.session.clone().on_close(code, String::new()));
        }
    }
}

/// Encodes a data message as one unmasked server frame.
pub(crate) fn encode_message(out: &mut Vec<u8>, msg: &Message) {
    use imphnen_protocol::ws::{OpCode, encode_frame};
    let op = if msg.is_text() {
        OpCode::Text
    } else {
        OpCode::Binary
    };
    encode_frame(out, true, op, None, msg.as_bytes());
}

/// The core running on this thread, if any.
pub(crate) fn current() -> Option<Rc<Core>> {
    CURRENT.with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
}
