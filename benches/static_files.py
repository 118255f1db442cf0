#!/usr/bin/env python3
"""Does serving files keep a core waiting? The latency of an unrelated route while files are
fetched, for three ways of reading them (examples/static_bench.rs):

  pool    app.static_files: open and read on the blocking pool
  monoio  monoio's fs on the core (io_uring underneath when monoio runs on io_uring)
  core    std::fs::read on the core: a blocking handler, the baseline

First, a 5-byte file alone, one request at a time: the cost of the trip to the pool. Then one
pinger sends GET /ping on a keep-alive connection, one request at a time, and records each
round trip; FETCHERS connections fetch random files of SIZE bytes meanwhile. With --cold, an
evictor drops the files' pages from the page cache (posix_fadvise DONTNEED) every 10 ms, so
reads go to the disk. Traffic goes to 127.0.0.1 only and each run lasts SECONDS.

Usage: benches/static_files.py target/release/examples/static_bench [--cold] [--seconds 10]
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time


def request(sock, buf, path):
    """GET `path` on a keep-alive connection; returns (status, body length)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = len(rest)
    del buf[:]
    while body < length:
        chunk = sock.recv(min(1 << 20, length - body))
        if not chunk:
            raise ConnectionError("closed")
        body += len(chunk)
    if body > length:
        raise ValueError("pipelining is not used")
    return status, length


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def run(port, mode, names, paths, args):
    stop = threading.Event()
    fetched = [0, 0]  # files, bytes
    errors = []
    lock = threading.Lock()

    def fetcher():
        sock, buf = connect(port), bytearray()
        rng = random.Random()
        try:
            while not stop.is_set():
                status, length = request(sock, buf, f"/{mode}/{rng.choice(names)}")
                if status != 200:
                    errors.append(status)
                with lock:
                    fetched[0] += 1
                    fetched[1] += length
        except OSError as e:
            errors.append(repr(e))

    def evictor():
        fds = [os.open(p, os.O_RDONLY) for p in paths]
        while not stop.is_set():
            for fd in fds:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            time.sleep(0.01)
        for fd in fds:
            os.close(fd)

    threads = [threading.Thread(target=fetcher) for _ in range(args.fetchers if mode else 0)]
    if args.cold and mode:
        threads.append(threading.Thread(target=evictor))
    for t in threads:
        t.start()
    sock, buf = connect(port), bytearray()
    latencies = []
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        t0 = time.perf_counter_ns()
        status, _ = request(sock, buf, "/ping")
        latencies.append((time.perf_counter_ns() - t0) / 1000)
        assert status == 200
    stop.set()
    for t in threads:
        t.join()
    sock.close()
    latencies.sort()
    return {
        "mode": mode or "idle",
        "files/s": fetched[0] / args.seconds,
        "MiB/s": fetched[1] / args.seconds / (1 << 20),
        "pings/s": len(latencies) / args.seconds,
        "p50 us": percentile(latencies, 0.50),
        "p99 us": percentile(latencies, 0.99),
        "p99.9 us": percentile(latencies, 0.999),
        "max us": latencies[-1],
        "errors": len(errors),
    }


def one_at_a_time(port, count=1000):
    """The round trip of a small hot file alone, per mode, against /ping: what a trip through
    the pool costs when nothing else runs."""
    rows = []
    for path in ["/ping", "/pool/small.txt", "/monoio/small.txt", "/core/small.txt"]:
        sock, buf = connect(port), bytearray()
        for _ in range(100):  # warm-up
            request(sock, buf, path)
        latencies = []
        for _ in range(count):
            t0 = time.perf_counter_ns()
            status, _ = request(sock, buf, path)
            latencies.append((time.perf_counter_ns() - t0) / 1000)
            assert status == 200, (path, status)
        sock.close()
        latencies.sort()
        rows.append((path, percentile(latencies, 0.5), percentile(latencies, 0.99)))
    print("| alone, one at a time | p50 us | p99 us |")
    print("|---|---|---|")
    for path, p50, p99 in rows:
        print(f"| {path} | {p50:.0f} | {p99:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("server", help="path of the static_bench example (release build)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes per file")
    parser.add_argument("--fetchers", type=int, default=4)
    parser.add_argument("--modes", default="pool,monoio,core")
    parser.add_argument("--cold", action="store_true", help="evict the files' pages every 10 ms")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as dir:
        names = [f"f{i}.bin" for i in range(args.files)]
        paths = [os.path.join(dir, n) for n in names]
        for p in paths:
            with open(p, "wb") as f:
                f.write(os.urandom(args.size))
        with open(os.path.join(dir, "small.txt"), "w") as f:
            f.write("hello")
        # PORT=0: a free port, read back from the line the example prints.
        env = dict(os.environ, STATIC_DIR=dir, PORT="0", WORKERS="1", RUST_LOG="warn")
        server = subprocess.Popen([args.server], env=env, stdout=subprocess.PIPE, text=True)
        try:
            args.port = int(server.stdout.readline().rsplit(":", 1)[1])
            print(
                f"# {args.files} files x {args.size} B, {args.fetchers} fetchers, "
                f"{'cold' if args.cold else 'warm'} page cache, {args.seconds} s per mode, "
                f"WORKERS=1, IMPHNEN_DRIVER={os.environ.get('IMPHNEN_DRIVER', 'auto')}"
            )
            one_at_a_time(args.port)
            rows = [run(args.port, None, names, paths, args)]
            for mode in args.modes.split(","):
                rows.append(run(args.port, mode, names, paths, args))
            keys = list(rows[0].keys())
            print("| " + " | ".join(keys) + " |")
            print("|" + "---|" * len(keys))
            for row in rows:
                cells = [
                    f"{v:.0f}" if isinstance(v, float) and k != "MiB/s" else
                    (f"{v:.1f}" if isinstance(v, float) else str(v))
                    for k, v in row.items()
                ]
                print("| " + " | ".join(cells) + " |")
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
