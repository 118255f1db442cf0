//! `connect`: upgrades per second. Each of `--connections` slots repeatedly connects,
//! completes the opening handshake, sends a close frame, waits for the server to close the
//! TCP stream (so TIME_WAIT stays on the server's side) and starts over.
//!
//! Latency is connect start to verified `101`. Sources spread over 127.0.0.x addresses so
//! the client's ephemeral ports do not run out during long runs.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};

use crate::args::Args;
use crate::conn::Conn;
use crate::control::{self, MEASURE, STOP, Shared, WARMUP};
use crate::net;
use crate::report::{Report, ThreadOutcome, join_clients, new_histogram};

/// An attempt that takes longer than this counts as an error and is abandoned.
const ATTEMPT_LIMIT_NS: u64 = 5_000_000_000;
/// More failed attempts than this end the run.
const MAX_ERRORS: u64 = 1000;
/// Source addresses used when `--source-ips` is left at 0.
const DEFAULT_SOURCES: usize = 16;

struct Slot {
    conn: Option<Conn>,
    started: u64,
    upgraded: bool,
}

#[derive(Default)]
struct Outcome {
    hist: Option<Histogram<u64>>,
    errors: u64,
    problem: Option<String>,
}

impl ThreadOutcome for Outcome {
    fn histogram(&self) -> Option<&Histogram<u64>> {
        self.hist.as_ref()
    }

    fn take_problem(&mut self) -> Option<String> {
        self.problem.take()
    }
}

fn worker(args: &Args, shared: &Shared, t: usize) -> Result<Outcome, String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let counters = &shared.counters[t];
    let sources = if args.source_ips > 0 {
        args.source_ips
    } else {
        DEFAULT_SOURCES
    };
    let ids: Vec<usize> = control::owned_by(t, args.threads, args.connections).collect();
    let mut slots: Vec<Slot> = ids
        .iter()
        .map(|_| Slot {
            conn: None,
            started: 0,
            upgraded: false,
        })
        .collect();
    let mut o = Outcome::default();
    let mut hist = new_histogram();
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut attempt = 0usize;
    let mut measuring = false;
    let mut last_sweep = Instant::now();
    let fail = |o: &mut Outcome, msg: String| -> Result<(), String> {
        o.errors += 1;
        o.problem.get_or_insert(msg);
        if o.errors > MAX_ERRORS {
            Err(format!("more than {MAX_ERRORS} failed attempts"))
        } else {
            Ok(())
        }
    };
    loop {
        let phase = shared.phase();
        if phase >= STOP {
            break;
        }
        if !measuring && phase == MEASURE {
            measuring = true;
            hist.reset();
        }
        if phase >= WARMUP {
            for (k, slot) in slots.iter_mut().enumerate() {
                if slot.conn.is_none() {
                    let src = net::source_for(
                        ids[k] + attempt * args.connections,
                        sources,
                        args.target.addr,
                    );
                    attempt += 1;
                    slot.started = shared.now_ns();
                    slot.upgraded = false;
                    match Conn::start(&args.target, src, poll.registry(), Token(k), args.deflate) {
                        Ok(c) => slot.conn = Some(c),
                        Err(e) => fail(&mut o, format!("connect: {e}"))?,
                    }
                }
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .map_err(|e| format!("poll: {e}"))?;
        let mut done = 0;
        for ev in events.iter() {
            let slot = &mut slots[ev.token().0];
            let Some(conn) = slot.conn.as_mut() else {
                continue;
            };
            let ready = conn.on_ready(&mut rbuf, ev.is_read_closed(), &mut |_, _, _| Ok(()));
            let finished = match ready {
                Err(e) => {
                    fail(&mut o, e)?;
                    true
                }
                Ok(r) => {
                    if r.opened {
                        slot.upgraded = true;
                        done += 1;
                        if measuring {
                            hist.saturating_record(
                                shared.now_ns().saturating_sub(slot.started).max(1),
                            );
                        }
                        conn.queue_close(1000);
                        if let Err(e) = conn.flush() {
                            fail(&mut o, format!("write: {e}"))?;
                        }
                    }
                    if r.eof && !slot.upgraded {
                        fail(&mut o, "server closed before the upgrade".into())?;
                    }
                    r.eof
                }
            };
            if finished && let Some(mut c) = slot.conn.take() {
                c.deregister(poll.registry());
            }
        }
        if last_sweep.elapsed() >= Duration::from_millis(100) {
            last_sweep = Instant::now();
            let now = shared.now_ns();
            for slot in &mut slots {
                if slot.conn.is_some() && now - slot.started > ATTEMPT_LIMIT_NS {
                    fail(
                        &mut o,
                        format!("attempt took over {} s", ATTEMPT_LIMIT_NS / 1_000_000_000),
                    )?;
                    if let Some(mut c) = slot.conn.take() {
                        c.deregister(poll.registry());
                    }
                }
            }
        }
        if done > 0 {
            counters.messages.fetch_add(done, Relaxed);
        }
    }
    o.hist = Some(hist);
    Ok(o)
}

/// Runs the connect workload.
pub fn run(args: &Args) -> Result<Report, String> {
    net::raise_nofile_limit();
    let shared = Arc::new(Shared::new(args.threads));
    let handles = control::spawn_clients(&shared, args.threads, {
        let (args, shared) = (args.clone(), shared.clone());
        move |t| worker(&args, &shared, t)
    });
    let window = control::run_window(&shared, args, "upgrades", args.count);
    shared.phase.store(STOP.max(shared.phase()), Relaxed);
    let mut report = Report::start("connect", args);
    join_clients(handles, &mut report, |r, o| r.errors += o.errors)?;
    report.apply_window(&window?, args.threads);
    Ok(report)
}
