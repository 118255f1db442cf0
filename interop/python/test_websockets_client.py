"""Python `websockets` (its threading client) against imphnen's example servers.

`scripts/interop.sh` starts `examples/echo` and `examples/seed_tour` and passes their base URLs
in IMPHNEN_ECHO_URL and IMPHNEN_TOUR_URL (e.g. ws://127.0.0.1:40123). Every receive has a
timeout, so a server that stays silent fails the test instead of hanging it.
"""

import json
import os

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TIMEOUT = 5
MIB = 1024 * 1024


def base(name):
    url = os.environ.get(name)
    if not url:
        pytest.fail(f"{name} is not set; run the tests through scripts/interop.sh")
    return url


def echo(path="/echo", **kw):
    return connect(base("IMPHNEN_ECHO_URL") + path, open_timeout=TIMEOUT, max_size=32 * MIB, **kw)


def tour(path, **kw):
    return connect(base("IMPHNEN_TOUR_URL") + path, open_timeout=TIMEOUT, max_size=4 * MIB, **kw)


def closed_by_server(ws):
    """Waits for the server's close; returns the (code, reason) it sent."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=TIMEOUT)
    rcvd = info.value.rcvd
    assert rcvd is not None, "the connection dropped without a Close frame"
    return rcvd.code, rcvd.reason


# ---------------------------------------------------------------- examples/echo


def test_text_is_echoed_as_text():
    with echo() as ws:
        for text in ["hello", "", "héllo wörld ✓", "🦀" * 1000]:
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == text


def test_binary_is_echoed_as_binary():
    with echo() as ws:
        payload = bytes(range(256)) * 4
        ws.send(payload)
        got = ws.recv(timeout=TIMEOUT)
        assert isinstance(got, bytes) and got == payload


def test_one_mib_messages_round_trip():
    with echo() as ws:
        binary = os.urandom(MIB)
        ws.send(binary)
        assert ws.recv(timeout=TIMEOUT) == binary
        text = "x" * MIB
        ws.send(text)
        assert ws.recv(timeout=TIMEOUT) == text


def test_fragmented_send_arrives_as_one_message():
    with echo() as ws:
        ws.send(["frag", "ment", "ed ✓"])  # one text message in three frames
        assert ws.recv(timeout=TIMEOUT) == "fragmented ✓"
        ws.send([b"\x00" * 70000, b"\x01" * 3, b"\x02"])
        assert ws.recv(timeout=TIMEOUT) == b"\x00" * 70000 + b"\x01" * 3 + b"\x02"


def test_ping_is_answered():
    with echo() as ws:
        pong = ws.ping(b"are you there")
        assert pong.wait(TIMEOUT), "no pong"


def test_client_close_code_is_echoed_by_the_server():
    with echo() as ws:
        ws.send("before close")
        assert ws.recv(timeout=TIMEOUT) == "before close"
        ws.close(4321, "client says bye")
        rcvd = ws.protocol.close_rcvd
        assert rcvd is not None, "the server did not answer the close"
        assert rcvd.code == 4321


def test_many_messages_keep_their_order():
    with echo() as ws:
        for i in range(500):
            ws.send(f"m{i}")
        for i in range(500):
            assert ws.recv(timeout=TIMEOUT) == f"m{i}"


# ---------------------------------------------------------------- examples/seed_tour


def test_quickstart_welcomes_then_echoes():
    with tour("/quickstart") as ws:
        assert ws.recv(timeout=TIMEOUT) == "Welcome!"
        ws.send("Hello!")
        assert ws.recv(timeout=TIMEOUT) == "Echo: Hello!"


def test_tour_echo_prefixes_large_and_fragmented_messages():
    with tour("/echo") as ws:
        ws.send("Hello!")
        assert ws.recv(timeout=TIMEOUT) == "Echo: Hello!"
        big = "y" * (MIB - 16)
        ws.send(big)
        assert ws.recv(timeout=TIMEOUT) == "Echo: " + big
        ws.send(["a", "b", "c"])
        assert ws.recv(timeout=TIMEOUT) == "Echo: abc"


def test_tour_refuses_a_message_over_its_one_mib_limit_with_1009():
    with tour("/echo") as ws:
        ws.send("z" * (MIB + 1))
        code, _ = closed_by_server(ws)
        assert code == 1009


def test_room_parameter_prefixes_messages():
    with tour("/room/lobby") as ws:
        ws.send("hi")
        assert ws.recv(timeout=TIMEOUT) == "[lobby] hi"


def test_optional_parameter_present_and_absent():
    with tour("/users/42") as ws:
        assert ws.recv(timeout=TIMEOUT) == "User 42 connected"
    with tour("/users") as ws:
        assert ws.recv(timeout=TIMEOUT) == "Anonymous connected"


def test_connect_without_token_closes_with_4001_and_its_reason():
    with tour("/connect") as ws:
        assert closed_by_server(ws) == (4001, "Authentication required")


def test_connect_with_token_authenticates():
    with tour("/connect?token=abc123&username=alice") as ws:
        assert ws.recv(timeout=TIMEOUT) == "alice authenticated"


def test_new_session_closes_the_old_one_with_4000():
    with tour("/user/py-session") as first:
        with tour("/user/py-session") as second:
            assert closed_by_server(first) == (4000, "New session started")
            second.ping().wait(TIMEOUT)


def test_api_validates_messages():
    with tour("/api") as ws:
        ws.send('{"type": "greet"}')
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"error": "Invalid message format"}
        ws.send('{"type": "greet", "payload": {"name": "py"}}')
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"type": "greet", "ok": True}
        ws.send("not json")
        assert closed_by_server(ws) == (4002, "Invalid JSON")
