//! `broadcast`: every connection subscribes (by connecting to the broadcast URL); the first
//! P connections also publish. The server publishes each message to every subscriber, the
//! publisher included. Counts deliveries per second, publish-to-delivery latency, and any
//! message lost, duplicated or reordered per (subscriber, publisher).
//!
//! Payload: publisher id (8-letter tag), sequence (8), send time in ns (16), then the
//! pattern up to `--size`. Pacing: a publisher keeps at most `--inflight` messages that it
//! has not yet received back itself (closed loop), or follows `--rate` (open loop, same
//! cap). After the window, publishers stop, report how many they sent, and every thread
//! drains until each subscriber has seen every message (or 3 s pass): what is missing then
//! counts as lost.
//!
//! With `--publish-url`, the publishers connect to another node of the same broker and only
//! the subscribers' deliveries (the ones that crossed the broker) are counted and timed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};

use crate::args::Args;
use crate::conn::{Conn, State};
use crate::control::{self, DRAIN, MEASURE, STOP, Shared, WARMUP};
use crate::frame::{FrameTemplate, OP_BINARY, OP_TEXT, get_tag, message_template, put_tag};
use crate::net;
use crate::pacer::Pacer;
use crate::report::{Report, ThreadOutcome, join_clients, new_histogram};

/// Smallest payload: publisher id, sequence and timestamp tags.
pub const MIN_SIZE: usize = 32;
/// How long the drain after the window may take before missing messages count as lost.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);

/// Cross-thread state of the publishers.
struct PubState {
    /// Messages each publisher sent in total, valid once its thread passed `STOP`.
    published: Vec<AtomicU64>,
    /// Threads that stored their publishers' totals.
    stopped: AtomicUsize,
}

struct Sub {
    conn: Conn,
    track: Track,
}

/// What one connection has seen and sent.
struct Track {
    /// Next sequence expected from each publisher.
    next: Vec<u64>,
    /// Publisher id if this connection publishes.
    publisher: Option<usize>,
    /// Messages published by this connection.
    sent: u64,
    /// Own messages received back.
    acked: u64,
}

#[derive(Default)]
struct Outcome {
    hist: Option<Histogram<u64>>,
    mismatches: u64,
    lost: u64,
    reordered: u64,
    missed: u64,
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

fn publish(s: &mut Track, out: &mut Vec<u8>, template: &FrameTemplate, now: u64) {
    let mut prefix = [0u8; MIN_SIZE];
    put_tag(&mut prefix[0..8], s.publisher.unwrap_or(0) as u64);
    put_tag(&mut prefix[8..16], s.sent & 0xFFFF_FFFF);
    put_tag(&mut prefix[16..32], now);
    template.append_with_prefix(out, &prefix);
    s.sent += 1;
}

/// Checks a delivery: shape, pattern, and order per publisher. Returns the send time.
fn deliver(
    s: &mut Track,
    op: u8,
    payload: &[u8],
    template: &FrameTemplate,
    want_op: u8,
    o: &mut Outcome,
) -> Option<u64> {
    let expect = template.payload();
    let parsed = (op == want_op
        && payload.len() == expect.len()
        && payload[MIN_SIZE..] == expect[MIN_SIZE..])
        .then(|| {
            Some((
                get_tag(&payload[0..8])?,
                get_tag(&payload[8..16])?,
                get_tag(&payload[16..32])?,
            ))
        })
        .flatten()
        .filter(|(p, _, _)| (*p as usize) < s.next.len());
    let Some((p, seq, ts)) = parsed else {
        o.mismatches += 1;
        o.problem.get_or_insert_with(|| {
            format!("malformed delivery: opcode {op}, {} bytes", payload.len())
        });
        return None;
    };
    let next = &mut s.next[p as usize];
    let want = *next & 0xFFFF_FFFF;
    if seq == want {
        *next += 1;
    } else if seq > want {
        o.lost += seq - want;
        o.problem
            .get_or_insert_with(|| format!("publisher {p}: got {seq}, expected {want}"));
        *next += seq - want + 1;
    } else {
        o.reordered += 1;
        o.problem
            .get_or_insert_with(|| format!("publisher {p}: got {seq} after {want}"));
    }
    if s.publisher == Some(p as usize) {
        s.acked = s.acked.max(seq + 1);
    }
    Some(ts)
}

fn worker(
    args: &Args,
    shared: &Shared,
    ps: &PubState,
    t: usize,
    template: &FrameTemplate,
) -> Result<Outcome, String> {
    let want_op = if args.binary { OP_BINARY } else { OP_TEXT };
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let counters = &shared.counters[t];
    let sources = net::auto_source_ips(args.source_ips, args.connections);
    let mut subs = Vec::new();
    for i in control::owned_by(t, args.threads, args.connections) {
        let publisher = (i < args.publishers).then_some(i);
        let target = match (&args.publish_target, publisher) {
            (Some(p), Some(_)) => p,
            _ => &args.target,
        };
        let conn = Conn::start(
            target,
            net::source_for(i, sources, target.addr),
            poll.registry(),
            Token(subs.len()),
            args.deflate,
        )
        .map_err(|e| format!("connect {}: {e}", target.addr))?;
        subs.push(Sub {
            conn,
            track: Track {
                next: vec![0; args.publishers],
                publisher,
                sent: 0,
                acked: 0,
            },
        });
    }
    let pubs: Vec<usize> = (0..subs.len())
        .filter(|&i| subs[i].track.publisher.is_some())
        .collect();
    // A thread without publishers (all of them on other threads) paces nothing.
    let mut pacer = args
        .rate
        .filter(|_| !pubs.is_empty())
        .map(|r| Pacer::new(r * pubs.len() as f64 / args.publishers as f64, pubs.len()));
    let cap = args.inflight as u64;
    // Cross-node runs count and time only deliveries that crossed the broker.
    let timed = |s: &Track| args.publish_target.is_none() || s.publisher.is_none();
    let mut rbuf = vec![0u8; 256 * 1024];
    let mut o = Outcome {
        hist: Some(new_histogram()),
        ..Outcome::default()
    };
    let mut hist = o.hist.take().expect("set above");
    let (mut started, mut measuring, mut stopped) = (false, false, false);
    let mut drain_until: Option<Instant> = None;
    loop {
        let phase = shared.phase();
        if !started && (WARMUP..STOP).contains(&phase) {
            started = true;
            let now = shared.now_ns();
            match &mut pacer {
                Some(p) => p.start(now),
                None => {
                    for &i in &pubs {
                        let Sub { conn, track } = &mut subs[i];
                        for _ in 0..cap {
                            publish(track, conn.out(), template, now);
                        }
                        subs[i].conn.flush().map_err(|e| format!("write: {e}"))?;
                    }
                }
            }
        }
        if !measuring && phase == MEASURE {
            measuring = true;
            hist.reset();
        }
        if phase >= STOP && !stopped {
            stopped = true;
            measuring = false;
            for &i in &pubs {
                let track = &subs[i].track;
                ps.published[track.publisher.expect("publisher")].store(track.sent, Relaxed);
            }
            ps.stopped.fetch_add(1, Relaxed);
        }
        if phase >= DRAIN {
            let limit = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN_LIMIT);
            let all_seen = subs.iter().all(|s| {
                s.track
                    .next
                    .iter()
                    .zip(&ps.published)
                    .all(|(n, p)| *n >= p.load(Relaxed))
            });
            if all_seen || Instant::now() >= limit || shared.failed().is_some() {
                break;
            }
        }
        let timeout = match &pacer {
            Some(p) if started && !stopped => p.poll_timeout(shared.now_ns()),
            _ => Duration::from_millis(10),
        };
        poll.poll(&mut events, Some(timeout))
            .map_err(|e| format!("poll: {e}"))?;
        let mut done = 0u64;
        let closed_loop = pacer.is_none() && started && !stopped;
        for ev in events.iter() {
            let i = ev.token().0;
            let was_open = subs[i].conn.state() == State::Open;
            let now = shared.now_ns();
            let Sub { conn, track: s } = &mut subs[i];
            let ready = conn.on_ready(&mut rbuf, ev.is_read_closed(), &mut |op, payload, wbuf| {
                if let Some(ts) = deliver(s, op, payload, template, want_op, &mut o)
                    && timed(s)
                {
                    if measuring {
                        hist.saturating_record(now.saturating_sub(ts).max(1));
                    }
                    done += 1;
                }
                if closed_loop && s.publisher.is_some() && s.sent - s.acked < cap {
                    publish(s, wbuf, template, now);
                }
                Ok(())
            });
            let ready = ready.map_err(|e| format!("connection {i}: {e}"))?;
            if ready.opened && !was_open {
                counters.opened.fetch_add(1, Relaxed);
                counters.open_now.fetch_add(1, Relaxed);
            }
            if ready.eof || ready.close_received {
                return Err(format!("server closed subscriber {i}"));
            }
        }
        if let (Some(p), true, false) = (&mut pacer, started, stopped) {
            let now = shared.now_ns();
            let mut touched = Vec::new();
            while let Some((k, due)) = p.next_due(now) {
                let Sub { conn, track: s } = &mut subs[pubs[k]];
                if s.sent - s.acked < cap {
                    publish(s, conn.out(), template, due);
                    touched.push(pubs[k]);
                } else if measuring {
                    o.missed += 1;
                }
            }
            for i in touched {
                subs[i].conn.flush().map_err(|e| format!("write: {e}"))?;
            }
        }
        if done > 0 {
            counters.messages.fetch_add(done, Relaxed);
        }
    }
    for s in &mut subs {
        for (n, p) in s.track.next.iter().zip(&ps.published) {
            o.lost += p.load(Relaxed).saturating_sub(*n);
        }
        s.conn.queue_close(1000);
        let _ = s.conn.flush();
    }
    o.hist = Some(hist);
    Ok(o)
}

/// Runs the broadcast workload.
pub fn run(args: &Args) -> Result<Report, String> {
    net::raise_nofile_limit();
    let shared = Arc::new(Shared::new(args.threads));
    let ps = Arc::new(PubState {
        published: (0..args.publishers).map(|_| AtomicU64::new(0)).collect(),
        stopped: AtomicUsize::new(0),
    });
    let opcode = if args.binary { OP_BINARY } else { OP_TEXT };
    let template = Arc::new(message_template(opcode, args.size, args.deflate, MIN_SIZE));
    let handles = control::spawn_clients(&shared, args.threads, {
        let (args, shared, ps) = (args.clone(), shared.clone(), ps.clone());
        move |t| worker(&args, &shared, &ps, t, &template)
    });
    let window = control::wait_open(
        &shared,
        args.connections as u64,
        Duration::from_secs(60),
        args.quiet,
    )
    .and_then(|_| {
        // Let the server finish subscribing the last connections before anyone publishes.
        thread::sleep(Duration::from_millis(200));
        control::run_window(&shared, args, "deliveries", None)
    });
    shared.phase.store(STOP.max(shared.phase()), Relaxed);
    while ps.stopped.load(Relaxed) < args.threads && shared.failed().is_none() {
        thread::sleep(Duration::from_millis(1));
    }
    shared.phase.store(DRAIN, Relaxed);
    let mut report = Report {
        size: Some(args.size),
        kind: Some(if args.binary { "binary" } else { "text" }),
        inflight: Some(args.inflight),
        publishers: Some(args.publishers),
        ..Report::start("broadcast", args)
    };
    join_clients(handles, &mut report, |r, o| {
        r.mismatches += o.mismatches;
        r.lost += o.lost;
        r.reordered += o.reordered;
        r.missed_sends += o.missed;
    })?;
    report.apply_window(&window?, args.threads);
    let published: u64 = ps.published.iter().map(|p| p.load(Relaxed)).sum();
    report.published = Some(published);
    Ok(report)
}
