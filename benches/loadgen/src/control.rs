//! Run control shared by the client threads and the main thread: the phase every thread
//! follows (connect, warm-up, measure, stop, drain), per-thread counters padded to their
//! own cache lines, the clock, the live progress line, and the measured window's
//! snapshots (messages, server and client CPU).
//!
//! Owns timing and coordination; what a "message" is belongs to each mode.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::procstat;

/// Threads open their connections; nothing is sent yet.
pub const CONNECTING: u8 = 0;
/// Traffic flows, nothing is recorded.
pub const WARMUP: u8 = 1;
/// Traffic flows and is recorded.
pub const MEASURE: u8 = 2;
/// Threads stop sending.
pub const STOP: u8 = 3;
/// Threads collect what is still in flight, then return (broadcast).
pub const DRAIN: u8 = 4;

/// Starts `threads` client threads running `work(t)`. A thread that fails records its error in
/// `shared`, so the others and the main thread stop at once, and returns it.
pub fn spawn_clients<O: Send + 'static>(
    shared: &Arc<Shared>,
    threads: usize,
    work: impl Fn(usize) -> Result<O, String> + Clone + Send + 'static,
) -> Vec<JoinHandle<Result<O, String>>> {
    (0..threads)
        .map(|t| {
            let (shared, work) = (shared.clone(), work.clone());
            thread::spawn(move || {
                let r = work(t);
                if let Err(e) = &r {
                    shared.fail(e.clone());
                }
                r
            })
        })
        .collect()
}

/// Counters one thread bumps and the main thread reads, on their own cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Counters {
    /// Messages (echoes, deliveries, upgrades) completed so far.
    pub messages: AtomicU64,
    /// Connections that completed their handshake so far.
    pub opened: AtomicU64,
    /// Connections currently open.
    pub open_now: AtomicU64,
}

/// State shared by all threads of one run.
#[derive(Debug)]
pub struct Shared {
    /// One of the phase constants above.
    pub phase: AtomicU8,
    /// One slot per client thread.
    pub counters: Vec<Counters>,
    /// First fatal error reported by any thread.
    pub failure: Mutex<Option<String>>,
    base: Instant,
}

impl Shared {
    /// Shared state for `threads` client threads.
    pub fn new(threads: usize) -> Shared {
        Shared {
            phase: AtomicU8::new(CONNECTING),
            counters: (0..threads).map(|_| Counters::default()).collect(),
            failure: Mutex::new(None),
            base: Instant::now(),
        }
    }

    /// Nanoseconds since the run started (the clock every thread and payload uses).
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Current phase.
    pub fn phase(&self) -> u8 {
        self.phase.load(Relaxed)
    }

    /// Records a fatal error (the first one wins) and makes every thread stop.
    pub fn fail(&self, msg: String) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(msg);
        }
        self.phase.store(STOP.max(self.phase()), Relaxed);
    }

    /// The fatal error, if any thread reported one.
    pub fn failed(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sum of all threads' message counters.
    pub fn messages(&self) -> u64 {
        self.counters.iter().map(|c| c.messages.load(Relaxed)).sum()
    }

    /// Sum of all threads' opened-connection counters.
    pub fn opened(&self) -> u64 {
        self.counters.iter().map(|c| c.opened.load(Relaxed)).sum()
    }

    /// Sum of connections currently open.
    pub fn open_now(&self) -> u64 {
        self.counters.iter().map(|c| c.open_now.load(Relaxed)).sum()
    }
}

/// What the main thread saw over the measured window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Wall time of the window.
    pub elapsed: Duration,
    /// Messages completed inside it.
    pub messages: u64,
    /// Server CPU time inside it, when `--server-pid` was given.
    pub server_cpu_ns: Option<u64>,
    /// This process's CPU time inside it.
    pub client_cpu_ns: u64,
}

/// The connections of `total` that thread `t` of `threads` owns (round robin, so
/// publishers and the first connections spread over threads).
pub fn owned_by(t: usize, threads: usize, total: usize) -> impl Iterator<Item = usize> {
    (t..total).step_by(threads)
}

/// Waits until `expected` connections are open, with a progress line; fails after
/// `limit` or on any thread's error.
pub fn wait_open(
    shared: &Shared,
    expected: u64,
    limit: Duration,
    quiet: bool,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut last_print = start;
    loop {
        if let Some(e) = shared.failed() {
            return Err(e);
        }
        let opened = shared.opened();
        if opened >= expected {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(format!(
                "only {opened} of {expected} connections opened in {limit:?}"
            ));
        }
        if !quiet && last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!("[connect] {opened}/{expected} open");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sleeps through `span`, printing one progress line per second with the message rate;
/// returns early on failure or once `stop_after` messages (counted from `from`) are done.
fn progress(
    shared: &Shared,
    label: &str,
    unit: &str,
    span: Duration,
    quiet: bool,
    stop_after: Option<(u64, u64)>,
) {
    let start = Instant::now();
    let mut tick = start;
    let mut last = shared.messages();
    while start.elapsed() < span && shared.failed().is_none() {
        let next = (tick + Duration::from_secs(1)).min(start + span);
        while Instant::now() < next {
            if let Some((from, n)) = stop_after
                && shared.messages() - from >= n
            {
                return;
            }
            std::thread::sleep(
                Duration::from_millis(2).min(next.saturating_duration_since(Instant::now())),
            );
        }
        let now_msgs = shared.messages();
        let dt = next.duration_since(tick).as_secs_f64().max(1e-9);
        if !quiet {
            eprintln!(
                "[{label} {:>4.0}s] {:>12.0} {unit}/s  open {}",
                start.elapsed().as_secs_f64(),
                (now_msgs - last) as f64 / dt,
                shared.open_now()
            );
        }
        last = now_msgs;
        tick = next;
    }
}

/// Drives the warm-up and measured window once every connection is open; leaves the
/// phase at `STOP`. `stop_after` ends the window after that many messages.
pub fn run_window(
    shared: &Shared,
    args: &Args,
    unit: &str,
    stop_after: Option<u64>,
) -> Result<Window, String> {
    shared.phase.store(WARMUP, Relaxed);
    if !args.warmup.is_zero() {
        progress(shared, "warmup", unit, args.warmup, args.quiet, None);
    }
    let server0 = args
        .server_pid
        .map(procstat::process_cpu_ns)
        .transpose()
        .map_err(|e| format!("server pid: {e}"))?;
    let client0 = procstat::self_cpu_ns();
    let msgs0 = shared.messages();
    let t0 = Instant::now();
    shared.phase.store(MEASURE, Relaxed);
    progress(
        shared,
        "measure",
        unit,
        args.duration,
        args.quiet,
        stop_after.map(|n| (msgs0, n)),
    );
    let msgs1 = shared.messages();
    let elapsed = t0.elapsed();
    let client1 = procstat::self_cpu_ns();
    let server1 = args
        .server_pid
        .map(procstat::process_cpu_ns)
        .transpose()
        .map_err(|e| format!("server pid: {e}"))?;
    if shared.phase() < STOP {
        shared.phase.store(STOP, Relaxed);
    }
    if let Some(e) = shared.failed() {
        return Err(e);
    }
    Ok(Window {
        elapsed,
        messages: msgs1 - msgs0,
        server_cpu_ns: server0.zip(server1).map(|(a, b)| b.saturating_sub(a)),
        client_cpu_ns: client1 - client0,
    })
}
