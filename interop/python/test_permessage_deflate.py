"""permessage-deflate (RFC 7692) against examples/echo with COMPRESSION=shared and =dedicated.

`scripts/interop.sh` passes their base URLs in IMPHNEN_ECHO_SHARED_URL and
IMPHNEN_ECHO_DEDICATED_URL. Two kinds of peer: the `websockets` client with its default offer
(and with compression=None), and a raw socket whose frames are built here from RFC 6455 and
compressed with Python's own zlib, so each byte on the wire is checked against an independent
DEFLATE implementation: RSV1 on what the server compresses, context takeover as negotiated, and
the close codes for bad compressed input.
"""

import base64
import hashlib
import os
import socket
import struct
import zlib

import pytest
from websockets.sync.client import connect

TIMEOUT = 5
MIB = 1024 * 1024
TAIL = b"\x00\x00\xff\xff"
MODES = ["shared", "dedicated"]


def base(mode):
    name = f"IMPHNEN_ECHO_{mode.upper()}_URL"
    url = os.environ.get(name)
    if not url:
        pytest.fail(f"{name} is not set; run the tests through scripts/interop.sh")
    return url


@pytest.mark.parametrize("mode", MODES)
def test_the_default_offer_of_websockets_is_accepted(mode):
    with connect(base(mode) + "/echo", open_timeout=TIMEOUT, max_size=32 * MIB) as ws:
        answer = ws.response.headers["Sec-WebSocket-Extensions"]
        if mode == "shared":
            assert answer == (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            )
        else:
            assert answer == "permessage-deflate"
        payloads = ["", "hi", "a" * 1023, "b" * 1024, "é☃" * 3000, "json " * 20000]
        payloads += [bytes(range(256)) * 300, os.urandom(70000), b"\x00" * MIB]
        for _ in range(2):  # the second round runs on the contexts the first one left
            for p in payloads:
                ws.send(p)
                assert ws.recv(timeout=TIMEOUT) == p


@pytest.mark.parametrize("mode", MODES)
def test_without_an_offer_nothing_is_negotiated(mode):
    with connect(base(mode) + "/echo", open_timeout=TIMEOUT, compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("x" * 5000)
        assert ws.recv(timeout=TIMEOUT) == "x" * 5000


class Raw:
    """A client on a plain socket: handshake, masked frames, unmasked frames read back."""

    def __init__(self, mode, offer):
        host, port = base(mode).removeprefix("ws://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /echo HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        )
        if offer is not None:
            request += f"Sec-WebSocket-Extensions: {offer}\r\n"
        self.sock.sendall((request + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.recv_some()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), lines[0]
        self.headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}

    def recv_some(self):
        data = self.sock.recv(65536)
        assert data, "the server closed the connection"
        return data

    def send_frame(self, b0, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", b0, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def read_exact(self, n):
        while len(self.buf) < n:
            self.buf += self.recv_some()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """(first byte, payload) of the next frame."""
        b0, b1 = self.read_exact(2)
        assert b1 & 0x80 == 0, "a server frame is masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.read_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.read_exact(8))
        return b0, self.read_exact(n)

    def close_code(self):
        """The code of the server's Close, skipping any data frame before it."""
        while True:
            b0, payload = self.read_frame()
            if b0 & 0x0F == 0x8:
                return struct.unpack("!H", payload[:2])[0]


def deflate(compressor, data):
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


@pytest.mark.parametrize("mode", MODES)
def test_frames_are_compressed_on_the_wire_as_zlib_reads_them(mode):
    raw = Raw(mode, "permessage-deflate; client_max_window_bits")
    assert raw.headers["sec-websocket-extensions"].startswith("permessage-deflate")
    takeover = mode == "dedicated"
    ours = zlib.compressobj(wbits=-15)
    theirs = zlib.decompressobj(wbits=-15)
    # Hex digits: compressible alone, and far more so with the previous message in the window.
    text = b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() for i in range(40))
    sizes = []
    for _ in range(3):
        raw.send_frame(0xC1, deflate(ours, text))  # FIN, RSV1, text
        if not takeover:
            ours = zlib.compressobj(wbits=-15)  # shared mode: the client resets its context
        b0, payload = raw.read_frame()
        assert b0 == 0xC1, f"echo of {len(text)} bytes not compressed: {b0:#x}"
        sizes.append(len(payload))
        if not takeover:
            theirs = zlib.decompressobj(wbits=-15)
        assert theirs.decompress(payload + TAIL) == text
    if takeover:
        assert sizes[1] < sizes[0] / 4, sizes  # the second message builds on the first
    else:
        assert sizes[0] == sizes[1] == sizes[2], sizes
    # Short messages go back uncompressed, and a message sent uncompressed is fine too.
    raw.send_frame(0x81, b"short")
    assert raw.read_frame() == (0x81, b"short")
    # A compressed message fragmented: RSV1 on the first frame only.
    data = deflate(zlib.compressobj(wbits=-15), b"fragmented " * 10)
    if takeover:
        data = deflate(ours, b"fragmented " * 10)
    raw.send_frame(0x41, data[:5])
    raw.send_frame(0x80, data[5:])
    b0, payload = raw.read_frame()
    assert b0 & 0x0F == 0x1
    got = payload if b0 & 0x40 == 0 else theirs.decompress(payload + TAIL)
    assert got == b"fragmented " * 10


@pytest.mark.parametrize("mode", MODES)
def test_a_deflate_bomb_closes_with_1009(mode):
    raw = Raw(mode, "permessage-deflate")
    bomb = deflate(zlib.compressobj(wbits=-15), b"\x00" * (20 * MIB))  # echo's limit is 16 MiB
    assert len(bomb) < 64 * 1024
    raw.send_frame(0xC2, bomb)
    assert raw.close_code() == 1009


@pytest.mark.parametrize("mode", MODES)
def test_data_that_does_not_inflate_closes_with_1007(mode):
    raw = Raw(mode, "permessage-deflate")
    raw.send_frame(0xC2, b"\xff\xff\xff\xff\xff")
    assert raw.close_code() == 1007
    raw = Raw(mode, "permessage-deflate")
    raw.send_frame(0xC1, deflate(zlib.compressobj(wbits=-15), b"\xc3\x28 invalid utf-8"))
    assert raw.close_code() == 1007


@pytest.mark.parametrize("mode", MODES)
def test_rsv1_where_permessage_deflate_does_not_allow_it_closes_with_1002(mode):
    raw = Raw(mode, "permessage-deflate")
    raw.send_frame(0x41, b"\xf2\x48")
    raw.send_frame(0xC0, b"\xcd\xc9\xc9\x07\x00")  # RSV1 on a continuation
    assert raw.close_code() == 1002
    raw = Raw(mode, "permessage-deflate")
    raw.send_frame(0xC9, b"")  # RSV1 on a ping
    assert raw.close_code() == 1002
    raw = Raw(mode, None)  # nothing negotiated: RSV1 is a protocol error
    raw.send_frame(0xC1, b"\xf2\x48\xcd\xc9\xc9\x07\x00")
    assert raw.close_code() == 1002


@pytest.mark.parametrize("mode", MODES)
def test_a_client_that_demands_an_8_bit_window_gets_it_and_plain_frames(mode):
    raw = Raw(mode, "permessage-deflate; server_max_window_bits=8")
    assert "server_max_window_bits=8" in raw.headers["sec-websocket-extensions"]
    text = b"z" * 4000
    raw.send_frame(0xC1, deflate(zlib.compressobj(wbits=-9), text))
    assert raw.read_frame() == (0x81, text)
