"""Python `websockets` and the standard library's `ssl` against examples/echo serving TLS.

`scripts/interop.sh` makes a self-signed certificate with `openssl req`, starts examples/echo
with TLS_CERT and TLS_KEY, and passes its base URL in IMPHNEN_ECHO_WSS_URL (wss://127.0.0.1:N)
and the certificate in IMPHNEN_TLS_CA, which these clients trust alone.
"""

import os
import socket
import ssl

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TIMEOUT = 5
MIB = 1024 * 1024


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; run the tests through scripts/interop.sh")
    return value


def context(version=None):
    ctx = ssl.create_default_context(cafile=env("IMPHNEN_TLS_CA"))
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def wss(version=None):
    return connect(
        env("IMPHNEN_ECHO_WSS_URL") + "/echo",
        ssl=context(version),
        open_timeout=TIMEOUT,
        max_size=4 * MIB,
    )


def test_text_and_binary_are_echoed_over_tls13():
    with wss() as ws:
        assert ws.socket.version() == "TLSv1.3"
        for text in ["hello", "", "héllo wörld ✓", "🦀" * 1000]:
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == text
        payload = bytes(range(256)) * 4
        ws.send(payload)
        assert ws.recv(timeout=TIMEOUT) == payload


def test_a_one_mebibyte_message_is_echoed_over_tls12():
    with wss(ssl.TLSVersion.TLSv1_2) as ws:
        assert ws.socket.version() == "TLSv1.2"
        payload = os.urandom(MIB)
        ws.send(payload)
        assert ws.recv(timeout=TIMEOUT) == payload


def test_the_close_handshake_completes_with_the_clients_code():
    with wss() as ws:
        ws.close(code=4001, reason="python done")
        assert ws.close_code == 4001
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)


def test_a_client_that_trusts_another_ca_refuses_the_server():
    other = ssl.create_default_context()  # the system roots, without the test certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(env("IMPHNEN_ECHO_WSS_URL") + "/echo", ssl=other, open_timeout=TIMEOUT)


def test_plain_http_to_the_tls_port_is_answered_400():
    host, port = env("IMPHNEN_ECHO_WSS_URL").removeprefix("wss://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
