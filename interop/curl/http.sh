#!/usr/bin/env bash
# HTTP/1.1 interop with curl, raw pipelining and wrk against `examples/seed_tour` at HOST:PORT
# (its `GET /api/messages/:roomId` route). Fails on the first unexpected answer.
set -euo pipefail
hostport=$1
base=http://$hostport
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# Keep-alive: three requests, one TCP connection.
curl --http1.1 -sS -v --max-time 10 \
  "$base/api/messages/a" "$base/api/messages/b" "$base/api/messages/c" >"$work/bodies" 2>"$work/trace"
[ "$(grep -c '^< HTTP/1.1 200' "$work/trace")" = 3 ] || fail "keep-alive: expected three 200s"
[ "$(grep -Ec '^\* +(Connected to|Established connection)' "$work/trace")" = 1 ] \
  || fail "keep-alive: curl opened more than one connection"
grep -q 'Re-using existing connection' "$work/trace" || fail "keep-alive: connection not reused"
[ "$(cat "$work/bodies")" = '[][][]' ] || fail "keep-alive: bodies were $(cat "$work/bodies")"
ok "curl keep-alive: 3 requests on one connection"

# A chunked upload of 300 KB, then another request on the same connection: the server must have
# consumed the chunked body exactly (any route answers; the framing is what is tested).
head -c 300000 /dev/urandom >"$work/upload"
curl --http1.1 -sS -v --max-time 10 -o /dev/null -w '%{http_code}\n' \
  -H 'Transfer-Encoding: chunked' --data-binary @"$work/upload" "$base/api/messages/up" \
  --next --http1.1 -sS -o "$work/after" -w '%{http_code}\n' "$base/api/messages/after" \
  >"$work/codes" 2>"$work/trace"
grep -q '^> Transfer-Encoding: chunked' "$work/trace" || fail "chunked: curl did not send chunked"
first=$(sed -n 1p "$work/codes")
second=$(sed -n 2p "$work/codes")
case $first in 2??|404|405) ;; *) fail "chunked upload answered $first" ;; esac
[ "$second" = 200 ] || fail "request after the chunked upload answered $second"
[ "$(cat "$work/after")" = '[]' ] || fail "request after the chunked upload: $(cat "$work/after")"
grep -q 'Re-using existing connection' "$work/trace" || fail "chunked: connection not reused"
ok "curl chunked upload ($first), then 200 on the same connection"

# Expect: 100-continue with a Content-Length body.
code=$(curl --http1.1 -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
  --data-binary @"$work/upload" "$base/api/messages/expect")
case $code in 2??|404|405) ;; *) fail "Expect: 100-continue answered $code" ;; esac
ok "curl Expect: 100-continue ($code)"

# Pipelining: three requests in one write, three responses in order, then close.
python3 - "$hostport" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
req = b"".join(b"GET /api/messages/p%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(3))
s.sendall(req + b"GET /api/messages/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
assert data.count(b"HTTP/1.1 200") == 4, data
assert data.endswith(b"[]"), data
print("ok - pipelined: 4 responses in one read stream, then close")
EOF

# wrk: a short keep-alive burst, no socket errors, no non-2xx.
if command -v wrk >/dev/null; then
  wrk -t1 -c16 -d2s "$base/api/messages/wrk" >"$work/wrk" 2>&1 || fail "wrk failed: $(cat "$work/wrk")"
  ! grep -q 'Socket errors\|Non-2xx' "$work/wrk" || fail "wrk: $(cat "$work/wrk")"
  ok "wrk 2 s x 16 connections: $(grep 'Requests/sec' "$work/wrk" | tr -s ' ')"
fi
