"""Opens N WebSocket connections to an echo server, holds them all open, then sends one message
on every connection and checks every echo. Prints how many were held and echoed, and the server's
RSS (from /proc) while they are held. Exit status 1 if any connection failed.

    python3 idle_echo.py --url ws://127.0.0.1:3000/echo --connections 10000 --server-pid PID

Raw asyncio streams (no WebSocket library): 10,000 connections cost little in the client.
"""

import argparse
import asyncio
import base64
import os
import sys
import time

TIMEOUT = 30


def rss_kib(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def masked_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + key + body


async def open_ws(host, port, path):
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"upgrade refused: {head[:40]!r}")
    return reader, writer


async def echo_once(reader, writer, text: str):
    writer.write(masked_frame(text.encode()))
    hdr = await reader.readexactly(2)
    n = hdr[1] & 0x7F
    payload = await reader.readexactly(n)
    if hdr[0] != 0x81 or payload.decode() != text:
        raise RuntimeError(f"bad echo {hdr!r} {payload!r}")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--server-pid", type=int)
    ap.add_argument("--hold", type=float, default=2.0, help="seconds to hold before echoing")
    args = ap.parse_args()
    rest = args.url.removeprefix("ws://")
    hostport, _, path = rest.partition("/")
    host, port = hostport.rsplit(":", 1)
    path = "/" + path

    rss_before = rss_kib(args.server_pid)
    sem = asyncio.Semaphore(256)
    conns = [None] * args.connections
    errors = []

    async def connect(i):
        async with sem:
            try:
                conns[i] = await asyncio.wait_for(open_ws(host, int(port), path), TIMEOUT)
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                errors.append(f"connect {i}: {e!r}")

    t0 = time.monotonic()
    await asyncio.gather(*(connect(i) for i in range(args.connections)))
    held = sum(c is not None for c in conns)
    print(f"held {held}/{args.connections} connections open after {time.monotonic() - t0:.1f}s")
    await asyncio.sleep(args.hold)
    rss_held = rss_kib(args.server_pid)

    echoed = 0

    async def ping(i):
        nonlocal echoed
        if conns[i] is None:
            return
        async with sem:
            try:
                await asyncio.wait_for(echo_once(*conns[i], f"idle-{i}"), TIMEOUT)
                echoed += 1
            except Exception as e:  # noqa: BLE001
                errors.append(f"echo {i}: {e!r}")

    await asyncio.gather(*(ping(i) for i in range(args.connections)))
    print(f"echoed on {echoed}/{args.connections} held connections")
    if rss_before is not None:
        per = (rss_held - rss_before) * 1024 / max(held, 1)
        print(
            f"server RSS: {rss_before} KiB before, {rss_held} KiB holding {held} "
            f"({per:.0f} B per connection)"
        )
    for c in conns:
        if c is not None:
            c[1].close()
    for e in errors[:10]:
        print(e, file=sys.stderr)
    return 0 if echoed == args.connections else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
