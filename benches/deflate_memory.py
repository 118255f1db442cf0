"""Server memory per WebSocket with permessage-deflate, idle and after one message each way.

    python3 benches/deflate_memory.py ws://127.0.0.1:PORT/echo SERVER_PID [CONNECTIONS] [SIZE]

Opens CONNECTIONS (default 1000) connections with the `websockets` client's default offer
(permessage-deflate with context takeover, as browsers offer it), reads the server's RSS, has
every connection send one SIZE-byte (default 2048) JSON-like text message and read its echo,
waits QUIET seconds (default 3: long enough for imphnen to drop a quiet connection's
compressor), and reads the RSS again. Prints bytes per connection over the RSS before the
connections opened: what a connection costs idle, and what it costs once it has used its
streams. Run it against servers started with COMPRESSION=shared or =dedicated (or Bun's anchor
with COMPRESSION=shared).
"""

import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def message(size, i):
    record = {"id": i, "user": f"user{i % 1000}", "text": "hello world message server", "ts": 0}
    text = json.dumps([record] * (size // 80 + 1))
    return text[:size]


async def main(url, pid, n, size, quiet):
    base = rss(pid)
    conns = []
    for _ in range(0, n, 100):
        conns += await asyncio.gather(*(connect(url, max_size=None) for _ in range(100)))
    await asyncio.sleep(1)
    idle = rss(pid)
    extensions = conns[0].response.headers.get("Sec-WebSocket-Extensions")

    async def one(i, ws):
        m = message(size, i)
        await ws.send(m)
        assert await ws.recv() == m

    await asyncio.gather(*(one(i, ws) for i, ws in enumerate(conns)))
    await asyncio.sleep(quiet)
    used = rss(pid)
    print(f"negotiated: {extensions}")
    print(f"idle:                      {(idle - base) / n:10.0f} B/conn")
    print(f"after one {size} B message: {(used - base) / n:10.0f} B/conn")
    await asyncio.gather(*(ws.close() for ws in conns))


if __name__ == "__main__":
    url, pid = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 2048
    asyncio.run(main(url, pid, n, size, float(os.environ.get("QUIET", "3"))))
