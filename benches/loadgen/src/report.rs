//! Results: latency percentiles from an HDR histogram, the summary printed on stdout and
//! the JSON written by `--json`.
//!
//! Owns presentation only; modes fill a [`Report`].

use std::thread::JoinHandle;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Args;
use crate::control::Window;

/// What every client thread hands back, whatever the mode: its latency histogram (modes that
/// time something) and the first problem it saw.
pub trait ThreadOutcome {
    /// Latencies this thread recorded.
    fn histogram(&self) -> Option<&Histogram<u64>>;
    /// The first problem this thread saw, taken out.
    fn take_problem(&mut self) -> Option<String>;
}

/// Joins the client threads into `report`: their histograms become `report.latency`, the first
/// problem any of them saw is kept, and `add` adds each thread's own counters.
pub fn join_clients<O: ThreadOutcome>(
    handles: Vec<JoinHandle<Result<O, String>>>,
    report: &mut Report,
    mut add: impl FnMut(&mut Report, &O),
) -> Result<(), String> {
    let mut hist = new_histogram();
    for h in handles {
        let mut o = h
            .join()
            .map_err(|_| "client thread panicked".to_string())??;
        if let Some(th) = o.histogram() {
            hist.add(th).map_err(|e| e.to_string())?;
        }
        add(report, &o);
        let problem = o.take_problem();
        if report.first_problem.is_none() {
            report.first_problem = problem;
        }
    }
    report.latency = Some(Latency::from_histogram(&hist));
    Ok(())
}

/// A latency histogram in nanoseconds, 1 ns to 100 s at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static histogram bounds are valid")
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Samples recorded.
    pub samples: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Summarises a nanosecond histogram.
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            samples: h.len(),
            p50_us: us(h.value_at_quantile(0.5)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// Everything one run measured; fields that do not apply to a mode are omitted from JSON.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Mode name.
    pub mode: String,
    /// Target URL.
    pub url: String,
    /// Connections (or concurrent connect slots).
    pub connections: usize,
    /// Client threads.
    pub threads: usize,
    /// Payload bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// "binary" or "text".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// In flight per connection or publisher.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inflight: Option<usize>,
    /// Broadcast publishers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishers: Option<usize>,
    /// Broadcast: messages published in total (warm-up and window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<u64>,
    /// Requested open-loop rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    /// Measured window in seconds.
    pub duration_s: f64,
    /// Messages (echoes, deliveries or upgrades) completed in the window.
    pub messages: u64,
    /// `messages` per second.
    pub msgs_per_s: f64,
    /// Payload bytes per second in one direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_bytes_per_s: Option<f64>,
    /// Round trip (echo), publish-to-delivery (broadcast) or upgrade (connect) latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Server CPU nanoseconds per message (with `--server-pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_ns_per_msg: Option<f64>,
    /// Server CPU utilisation over the window, in cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_cores: Option<f64>,
    /// This client's CPU nanoseconds per message.
    pub client_cpu_ns_per_msg: f64,
    /// This client's CPU utilisation over the window, in cores: near `threads` in a closed
    /// loop means the client, not the server, set the pace.
    pub client_cpu_cores: f64,
    /// Messages per second this client could drive at 100 % of its threads' cores
    /// (closed loop only: open-loop pacing spins between sends, so its CPU says nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ceiling_msgs_per_s: Option<f64>,
    /// Payloads that differed from what was sent (echo, broadcast).
    pub mismatches: u64,
    /// Messages lost (broadcast: gaps per publisher, including the tail after draining).
    pub lost: u64,
    /// Messages received out of order or twice.
    pub reordered: u64,
    /// Open-loop sends skipped because the connection was at its in-flight cap.
    pub missed_sends: u64,
    /// Non-fatal errors (connect mode: failed attempts).
    pub errors: u64,
    /// First mismatch or error, for diagnosis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_problem: Option<String>,
    /// Idle mode: connections held open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_connections: Option<u64>,
    /// Idle mode: seconds to open them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_time_s: Option<f64>,
    /// Idle mode with `--warm`: connections opened before `connections` (and held with them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_connections: Option<usize>,
    /// Idle mode: server RSS before connecting, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_before: Option<u64>,
    /// Idle mode with `--warm`: server RSS with the warm-up connections open, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_warm: Option<u64>,
    /// Idle mode: server RSS with every connection open, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_open: Option<u64>,
    /// Idle mode: RSS growth per connection over the last `connections`, bytes:
    /// (open - warm) / connections with `--warm`, else (open - before) / connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_per_conn: Option<f64>,
    /// Idle mode with `--warm`: (open - before) / (warm + connections), bytes, which includes
    /// the server's one-off costs of its first connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_per_conn_cold: Option<f64>,
}

impl Report {
    /// A report of `mode` against `args`' target, its counters still zero.
    pub fn start(mode: &str, args: &Args) -> Report {
        Report {
            mode: mode.into(),
            url: format!("ws://{}{}", args.target.host, args.target.path),
            connections: args.connections,
            threads: args.threads,
            target_rate: args.rate,
            ..Report::default()
        }
    }

    /// Fills the rate and CPU fields from the measured window.
    pub fn apply_window(&mut self, w: &Window, threads: usize) {
        let secs = w.elapsed.as_secs_f64().max(1e-9);
        self.duration_s = secs;
        self.messages = w.messages;
        self.msgs_per_s = w.messages as f64 / secs;
        let per_msg = |ns: u64| {
            if w.messages > 0 {
                ns as f64 / w.messages as f64
            } else {
                0.0
            }
        };
        self.server_cpu_ns_per_msg = w.server_cpu_ns.map(per_msg);
        self.server_cpu_cores = w.server_cpu_ns.map(|ns| ns as f64 / 1e9 / secs);
        self.client_cpu_ns_per_msg = per_msg(w.client_cpu_ns);
        self.client_cpu_cores = w.client_cpu_ns as f64 / 1e9 / secs;
        self.client_ceiling_msgs_per_s = (self.client_cpu_ns_per_msg > 0.0
            && self.target_rate.is_none())
        .then(|| threads as f64 * 1e9 / self.client_cpu_ns_per_msg);
        if let Some(size) = self.size {
            self.payload_bytes_per_s = Some(self.msgs_per_s * size as f64);
        }
    }

    /// Prints the human summary on stdout.
    pub fn print(&self) {
        println!("mode            {}  {}", self.mode, self.url);
        let mut shape = format!("{} connections", self.connections);
        if let Some(w) = self.warm_connections {
            shape += &format!(" after {w} warm-up ones");
        }
        shape += &format!(", {} threads", self.threads);
        if let (Some(size), Some(kind)) = (self.size, self.kind) {
            shape += &format!(", {size} B {kind}");
        }
        if let Some(k) = self.inflight {
            shape += &format!(", {k} in flight");
        }
        if let Some(p) = self.publishers {
            shape += &format!(", {p} publishers");
        }
        if let Some(r) = self.target_rate {
            shape += &format!(", open loop at {r:.0}/s");
        }
        println!("shape           {shape}");
        if self.mode != "idle" {
            println!(
                "window          {:.2} s, {} messages",
                self.duration_s, self.messages
            );
            println!("throughput      {:.0} msgs/s", self.msgs_per_s);
        }
        if let Some(b) = self.payload_bytes_per_s {
            println!("payload         {:.1} MiB/s", b / (1024.0 * 1024.0));
        }
        if let Some(l) = self.latency {
            println!(
                "latency (us)    p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  ({} samples)",
                l.p50_us, l.p99_us, l.p999_us, l.max_us, l.samples
            );
        }
        if let (Some(ns), Some(cores)) = (self.server_cpu_ns_per_msg, self.server_cpu_cores) {
            println!("server cpu      {ns:.0} ns/msg ({cores:.2} cores)");
        }
        match self.client_ceiling_msgs_per_s {
            _ if self.mode == "idle" => {}
            Some(c) => println!(
                "client cpu      {:.0} ns/msg ({:.2} cores; ceiling ~{c:.0} msgs/s on {} threads)",
                self.client_cpu_ns_per_msg, self.client_cpu_cores, self.threads
            ),
            None if self.messages == 0 => println!("client cpu      n/a (no messages)"),
            None => println!(
                "client cpu      {:.0} ns/msg (open loop: spins between sends)",
                self.client_cpu_ns_per_msg
            ),
        }
        if let Some(n) = self.open_connections {
            println!(
                "open            {n} connections in {:.2} s",
                self.open_time_s.unwrap_or(0.0)
            );
        }
        let (b, o) = (self.server_rss_before, self.server_rss_open);
        let (w, per, cold) = (
            self.server_rss_warm,
            self.server_rss_per_conn,
            self.server_rss_per_conn_cold,
        );
        match (b, w, o, per, cold, self.warm_connections) {
            (Some(b), Some(w), Some(o), Some(per), Some(cold), Some(warm)) => {
                let (n, all) = (self.connections, warm + self.connections);
                println!(
                    "server rss      {} KiB -> {} KiB ({warm} open) -> {} KiB ({all} open)",
                    b / 1024,
                    w / 1024,
                    o / 1024
                );
                println!(
                    "per connection  {per:.0} B (growth over the last {n}), \
                     {cold:.0} B from cold (over all {all})"
                );
            }
            (Some(b), None, Some(o), Some(per), ..) => println!(
                "server rss      {} KiB -> {} KiB, {per:.0} B per connection",
                b / 1024,
                o / 1024
            ),
            _ => {}
        }
        println!(
            "verification    mismatches {}  lost {}  reordered {}  missed sends {}  errors {}",
            self.mismatches, self.lost, self.reordered, self.missed_sends, self.errors
        );
        if let Some(p) = &self.first_problem {
            println!("first problem   {p}");
        }
    }

    /// Writes the JSON form to `path`.
    pub fn write_json(&self, path: &str) -> Result<(), String> {
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("writing {path}: {e}"))
    }

    /// True when verification found nothing wrong and traffic flowed (idle mode moves no
    /// messages by design).
    pub fn clean(&self) -> bool {
        (self.messages > 0 || self.mode == "idle")
            && self.mismatches == 0
            && self.lost == 0
            && self.reordered == 0
            && self.first_problem.is_none()
    }
}
