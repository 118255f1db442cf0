//! One core: its driver, its connections, its loop.
//!
//! The core's task sleeps until its driver has completions, a running handler future finished,
//! or one of its own handlers queued commands outside a turn. Then it runs one *turn*: it hands
//! every completion to the connection it concerns (received bytes run the protocol and the
//! handlers), carries out the commands queued for it (its own handlers', other cores', other
//! threads'), and ends by telling the driver, for every connection that changed, what it needs
//! now: a send, a pause or resumption of receiving, a half-close, a close (`flush.rs`). Then the
//! turn's requests go to the kernel together and the rings to other cores are published.
//!
//! Owns: every connection of the core and everything about them. The fields are private to this
//! module; its files are its parts: `input` (bytes to protocol events), `http` and `ws` (what the
//! events mean), `flush` (requests to the driver), `admit` (connection limits), `commands` (the
//! inbox and shutdown), `pubsub` (delivery of published frames), `timers` (timeouts), `tasks`
//! (handler futures).
//!
//! Architecture invariant: user code runs only through the service and its sessions, called
//! from here, and can reach the core only by queueing commands (`shared/local.rs`); the core
//! carries those out after each callback returns. No borrow of core state is ever held across
//! user code, because the core's state is plain fields, not shared cells.

mod admit;
mod commands;
mod flush;
pub(crate) mod http;
mod input;
mod pubsub;
pub(crate) mod tasks;
mod timers;
#[cfg(feature = "tls")]
mod tls;
mod ws;

use std::future::poll_fn;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Instant, SystemTime};

use imphnen_protocol::http::DateCache;
use imphnen_protocol::ws::Decoder;

use crate::buf::{BytePool, QueuePool};
use crate::config::Config;
use crate::conn::{Millis, Slab};
use crate::driver::{Completion, Driver, Io, Token};
use crate::service::Service;
use crate::shared::command::Command;
use crate::shared::hub::Hub;
use crate::shared::local;
use crate::shared::metrics::CoreCounters;
use crate::shared::ring::Consumer;
use crate::shared::slots::SlotCell;

use pubsub::Delivery;
use tasks::Tasks;

pub(crate) use timers::tick_period;

/// Input buffers the byte pool keeps for reuse, and the largest buffer either pool keeps. A
/// turn that opens many connections at once draws many buffers from the pool; what it keeps
/// afterwards is memory every connection of the core shares, so the pool stays small.
const POOLED: usize = 64;
const POOLED_CAPACITY: usize = 64 << 10;
/// Bytes of emptied send queues the core keeps: a publish to a topic puts one queue per
/// subscriber in flight, and a queue that carried 16 published frames is about 1 KiB (its box,
/// 256 own bytes and room for 16 frames), so this covers a turn's sends to about a thousand
/// such subscribers without a heap allocation.
const POOLED_QUEUE_BYTES: usize = 1 << 20;

/// Rounds of completions and requests per turn, when requests complete at once (a send the
/// kernel took whole): the turn ends once nothing is queued, or after this many rounds.
const ROUNDS_PER_TURN: usize = 8;

/// Turns in a row a core may take for completions already posted, before it waits through
/// monoio again.
const EAGER_TURNS: usize = 4;

/// A core with its driver.
pub(crate) struct Core<D: Driver> {
    /// The completion half of the driver (its requests half is the state's `io`).
    driver: D,
    st: State<D::Io>,
}

/// Where the core's time comes from.
pub(crate) enum Clock {
    /// Milliseconds since `started`, read at every tick.
    Real { started: Instant },
    /// Moved by hand (`Stepper::advance`).
    Manual,
}

/// Everything of a core but the completion half of its driver, so that a completion can be
/// handled (its bytes borrowed from the driver) with every request at hand.
pub(crate) struct State<I: Io> {
    /// The requests half of the driver.
    io: I,
    index: u32,
    hub: Arc<Hub>,
    cfg: Arc<Config>,
    service: Rc<dyn Service>,
    conns: Slab,
    bytes: BytePool,
    queues: QueuePool,
    date: DateCache,
    delivery: Delivery,
    /// permessage-deflate streams, and the connections with parameters of their own.
    deflate: crate::proto::deflate::Deflate,
    /// This core's counters (the hub's, held here too: one pointer away).
    counters: Arc<CoreCounters>,
    /// Frame decoders not held by any connection (see `WsConn::decoder`).
    #[allow(clippy::vec_box)] // boxes move between this list and the connections, unmoved
    decoders: Vec<Box<Decoder>>,
    /// Connections that changed this turn: the flush tells the driver what they need.
    dirty: Vec<Token>,
    tasks: Tasks,
    clock: Clock,
    now: Millis,
    /// The shutdown's deadline on the core clock, once it started.
    shutdown_at: Option<Millis>,
    /// The receiving ends of the rings from the other cores.
    rings: Vec<Consumer<Command>>,
    /// The inbox's wake-up fired: drain it this turn.
    woken: bool,
    /// What the core's connections hold of the server's connection limits.
    admissions: admit::Admissions,
    /// The TLS sessions of the core's connections, by slot.
    tls: TlsSessions,
}

/// A core's TLS sessions (`tls/`); nothing without the `tls` feature.
#[cfg(feature = "tls")]
pub(crate) type TlsSessions = crate::tls::Sessions;
/// A core's TLS sessions (`tls/`); nothing without the `tls` feature.
#[cfg(not(feature = "tls"))]
pub(crate) type TlsSessions = ();

impl<D: Driver> Core<D> {
    /// A core of `hub`'s server, number `index`, serving through `driver`.
    pub(crate) fn new(
        index: u32,
        hub: Arc<Hub>,
        cfg: Arc<Config>,
        service: Rc<dyn Service>,
        (driver, io): (D, D::Io),
        rings: Vec<Consumer<Command>>,
        clock: Clock,
    ) -> Core<D> {
        Core {
            driver,
            st: State {
                io,
                index,
                conns: Slab::new(hub.clone(), index),
                deflate: crate::proto::deflate::Deflate::new(
                    hub.ws.compression_level,
                    hub.cores[index as usize].counters.clone(),
                ),
                counters: hub.cores[index as usize].counters.clone(),
                hub,
                cfg,
                service,
                bytes: BytePool::new(POOLED, POOLED_CAPACITY),
                queues: QueuePool::new(POOLED_QUEUE_BYTES, POOLED_CAPACITY),
                date: DateCache::new(SystemTime::now()),
                delivery: Delivery::default(),
                decoders: Vec::new(),
                dirty: Vec::new(),
                tasks: Tasks::default(),
                clock,
                now: 0,
                shutdown_at: None,
                rings,
                woken: false,
                admissions: admit::Admissions::default(),
                tls: TlsSessions::default(),
            },
        }
    }

    /// The loop of a core on a thread of its own; returns after a shutdown once every connection
    /// is gone.
    pub(crate) async fn run(mut self) {
        let waiter = self
            .driver
            .waiter()
            .expect("a driver that can be waited on");
        let mut registered = false;
        loop {
            let mut ready = pin!(waiter.ready());
            loop {
                let fired = poll_fn(|cx| {
                    if !registered {
                        // The task's waker does not change: kept once, for commands queued
                        // outside a turn.
                        local::set_waker(cx.waker());
                        registered = true;
                    }
                    let fired = match ready.as_mut().poll(cx) {
                        Poll::Ready(Ok(())) => true,
                        Poll::Ready(Err(error)) => {
                            tracing::error!(core = self.st.index, %error, "cannot wait for IO");
                            true
                        }
                        Poll::Pending => false,
                    };
                    let finished = self.st.poll_tasks(cx);
                    if fired
                        || finished
                        || self.driver.has_queued(&self.st.io)
                        || local::has_own()
                        || !self.st.dirty.is_empty()
                    {
                        Poll::Ready(fired)
                    } else {
                        Poll::Pending
                    }
                })
                .await;
                self.turn(fired);
                if self.is_done() {
                    return;
                }
                if fired {
                    // Completions the turn's submission brought in are collected at once,
                    // without a wait through monoio (a system call), a few turns at most
                    // before monoio's other tasks and timers get the thread back.
                    for _ in 0..EAGER_TURNS {
                        if !self.driver.completions_posted(&mut self.st.io) {
                            break;
                        }
                        self.turn(true);
                        if self.is_done() {
                            return;
                        }
                    }
                    break; // the readiness wait is spent: wait anew
                }
            }
        }
    }

    /// `true` once a shutdown has closed every connection.
    pub(crate) fn is_done(&self) -> bool {
        self.st.shutdown_at.is_some() && self.st.conns.len() == 0
    }

    /// One turn: completions, finished handlers and commands, then the requests of every
    /// connection that changed. `polled`: the driver's waiter fired.
    pub(crate) fn turn(&mut self, polled: bool) {
        local::set_in_turn(true);
        self.st.counters.turns.add(1);
        // Commands the core's own handlers queued outside a turn (in handler futures that
        // finished while the core waited, or in tasks of their own) go first: they were
        // queued before anything this turn will do.
        self.st.run_own();
        if polled {
            self.driver.collect(&mut self.st.io);
        }
        for _ in 0..ROUNDS_PER_TURN {
            while self.driver.has_queued(&self.st.io) {
                let Some(c) = self.driver.next(&mut self.st.io) else {
                    break;
                };
                self.st.on_completion(c);
            }
            self.st.finish_tasks();
            self.st.run_commands();
            self.st.flush();
            if !self.driver.has_queued(&self.st.io) && !local::has_own() && self.st.dirty.is_empty()
            {
                break;
            }
        }
        local::publish_rings();
        self.driver.end_turn(&mut self.st.io);
        self.st.io.submit();
        local::set_in_turn(false);
    }

    /// The driver, for the stepper.
    pub(crate) fn driver_mut(&mut self) -> &mut D {
        &mut self.driver
    }

    /// `true` when a turn would find work without waiting (for the stepper).
    pub(crate) fn has_work(&self) -> bool {
        self.driver.has_queued(&self.st.io) || local::has_own() || !self.st.dirty.is_empty()
    }

    /// Moves a manual clock forward by `ms` (for the stepper); the next tick sees it.
    pub(crate) fn advance_clock(&mut self, ms: u32) {
        self.st.now = self.st.now.wrapping_add(ms);
    }

    /// Polls the running handler futures (for the stepper, which has no task of its own).
    pub(crate) fn poll_tasks(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        self.st.poll_tasks(cx)
    }
}

/// Lists connection `c` (token `t`) for the turn's flush, once.
#[inline]
fn list_dirty(t: Token, c: &mut crate::conn::Conn, dirty: &mut Vec<Token>) {
    if !c.flags.has(crate::conn::Flags::DIRTY) {
        c.flags.set(crate::conn::Flags::DIRTY);
        dirty.push(t);
    }
}

/// Encodes a data message as one unmasked server frame.
pub(crate) fn encode_message(out: &mut Vec<u8>, msg: &crate::Message) {
    imphnen_protocol::ws::encode_frame(out, true, msg.opcode(), None, msg.as_bytes());
}

/// The cell of `t`'s slot on core `core` (it exists for every token ever handed out).
fn cell_of(hub: &Hub, core: u32, t: Token) -> &SlotCell {
    hub.cores[core as usize]
        .slots
        .get(crate::driver::slot_of(t).0)
        .expect("every token's slot has a cell")
}

impl<I: Io> State<I> {
    /// Hands one completion to the connection it concerns.
    fn on_completion(&mut self, c: Completion<'_, I::Socket>) {
        match c {
            Completion::Accepted {
                socket,
                peer,
                listener,
            } => self.accepted(socket, peer, listener),
            Completion::Received { token, bytes } => self.received(token, bytes),
            Completion::PeerFinished { token } => self.peer_finished(token),
            Completion::Sent { token, queue } => self.sent(token, queue),
            Completion::Failed { token, error } => self.failed(token, &error),
            Completion::Released { token, dropped } => self.released(token, dropped),
            Completion::Woken => self.woken = true,
            Completion::Tick => self.tick(),
        }
    }

    /// Acts on the handler futures that finished: the response is written or the handler's
    /// result handled, and the connection goes on with the input it held meanwhile.
    #[inline]
    fn finish_tasks(&mut self) {
        if self.tasks.has_finished() {
            self.finish_finished();
        }
    }

    #[inline(never)]
    fn finish_finished(&mut self) {
        for finished in self.tasks.take_finished() {
            let t = match finished {
                tasks::Finished::Http(t, r) => {
                    self.unbusy(t);
                    self.http_done(t, r);
                    t
                }
                tasks::Finished::Ws(t, r) => {
                    self.unbusy(t);
                    self.ws_handler_done(t, r);
                    t
                }
                tasks::Finished::Upgrade(t, offer, r) => {
                    self.unbusy(t);
                    self.upgrade_decided(t, offer, r);
                    t
                }
                tasks::Finished::Detached => continue,
            };
            self.run_own();
            self.process_held(t);
            self.mark_dirty(t);
        }
    }

    /// Polls the running handler futures, with the core lent to them as to any handler.
    #[inline]
    fn poll_tasks(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        !self.tasks.is_empty() && self.poll_running(cx)
    }

    #[inline(never)]
    fn poll_running(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        // Out of the state while user code runs with the core lent (no command touches tasks;
        // an empty set moves for free).
        let mut tasks = std::mem::take(&mut self.tasks);
        let finished = self.call_user(|| tasks.poll(cx));
        self.tasks = tasks;
        finished
    }

    fn unbusy(&mut self, t: Token) {
        if let Some(c) = self.conns.conn(t) {
            c.flags.clear(crate::conn::Flags::BUSY);
        }
    }

    /// A connection the driver never opened: forgotten at once.
    fn forget(&mut self, t: Token) {
        self.admission_ended(t);
        self.counters.connections_closed.add(1);
        self.conns.remove(t);
    }

    /// Marks `t` for the end-of-turn flush.
    fn mark_dirty(&mut self, t: Token) {
        if let Some(c) = self.conns.conn(t) {
            list_dirty(t, c, &mut self.dirty);
        }
    }

    fn is_shutting_down(&self) -> bool {
        self.shutdown_at.is_some()
    }
}
