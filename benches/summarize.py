#!/usr/bin/env python3
"""Summarise benches/compare.sh runs: medians per (workload, server) for every server, each
other server's ratio to Bun (a row's "ratios" in results.json, columns such as
imphnen-uring/Bun in the table), a printed table with one column per server, and
target/bench/results.json. Standard library only.

Owns the list of reported rows (which metric of which workload, and which direction is
better); the chart (benches/chart.py) draws whatever this file writes.

Timed runs are <workload>.<server>.<index>.json. The "server syscalls per message" rows come
only from the untimed counting runs, <workload>.<server>.syscalls.json (compare.sh traces
those and never the timed ones, since the tracing slows the server); the timed rows never
read those files.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import statistics
import subprocess

# A closed-loop run whose single client thread was this busy was paced by the client: its
# figure is a lower bound for the server, not a measurement of it.
CLIENT_BOUND_CORES = 0.9

# (row id, workload, label, metric path, unit, better)
ROWS = [
    ("echo_16k", "echo_16k", "echo 100 conns x 16 KiB binary, 1 in flight", "msgs_per_s", "msgs/s", "higher"),
    ("echo_16k_cpu", "echo_16k", "server CPU per message (echo 16 KiB)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
    ("echo_16k_syscalls", "echo_16k", "server syscalls per message (echo 16 KiB)",
     "server_syscalls_per_msg", "syscalls/msg", "lower"),
    ("echo_20b_16", "echo_20b_16", "echo 100 conns x 20 B, 16 in flight", "msgs_per_s", "msgs/s", "higher"),
    ("echo_20b_16_cpu", "echo_20b_16", "server CPU per message (echo 20 B, 16 in flight)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
    ("echo_20b_16_syscalls", "echo_20b_16", "server syscalls per message (echo 20 B, 16 in flight)",
     "server_syscalls_per_msg", "syscalls/msg", "lower"),
    ("echo_20b_1", "echo_20b_1", "echo 100 conns x 20 B, 1 in flight", "msgs_per_s", "msgs/s", "higher"),
    ("echo_20b_1_cpu", "echo_20b_1", "server CPU per message (echo 20 B, 1 in flight)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
    ("echo_20b_1_syscalls", "echo_20b_1", "server syscalls per message (echo 20 B, 1 in flight)",
     "server_syscalls_per_msg", "syscalls/msg", "lower"),
    ("bcast_100", "bcast_100", "broadcast to 100 subscribers", "msgs_per_s", "deliveries/s", "higher"),
    ("bcast_100_cpu", "bcast_100", "server CPU per delivery (100 subscribers)",
     "server_cpu_ns_per_msg", "ns/delivery", "lower"),
    ("bcast_500", "bcast_500", "broadcast to 500 subscribers", "msgs_per_s", "deliveries/s", "higher"),
    ("bcast_500_cpu", "bcast_500", "server CPU per delivery (500 subscribers)",
     "server_cpu_ns_per_msg", "ns/delivery", "lower"),
    ("http_hello", "http_hello", "HTTP hello, wrk -t1 -c100", "requests_per_s", "req/s", "higher"),
    ("http_hello_cpu", "http_hello", "server CPU per request (HTTP hello)",
     "server_cpu_ns_per_req", "ns/req", "lower"),
    ("http_pipe16", "http_pipe16", "HTTP hello, pipelined 16 deep", "requests_per_s", "req/s", "higher"),
    ("http_pipe16_cpu", "http_pipe16", "server CPU per request (pipelined 16)",
     "server_cpu_ns_per_req", "ns/req", "lower"),
    ("latency_fixed", "latency_fixed", "echo p99 at half of Bun's max rate", "latency.p99_us", "us", "lower"),
    # The idle rows: RSS growth per connection over the IDLE_CONNS opened after IDLE_WARM (what
    # one more idle WebSocket costs), and "from cold": over all of them from a fresh server, the
    # server's one-off costs of its first connections included (absent with IDLE_WARM=0).
    ("idle_rss", "idle_rss", "memory per idle WebSocket", "server_rss_per_conn", "B/conn", "lower"),
    ("idle_rss_cold", "idle_rss", "memory per idle WebSocket, from cold",
     "server_rss_per_conn_cold", "B/conn", "lower"),
    ("z_echo_16k", "z_echo_16k", "permessage-deflate: echo 100 conns x 16 KiB JSON text", "msgs_per_s", "msgs/s", "higher"),
    ("z_echo_16k_cpu", "z_echo_16k", "permessage-deflate: server CPU per message (echo 16 KiB JSON)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
    ("z_bcast_500", "z_bcast_500", "permessage-deflate: broadcast 2 KiB JSON to 500 subscribers", "msgs_per_s", "deliveries/s", "higher"),
    ("z_bcast_500_cpu", "z_bcast_500", "permessage-deflate: server CPU per delivery (500 subscribers)",
     "server_cpu_ns_per_msg", "ns/delivery", "lower"),
    ("z_idle_rss", "z_idle_rss", "permessage-deflate: memory per idle WebSocket", "server_rss_per_conn", "B/conn", "lower"),
    ("z_idle_rss_cold", "z_idle_rss", "permessage-deflate: memory per idle WebSocket, from cold",
     "server_rss_per_conn_cold", "B/conn", "lower"),
    ("tls_handshake", "tls_handshake", "wss: TLS 1.3 handshake + upgrade + close, 50 at once",
     "msgs_per_s", "conns/s", "higher"),
    ("tls_handshake_cpu", "tls_handshake", "wss: server CPU per connection (TLS 1.3 handshake + upgrade + close)",
     "server_cpu_ns_per_msg", "ns/conn", "lower"),
    ("tls_echo_16k", "tls_echo_16k", "wss: echo 100 conns x 16 KiB binary, 1 in flight", "msgs_per_s", "msgs/s", "higher"),
    ("tls_echo_16k_cpu", "tls_echo_16k", "wss: server CPU per message (echo 16 KiB)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
    ("tls_echo_20b_16", "tls_echo_20b_16", "wss: echo 100 conns x 20 B, 16 in flight", "msgs_per_s", "msgs/s", "higher"),
    ("tls_echo_20b_16_cpu", "tls_echo_20b_16", "wss: server CPU per message (echo 20 B, 16 in flight)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
    ("tls_idle_rss", "tls_idle_rss", "wss: memory per idle WebSocket", "server_rss_per_conn", "B/conn", "lower"),
    ("tls_idle_rss_cold", "tls_idle_rss", "wss: memory per idle WebSocket, from cold",
     "server_rss_per_conn_cold", "B/conn", "lower"),
]
# The reference every other server's ratio is taken against.
BUN = "bun"
# Metrics read from the syscall-counting runs (<workload>.<server>.syscalls.json) instead of
# the timed runs.
COUNTED = {"server_syscalls_per_msg"}


def metric(doc, path):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc if isinstance(doc, (int, float)) else None


def load_runs(runs_dir, kind):
    """{(workload, server): [docs]}: with kind "timed" the timed runs in index order, with kind
    "syscalls" each server's one syscall-counting run."""
    name = r"(\d+)" if kind == "timed" else re.escape(kind)
    runs = {}
    for f in glob.glob(os.path.join(runs_dir, "*.json")):
        m = re.match(r"([^.]+)\.([^.]+)\.%s\.json$" % name, os.path.basename(f))
        if not m:
            continue
        try:
            with open(f) as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            doc = {"failed": True}
        order = int(m.group(3)) if kind == "timed" else 0
        runs.setdefault((m.group(1), m.group(2)), []).append((order, doc))
    return {k: [d for _, d in sorted(v, key=lambda t: t[0])] for k, v in runs.items()}


def problems(doc):
    """Verification problems a run reported (a result that is fast but wrong is not a result)."""
    if doc.get("failed"):
        return "run failed"
    bad = {k: doc.get(k, 0) for k in ("mismatches", "lost", "reordered", "errors", "non_2xx")}
    bad = {k: v for k, v in bad.items() if v}
    if doc.get("messages") == 0 and doc.get("mode") != "idle":
        bad["no traffic"] = 0
    return ", ".join(f"{k} {v}" if v else k for k, v in bad.items()) or None


def server_entry(docs, path, better):
    """One server's figures for one row: the median of its runs, and what to read it with."""
    values = [metric(d, path) for d in docs]
    valid = [v for v in values if v is not None]
    entry = {
        "median": statistics.median(valid) if valid else None,
        "runs": values,
        "problems": sorted({p for p in map(problems, docs) if p}),
    }
    # Only throughput rows are capped by a busy client; CPU per message, RSS and latency at a
    # fixed rate stay valid.
    entry["client_bound_runs"] = 0 if better != "higher" else sum(
        1 for d in docs
        if d.get("target_rate") is None and d.get("mode") != "idle"
        and (d.get("client_cpu_cores") or 0) >= CLIENT_BOUND_CORES * d.get("threads", 1))
    # Context for reading the row: how busy the server was, and the tail latency.
    for key, path_ in (("server_cpu_cores", "server_cpu_cores"), ("p99_us", "latency.p99_us"),
                       ("latency_p99_us", "latency_p99_us")):
        ctx = [v for v in (metric(d, path_) for d in docs) if v is not None]
        if ctx:
            entry[key + "_median"] = statistics.median(ctx)
    return entry


def summarise(timed, counted, servers):
    rows = []
    for row_id, workload, label, path, unit, better in ROWS:
        entry = {"id": row_id, "workload": workload, "label": label, "metric": path, "unit": unit,
                 "better": better}
        runs = timed
        if path in COUNTED:
            runs, entry["source"] = counted, "syscall-counting run (untimed)"
        for server in servers:
            docs = runs.get((workload, server))
            entry[server] = server_entry(docs, path, better) if docs else None
        # A row no server has a figure or a problem for (the syscall rows without perf) is left out,
        # and so is one whose metric the runs that did not fail never report (the "from cold" rows
        # with IDLE_WARM=0): their problems are shown on the workload's other rows.
        if not any(e and (e["median"] is not None or e["problems"]) for e in map(entry.get, servers)):
            continue
        ran = [d for server in servers for d in runs.get((workload, server)) or [] if not d.get("failed")]
        if ran and all(metric(d, path) is None for d in ran):
            continue
        bun = entry.get(BUN)
        entry["ratios"] = {}
        for server in servers:
            mine = entry[server]
            if server != BUN and bun and bun["median"] and mine and mine["median"] is not None:
                entry["ratios"][server] = mine["median"] / bun["median"]
        rows.append(entry)
    return rows


def fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def title(server):
    return "Bun" if server == BUN else server


def print_table(rows, servers):
    others = [s for s in servers if s != BUN]
    label_w = max([8] + [len(r["label"]) for r in rows])
    values = [(title(s), max(12, len(title(s)))) for s in servers]
    ratios = [(f"{s}/Bun", max(7, len(s) + 4)) for s in others]
    header = f"{'workload':<{label_w}} {'unit':>12}" + "".join(f" {h:>{w}}" for h, w in values + ratios)
    print(header)
    print("-" * len(header))
    for r in rows:
        line = f"{r['label']:<{label_w}} {r['unit']:>12}"
        for server, (_, w) in zip(servers, values):
            line += f" {fmt(r[server]['median'] if r.get(server) else None):>{w}}"
        for server, (_, w) in zip(others, ratios):
            ratio = r["ratios"].get(server)
            line += f" {f'{ratio:.2f}x' if ratio is not None else '-':>{w}}"
        print(line + (" (lower is better)" if r["better"] == "lower" else ""))
        for server in servers:
            if r.get(server) and r[server]["problems"]:
                print(f"    ! {server}: {'; '.join(r[server]['problems'])}")
            if r.get(server) and r[server].get("client_bound_runs"):
                print(f"    ~ {server}: client core saturated in {r[server]['client_bound_runs']} run(s): "
                      "a lower bound for the server")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--servers", help="servers in column order, space-separated "
                    "(default: those with runs, Bun first)")
    ap.add_argument("--bun-version", default="")
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--runs-per-server", type=int, default=0)
    ap.add_argument("--fixed-rate", type=float, default=0)
    a = ap.parse_args()
    timed, counted = load_runs(a.runs, "timed"), load_runs(a.runs, "syscalls")
    servers = a.servers.split() if a.servers else sorted({s for _, s in timed}, key=lambda s: (s != BUN, s))
    rows = summarise(timed, counted, servers)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "")
    except OSError:
        pass
    doc = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()},
        "bun_version": a.bun_version,
        "servers": servers,
        "duration_s": a.duration,
        "runs_per_server": a.runs_per_server,
        "fixed_rate_msgs_per_s": a.fixed_rate or None,
        "setup": "each server pinned to core 0 with one worker; imphnen-loadgen (1 thread) / wrk -t1 on core 1",
        "rows": rows,
    }
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    print_table(rows, servers)


if __name__ == "__main__":
    main()
