//! `idle`: opens `--connections` WebSocket connections (a bounded number connecting at a
//! time, sources spread over 127.0.0.x when needed), prints `READY <n>` on stdout once all
//! are open, and holds them for `--hold` seconds while answering pings. With
//! `--server-pid` it reports the server's RSS before and with all connections open, and
//! the difference per connection.

use std::io::Write as _;
use std::sync::Arc;
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

fn worker(args: &Args, shared: &Shared, t: usize) -> Result<u64, String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let counters = &shared.counters[t];
    let sources = net::auto_source_ips(args.source_ips, args.connections);
    let ids: Vec<usize> = control::owned_by(t, args.threads, args.connections).collect();
    let mut conns: Vec<Conn> = Vec::with_capacity(ids.len());
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut connecting = 0usize;
    let mut lost = 0u64;
    while shared.phase() < STOP {
        while connecting < CONNECTING_AT_ONCE && conns.len() < ids.len() {
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
    let limit = net::raise_nofile_limit();
    if (limit as usize) < args.connections + 64 {
        return Err(format!(
            "open-file limit {limit} is too low for {} connections",
            args.connections
        ));
    }
    let rss = |pid| procstat::rss_bytes(pid).map_err(|e| format!("server pid {pid}: {e}"));
    let rss_before = args.server_pid.map(rss).transpose()?;
    let shared = Arc::new(Shared::new(args.threads));
    let handles = control::spawn_clients(&shared, args.threads, {
        let (args, shared) = (args.clone(), shared.clone());
        move |t| worker(&args, &shared, t)
    });
    let opened = control::wait_open(
        &shared,
        args.connections as u64,
        Duration::from_secs(180),
        args.quiet,
    );
    let mut report = Report::start("idle", args);
    let result = opened.and_then(|open_time| {
        println!("READY {}", args.connections);
        let _ = std::io::stdout().flush();
        thread::sleep(SETTLE);
        report.open_time_s = Some(open_time.as_secs_f64());
        report.server_rss_before = rss_before;
        report.server_rss_open = args.server_pid.map(rss).transpose()?;
        if let (Some(b), Some(o)) = (report.server_rss_before, report.server_rss_open) {
            report.server_rss_per_conn = Some((o as f64 - b as f64) / args.connections as f64);
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
    });
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
