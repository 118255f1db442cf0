#!/usr/bin/env python3
"""Summarise benches/compare.sh runs: medians per (workload, server), imphnen/Bun ratios,
a printed table, and target/bench/results.json. Standard library only.

Owns the list of reported rows (which metric of which workload, and which direction is
better); the chart (benches/chart.py) draws whatever this file writes.
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
    ("echo_20b_16", "echo_20b_16", "echo 100 conns x 20 B, 16 in flight", "msgs_per_s", "msgs/s", "higher"),
    ("echo_20b_16_cpu", "echo_20b_16", "server CPU per message (echo 20 B, 16 in flight)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
    ("echo_20b_1", "echo_20b_1", "echo 100 conns x 20 B, 1 in flight", "msgs_per_s", "msgs/s", "higher"),
    ("echo_20b_1_cpu", "echo_20b_1", "server CPU per message (echo 20 B, 1 in flight)",
     "server_cpu_ns_per_msg", "ns/msg", "lower"),
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
    ("idle_rss", "idle_rss", "RSS per idle WebSocket connection", "server_rss_per_conn", "B/conn", "lower"),
]
SERVERS = ("bun", "imphnen")


def metric(doc, path):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc if isinstance(doc, (int, float)) else None


def load_runs(runs_dir):
    runs = {}
    for f in glob.glob(os.path.join(runs_dir, "*.json")):
        m = re.match(r"(.+)\.(bun|imphnen)\.(\d+)\.json$", os.path.basename(f))
        if not m:
            continue
        try:
            with open(f) as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            doc = {"failed": True}
        runs.setdefault((m.group(1), m.group(2)), []).append((int(m.group(3)), doc))
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


def summarise(runs):
    rows = []
    for row_id, workload, label, path, unit, better in ROWS:
        entry = {"id": row_id, "workload": workload, "label": label, "metric": path, "unit": unit,
                 "better": better}
        seen = False
        for server in SERVERS:
            docs = runs.get((workload, server))
            if not docs:
                entry[server] = None
                continue
            seen = True
            values = [metric(d, path) for d in docs]
            valid = [v for v in values if v is not None]
            entry[server] = {
                "median": statistics.median(valid) if valid else None,
                "runs": values,
                "problems": sorted({p for p in map(problems, docs) if p}),
            }
            # Only throughput rows are capped by a busy client; CPU per message, RSS and
            # latency at a fixed rate stay valid.
            entry[server]["client_bound_runs"] = 0 if better != "higher" else sum(
                1 for d in docs
                if d.get("target_rate") is None and d.get("mode") != "idle"
                and (d.get("client_cpu_cores") or 0) >= CLIENT_BOUND_CORES * d.get("threads", 1))
            # Context for reading the row: how busy the server was, and the tail latency.
            for key, path_ in (("server_cpu_cores", "server_cpu_cores"), ("p99_us", "latency.p99_us"),
                               ("latency_p99_us", "latency_p99_us")):
                ctx = [v for v in (metric(d, path_) for d in docs) if v is not None]
                if ctx:
                    entry[server][key + "_median"] = statistics.median(ctx)
        if not seen:
            continue
        b, i = entry.get("bun"), entry.get("imphnen")
        ratio = None
        if b and i and b["median"] and i["median"] is not None:
            ratio = i["median"] / b["median"]
        entry["ratio"] = ratio
        if ratio is not None:
            entry["imphnen_better"] = ratio > 1 if better == "higher" else ratio < 1
        rows.append(entry)
    return rows


def fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def print_table(rows):
    print(f"{'workload':<50} {'unit':>12} {'Bun':>14} {'imphnen':>14} {'imphnen/Bun':>12}")
    print("-" * 106)
    for r in rows:
        b = r["bun"]["median"] if r.get("bun") else None
        i = r["imphnen"]["median"] if r.get("imphnen") else None
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "-"
        note = " (lower is better)" if r["better"] == "lower" else ""
        print(f"{r['label']:<50} {r['unit']:>12} {fmt(b):>14} {fmt(i):>14} {ratio:>12}{note}")
        for server in SERVERS:
            if r.get(server) and r[server]["problems"]:
                print(f"    ! {server}: {'; '.join(r[server]['problems'])}")
            if r.get(server) and r[server].get("client_bound_runs"):
                print(f"    ~ {server}: client core saturated in {r[server]['client_bound_runs']} run(s): "
                      "a lower bound for the server")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bun-version", default="")
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--runs-per-server", type=int, default=0)
    ap.add_argument("--fixed-rate", type=float, default=0)
    a = ap.parse_args()
    rows = summarise(load_runs(a.runs))
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
        "duration_s": a.duration,
        "runs_per_server": a.runs_per_server,
        "fixed_rate_msgs_per_s": a.fixed_rate or None,
        "setup": "server pinned to core 0 with one worker; imphnen-loadgen (1 thread) / wrk -t1 on core 1",
        "rows": rows,
    }
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    print_table(rows)


if __name__ == "__main__":
    main()
