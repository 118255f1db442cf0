#!/usr/bin/env bash
# wss:// side by side: Bun (benches/anchors/bun_server.ts) and imphnen's bench_server on each
# driver, serving the same self-signed P-256 certificate, each pinned to one core
# (SERVER_CORE, default 0) with one worker; the client (benches/tls_client.py, Python
# `websockets` over the standard library's ssl) pinned to another (CLIENT_CORE, default 1).
# The Python client is slower than either server, so its rates are not the servers' ceilings:
# the server's CPU time per operation is the figure to compare.
#
#   SECS=5 IDLE=3000 ./benches/tls_compare.sh
#   SERVERS="bun imphnen-uring imphnen-epoll" MODES="handshakes echo16k echo20b16"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/target/bench-tls
mkdir -p "$OUT"
SECS=${SECS:-5}
IDLE=${IDLE:-3000}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}

[ -x target/venv/bin/python ] || python3 -m venv target/venv
target/venv/bin/python -c 'import websockets' 2>/dev/null \
  || target/venv/bin/pip install -q --disable-pip-version-check 'websockets>=13'
BUN=$ROOT/target/bun/node_modules/bun/bin/bun.exe
if ! "$BUN" --version >/dev/null 2>&1; then
  mkdir -p target/bun
  (cd target/bun && npm install --no-audit --no-fund --loglevel=error bun@1.4.5 >&2)
fi
cargo build --release -p imphnen --features imphnen/tls --example bench_server
[ -f "$OUT/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
export CA=$OUT/cert.pem

pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT
port=3200
for server in ${SERVERS:-bun imphnen-uring imphnen-epoll}; do
  port=$((port + 1))
  case $server in
    bun) cmd=("$BUN" benches/anchors/bun_server.ts) ;;
    imphnen-*) cmd=(env IMPHNEN_DRIVER="${server#imphnen-}" WORKERS=1 target/release/examples/bench_server) ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  PORT=$port TLS_CERT=$OUT/cert.pem TLS_KEY=$OUT/key.pem taskset -c "$SERVER_CORE" "${cmd[@]}" \
    > "$OUT/$server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  for mode in ${MODES:-handshakes echo16k echo20b16} idle:$IDLE; do
    printf '%-14s ' "$server"
    taskset -c "$CLIENT_CORE" target/venv/bin/python benches/tls_client.py \
      "wss://127.0.0.1:$port/echo" "$mode" "$SECS" "$pid"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
done
