//! `idle`: opens `--connections` WebSocket connections (a bounded number connecting at a
//! time, sources spread over 127.0.0.x when needed), prints `READY <n>` on stdout once all
//! are open, and holds them for `--hold` seconds while answering pings.
//!
//! With `--server-pid` it reports the server's RSS before connecting and with all
//! connections open. Without `--warm` the figure per connection is the difference over
//! `--connections`. With `--warm W` it first opens W connections and samples the RSS once
//! they have settled, then opens the `--connections` N further ones: the figure per
//! connection is the growth over those N (what one more idle connection costs, without the
//! server's one-off costs of its first connections), and the cold figure is the growth from
//! before over all W + N. `READY` counts all W + N, printed once.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::args::Args;
use crate::conn::{Conn, State};
use crate::control::{self, STOP, Shared};
use crate::net;
use crate::procstat;
use crate::report::Report;

/// Connects in progress per thread: keeps the server's accept backlog from overflowing.
const CONNECTING_AT_ONCE: usize = 128;
/// Time to wait for the server to settle before sampling its RSS.
const SETTLE: Duration = Duration::from_secs(1);
/// Time allowed for each batch of connections (warm-up, then the rest) to open.
const OPEN_LIMIT: Duration = Duration::from_secs(180);

/// Thread `t`'s loop: opens its share of the connections numbered below `open_below` (which
/// the main thread raises from the warm-up's count to the total), then holds them until
/// the phase says stop.
fn worker(args: &Args, shared: &Shared, open_below: &AtomicUsize, t: usize) -> Result<u64, String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let counters = &shared.counters[t];
    let total = args.warm + args.connections;
    let sources = net::auto_source_ips(args.source_ips, total);
    let ids: Vec<usize> = control::owned_by(t, args.threads, total).collect();
    let mut conns: Vec<Conn> = Vec::with_capacity(ids.len());
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut connecting = 0usize;
    let mut lost = 0u64;
    while shared.phase() < STOP {
        while connecting < CONNECTING_AT_ONCE
            && conns.len() < ids.len()
            && ids[conns.len()] < open_below.load(Relaxed)
        {
            let src = net::source_for(ids[conns.len()], sources, args.target.addr);
            let conn = Conn::start(
                &args.target,
                src,
                poll.registry(),
                Token(conns.len()),
                args.deflate,
            )
            .map_err(|e| format!("connect (after {} open): {e}", conns.len()))?;
            conns.push(conn);
            connecting += 1;
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            if c.state() == State::Closed {
                continue;
            }
            let ready = c
                .on_ready(&mut rbuf, ev.is_read_closed(), &mut |_, _, _| Ok(()))
                .map_err(|e| format!("connection {i}: {e}"))?;
            if ready.opened {
                connecting -= 1;
                counters.opened.fetch_add(1, Relaxed);
                counters.open_now.fetch_add(1, Relaxed);
            }
            if ready.eof {
                lost += 1;
                counters.open_now.fetch_sub(1, Relaxed);
            }
        }
    }
    for c in &mut conns {
        c.queue_close(1000);
        let _ = c.flush();
    }
    Ok(lost)
}

/// Runs the idle workload.
pub fn run(args: &Args) -> Result<Report, String> {
    let total = args.warm + args.connections;
    let limit = net::raise_nofile_limit();
    if (limit as usize) < total + 64 {
        return Err(format!(
            "open-file limit {limit} is too low for {total} connections"
        ));
    }
    let rss_before = args.server_pid.map(rss).transpose()?;
    let open_below = Arc::new(AtomicUsize::new(if args.warm > 0 {
        args.warm
    } else {
        total
    }));
    let shared = Arc::new(Shared::new(args.threads));
    let handles = control::spawn_clients(&shared, args.threads, {
        let (args, shared, open_below) = (args.clone(), shared.clone(), open_below.clone());
        move |t| worker(&args, &shared, &open_below, t)
    });
    let mut report = Report::start("idle", args);
    report.server_rss_before = rss_before;
    let result = open_and_hold(args, &shared, &open_below, &mut report);
    shared.phase.store(STOP, Relaxed);
    for h in handles {
        let lost = h
            .join()
            .map_err(|_| "client thread panicked".to_string())??;
        report.lost += lost;
    }
    result?;
    if report.lost > 0 {
        report.first_problem = Some(format!("server closed {} idle connections", report.lost));
    }
    Ok(report)
}

/// The server's resident set in bytes.
fn rss(pid: u32) -> Result<u64, String> {
    procstat::rss_bytes(pid).map_err(|e| format!("server pid {pid}: {e}"))
}

/// Opens the warm-up connections (if any) and samples the server's RSS once they have
/// settled, then lets the threads open the rest, samples it again and holds every
/// connection for `--hold`.
fn open_and_hold(
    args: &Args,
    shared: &Shared,
    open_below: &AtomicUsize,
    report: &mut Report,
) -> Result<(), String> {
    let total = args.warm + args.connections;
    let mut open_time = Duration::ZERO;
    if args.warm > 0 {
        open_time += control::wait_open(shared, args.warm as u64, OPEN_LIMIT, args.quiet)?;
        thread::sleep(SETTLE);
        report.warm_connections = Some(args.warm);
        report.server_rss_warm = args.server_pid.map(rss).transpose()?;
        open_below.store(total, Relaxed);
    }
    open_time += control::wait_open(shared, total as u64, OPEN_LIMIT, args.quiet)?;
    println!("READY {total}");
    let _ = std::io::stdout().flush();
    thread::sleep(SETTLE);
    report.open_time_s = Some(open_time.as_secs_f64());
    let rss_open = args.server_pid.map(rss).transpose()?;
    report.server_rss_open = rss_open;
    let growth =
        |from: Option<u64>, conns: usize| Some((rss_open? as f64 - from? as f64) / conns as f64);
    if args.warm > 0 {
        report.server_rss_per_conn = growth(report.server_rss_warm, args.connections);
        report.server_rss_per_conn_cold = growth(report.server_rss_before, total);
    } else {
        report.server_rss_per_conn = growth(report.server_rss_before, total);
    }
    let start = Instant::now();
    while start.elapsed() < args.hold.saturating_sub(SETTLE) && shared.failed().is_none() {
        thread::sleep(Duration::from_millis(250).min(args.hold));
        if !args.quiet && start.elapsed().as_millis() % 1000 < 250 {
            eprintln!(
                "[hold {:>4.0}s] open {}",
                start.elapsed().as_secs_f64(),
                shared.open_now()
            );
        }
    }
    report.open_connections = Some(shared.open_now());
    report.duration_s = start.elapsed().as_secs_f64() + SETTLE.as_secs_f64();
    Ok(())
}
