#!/usr/bin/env bash
# Heavy abuse runs, too long for every CI run (a few minutes on 2 cores), against the release
# examples/echo on 127.0.0.1:
#
#   1. CONNECTIONS (default 10000) concurrent idle WebSocket connections, held, then every one
#      must still get its echo; the server's RSS while holding them.
#   2. CYCLES (default 100000) connect/upgrade/close cycles, twice; the server's RSS before, after
#      the first round and after the second must stay flat (the second round may not grow it by
#      more than MAX_GROWTH_KIB, default 2048).
#
#   ./scripts/abuse-heavy.sh
#   CONNECTIONS=2000 CYCLES=20000 ./scripts/abuse-heavy.sh     a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
CONNECTIONS=${CONNECTIONS:-10000}
CYCLES=${CYCLES:-100000}
MAX_GROWTH_KIB=${MAX_GROWTH_KIB:-2048}
out=$root/target/abuse-heavy
mkdir -p "$out"

# CONNECTIONS sockets in each process (client and server) plus their own fds: raise the soft
# limit as far as the hard limit allows.
want=$((CONNECTIONS + 512))
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  echo "the fd limit $(ulimit -n) is below $want; raise the hard limit (ulimit -Hn)" >&2
  exit 1
fi

cargo build --release -p imphnen --features imphnen/tls --example echo
cargo build --release -p imphnen-loadgen

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$port WORKERS=2 "$root/target/release/examples/echo" >"$out/echo.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
url=ws://127.0.0.1:$port/echo

echo "==> $CONNECTIONS idle connections, then one echo on each"
timeout 300 python3 interop/heavy/idle_echo.py --url "$url" --connections "$CONNECTIONS" --server-pid "$pid"
sleep 2
rss_start=$(rss)
echo "server RSS after the idle connections closed: $rss_start KiB"

churn() {
  timeout 600 "$root/target/release/imphnen-loadgen" connect --url "$url" --count "$CYCLES" \
    --connections 50 --quiet --json "$out/connect-$1.json" | tail -n 3
  sleep 2
}
echo "==> $CYCLES connect/upgrade/close cycles (round 1)"
churn 1
rss_one=$(rss)
echo "==> $CYCLES connect/upgrade/close cycles (round 2)"
churn 2
rss_two=$(rss)
echo "server RSS: ${rss_start} KiB before churn, ${rss_one} KiB after $CYCLES cycles, ${rss_two} KiB after $((2 * CYCLES))"
growth=$((rss_two - rss_one))
if [ "$growth" -gt "$MAX_GROWTH_KIB" ]; then
  echo "FAIL: RSS grew by $growth KiB during the second round (limit $MAX_GROWTH_KIB KiB)" >&2
  exit 1
fi
kill -0 "$pid" || { echo "FAIL: the server died" >&2; exit 1; }
echo "abuse-heavy passed"
