"""A wss:// client for benches/tls_compare.sh: one workload against one server, reporting the
rate this client saw and the server's CPU time per operation (read from /proc/PID/stat, so the
figure does not depend on how fast this Python client is).

    tls_client.py URL MODE SECONDS SERVER_PID      (CA=<PEM file the client trusts>)

MODE: handshakes  4 clients in a loop: TLS handshake, upgrade, one 1-byte echo, close
      echo16k     one connection, 16 KiB binary messages, 1 in flight
      echo20b16   one connection, 20 B binary messages, 16 in flight
      idle:N      N connections opened (200 at a time), each echoes once, then left idle for
                  2 s: the server's RSS growth per connection
"""

import asyncio
import os
import ssl
import sys
import time

import websockets

url, mode, secs, pid = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context(cafile=os.environ["CA"])
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def connect():
    return websockets.connect(url, ssl=ctx, max_size=None, ping_interval=None, compression=None)


async def echo(size, inflight):
    async with connect() as ws:
        msg = os.urandom(size)
        for _ in range(50):  # warm-up
            await ws.send(msg)
            await ws.recv()
        n, c0, t0 = 0, cpu_seconds(), time.perf_counter()
        for _ in range(inflight):
            await ws.send(msg)
        while time.perf_counter() - t0 < secs:
            got = await ws.recv()
            assert got == msg, "a wrong echo"
            n += 1
            await ws.send(msg)
        dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
        for _ in range(inflight):
            await ws.recv()
        return n, dt, dc


async def handshakes(clients=4):
    count = 0
    stop = time.perf_counter() + secs

    async def one_client():
        nonlocal count
        while time.perf_counter() < stop:
            async with connect() as ws:
                await ws.send(b"x")
                assert await ws.recv() == b"x"
            count += 1

    c0, t0 = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*[one_client() for _ in range(clients)])
    return count, time.perf_counter() - t0, cpu_seconds() - c0


async def idle(n):
    gate = asyncio.Semaphore(200)

    async def one():
        async with gate:
            ws = await connect()
            await ws.send(b"x")
            await ws.recv()
            return ws

    before = rss_kib()
    conns = await asyncio.gather(*[one() for _ in range(n)])
    await asyncio.sleep(2)
    after = rss_kib()
    print(f"idle: {n} connections, server RSS {before} -> {after} KiB, "
          f"{(after - before) * 1024 / n:.0f} bytes per connection")
    await asyncio.gather(*[ws.close() for ws in conns])


async def main():
    if mode.startswith("idle:"):
        return await idle(int(mode[5:]))
    if mode == "echo16k":
        n, dt, dc = await echo(16 << 10, 1)
    elif mode == "echo20b16":
        n, dt, dc = await echo(20, 16)
    elif mode == "handshakes":
        n, dt, dc = await handshakes()
    else:
        sys.exit(f"unknown mode {mode}")
    print(f"{mode}: {n / dt:.0f}/s seen by the client, server CPU {dc * 1e6 / max(n, 1):.1f} us/op "
          f"({n} ops in {dt:.1f} s)")


asyncio.run(main())
