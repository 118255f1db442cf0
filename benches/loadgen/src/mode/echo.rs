//! `echo`: N connections each keep K messages in flight (closed loop) or send on an
//! open-loop schedule (`--rate`); every echo is checked byte for byte and in order, and
//! its round trip recorded.
//!
//! Each message carries its per-connection sequence number as an 8-letter tag at the start
//! of the payload (so text frames stay valid UTF-8); the rest is a fixed pattern. Round trip
//! is measured from the send time kept in a ring per connection; with `--rate` it is the
//! *scheduled* send time, so a slow server cannot hide queueing (no coordinated omission).

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};

use crate::args::Args;
use crate::conn::{Conn, State};
use crate::control::{self, MEASURE, STOP, Shared, WARMUP};
use crate::frame::{FrameTemplate, OP_BINARY, OP_TEXT, get_tag, message_template, put_tag};
use crate::net;
use crate::pacer::Pacer;
use crate::report::{Report, ThreadOutcome, join_clients, new_histogram};

/// Bytes of the sequence tag at the start of each payload (payloads shorter than this are
/// compared whole and carry no sequence).
const TAG: usize = 8;
/// Size of each thread's read buffer.
const READ_BUF: usize = 256 * 1024;

struct EchoConn {
    conn: Conn,
    sent: u64,
    received: u64,
    /// Send time (ns) of message `seq`, at `seq % inflight`.
    sent_at: Box<[u64]>,
    /// Has open-loop sends queued and not yet flushed this turn.
    dirty: bool,
}

#[derive(Default)]
struct Outcome {
    hist: Option<Histogram<u64>>,
    mismatches: u64,
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

/// Appends message `seq` of `c` to its write buffer and remembers when it was (due to be) sent.
fn send(c: &mut EchoConn, template: &FrameTemplate, at: u64) {
    let mut tag = [0u8; TAG];
    put_tag(&mut tag, c.sent & 0xFFFF_FFFF);
    let n = TAG.min(template.payload().len());
    template.append_with_prefix(c.conn.out(), &tag[..n]);
    let slot = (c.sent % c.sent_at.len() as u64) as usize;
    c.sent_at[slot] = at;
    c.sent += 1;
}

/// Checks one echoed payload against message `seq`; describes the first difference.
fn verify(
    opcode: u8,
    payload: &[u8],
    template: &FrameTemplate,
    want_opcode: u8,
    seq: u64,
) -> Result<(), String> {
    let expect = template.payload();
    if opcode != want_opcode {
        return Err(format!(
            "message {seq}: opcode {opcode}, sent {want_opcode}"
        ));
    }
    if payload.len() != expect.len() {
        return Err(format!(
            "message {seq}: {} bytes echoed, {} sent",
            payload.len(),
            expect.len()
        ));
    }
    let n = TAG.min(expect.len());
    if expect.len() >= TAG {
        match get_tag(&payload[..n]) {
            Some(got) if got == seq & 0xFFFF_FFFF => {}
            got => {
                return Err(format!(
                    "message {seq}: sequence tag {got:?} (out of order or corrupt)"
                ));
            }
        }
    }
    if payload[n..] != expect[n..] {
        let at = n + payload[n..]
            .iter()
            .zip(&expect[n..])
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(format!("message {seq}: payload differs at byte {at}"));
    }
    Ok(())
}

fn worker(
    args: &Args,
    shared: &Shared,
    t: usize,
    template: &FrameTemplate,
) -> Result<Outcome, String> {
    let opcode = if args.binary { OP_BINARY } else { OP_TEXT };
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let counters = &shared.counters[t];
    let sources = net::auto_source_ips(args.source_ips, args.connections);
    let mut conns = Vec::new();
    for i in control::owned_by(t, args.threads, args.connections) {
        let conn = Conn::start(
            &args.target,
            net::source_for(i, sources, args.target.addr),
            poll.registry(),
            Token(conns.len()),
            args.deflate,
        )
        .map_err(|e| format!("connect {}: {e}", args.target.addr))?;
        conns.push(EchoConn {
            conn,
            sent: 0,
            received: 0,
            sent_at: vec![0; args.inflight].into_boxed_slice(),
            dirty: false,
        });
    }
    // Open-loop schedule: this thread's share of the rate, round robin over its connections.
    let mut pacer = args.rate.map(|r| {
        Pacer::new(
            r * conns.len() as f64 / args.connections as f64,
            conns.len(),
        )
    });
    let mut rbuf = vec![0u8; READ_BUF];
    let mut out = Outcome {
        hist: Some(new_histogram()),
        ..Outcome::default()
    };
    let hist = out.hist.as_mut().expect("set above");
    let (mut started, mut measuring) = (false, false);
    let mut dirty: Vec<usize> = Vec::new();
    loop {
        let phase = shared.phase();
        if phase >= STOP {
            break;
        }
        if !started && phase >= WARMUP {
            started = true;
            if let Some(p) = &mut pacer {
                p.start(shared.now_ns());
            } else {
                let now = shared.now_ns();
                for c in &mut conns {
                    for _ in 0..args.inflight {
                        send(c, template, now);
                    }
                    c.conn.flush().map_err(|e| format!("write: {e}"))?;
                }
            }
        }
        if !measuring && phase == MEASURE {
            measuring = true;
            hist.reset();
        }
        let timeout = match &pacer {
            Some(p) if started => p.poll_timeout(shared.now_ns()),
            _ => Duration::from_millis(20),
        };
        poll.poll(&mut events, Some(timeout))
            .map_err(|e| format!("poll: {e}"))?;
        let mut done = 0u64;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            let was_open = c.conn.state() == State::Open;
            let now = shared.now_ns();
            let closed_loop = pacer.is_none() && started;
            let EchoConn {
                conn,
                sent,
                received,
                sent_at,
                ..
            } = c;
            let ready = conn.on_ready(&mut rbuf, ev.is_read_closed(), &mut |op, payload, wbuf| {
                let seq = *received;
                if seq >= *sent {
                    return Err(format!("unsolicited message after {seq} echoes"));
                }
                if let Err(problem) = verify(op, payload, template, opcode, seq) {
                    out.mismatches += 1;
                    out.problem.get_or_insert(problem);
                }
                if measuring {
                    let at = sent_at[(seq % sent_at.len() as u64) as usize];
                    hist.saturating_record(now.saturating_sub(at).max(1));
                }
                *received += 1;
                done += 1;
                if closed_loop {
                    let mut tag = [0u8; TAG];
                    put_tag(&mut tag, *sent & 0xFFFF_FFFF);
                    template.append_with_prefix(wbuf, &tag[..TAG.min(template.payload().len())]);
                    sent_at[(*sent % sent_at.len() as u64) as usize] = now;
                    *sent += 1;
                }
                Ok(())
            });
            let ready = ready.map_err(|e| format!("connection {}: {e}", ev.token().0))?;
            if ready.opened && !was_open {
                counters
                    .opened
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                counters
                    .open_now
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if ready.eof || ready.close_received {
                return Err(format!(
                    "server closed connection {} after {} echoes",
                    ev.token().0,
                    c.received
                ));
            }
        }
        if let (Some(p), true) = (&mut pacer, started) {
            let now = shared.now_ns();
            while let Some((i, due)) = p.next_due(now) {
                let c = &mut conns[i];
                if c.sent - c.received < args.inflight as u64 {
                    send(c, template, due);
                    if !c.dirty {
                        c.dirty = true;
                        dirty.push(i);
                    }
                } else if measuring {
                    out.missed += 1;
                }
            }
            for i in dirty.drain(..) {
                conns[i].dirty = false;
                conns[i].conn.flush().map_err(|e| format!("write: {e}"))?;
            }
        }
        if done > 0 {
            counters
                .messages
                .fetch_add(done, std::sync::atomic::Ordering::Relaxed);
        }
    }
    for c in &mut conns {
        c.conn.queue_close(1000);
        let _ = c.conn.flush();
    }
    Ok(out)
}

/// Runs the echo workload and returns its report (verification problems are in the report,
/// fatal connection errors are `Err`).
pub fn run(args: &Args) -> Result<Report, String> {
    net::raise_nofile_limit();
    let shared = Arc::new(Shared::new(args.threads));
    let opcode = if args.binary { OP_BINARY } else { OP_TEXT };
    let template = Arc::new(message_template(opcode, args.size, args.deflate, TAG));
    let handles = control::spawn_clients(&shared, args.threads, {
        let (args, shared) = (args.clone(), shared.clone());
        move |t| worker(&args, &shared, t, &template)
    });
    let window = control::wait_open(
        &shared,
        args.connections as u64,
        Duration::from_secs(60),
        args.quiet,
    )
    .and_then(|_| control::run_window(&shared, args, "echo", None));
    shared.phase.store(
        STOP.max(shared.phase()),
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut report = Report {
        size: Some(args.size),
        kind: Some(if args.binary { "binary" } else { "text" }),
        inflight: Some(args.inflight),
        ..Report::start("echo", args)
    };
    join_clients(handles, &mut report, |r, o| {
        r.mismatches += o.mismatches;
        r.missed_sends += o.missed;
    })?;
    report.apply_window(&window?, args.threads);
    Ok(report)
}
