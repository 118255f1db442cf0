#!/usr/bin/env bash
# User-space instructions per WebSocket message or per HTTP request of bench_server, counted by
# valgrind's callgrind: repeatable where wall-clock figures on this machine spread by ±15 %.
#
#   ./benches/callgrind.sh ws     # 10 connections echo 20 B, 1 in flight, paced at 5,000 msgs/s
#                                 # (CONNECTIONS=100 INFLIGHT=16 RATE=50000: closer to a busy core)
#   ./benches/callgrind.sh http   # GET / under wrk -t1 -c10
#
# Each mode runs the server under callgrind twice, with a short (2 s) and a long (6 s) load, and
# divides the difference in instructions by the difference in messages (requests): start-up,
# connection set-up and shutdown cancel out. Under valgrind the server is ~50x slower, so the
# figure is about code paths, not about batching at full speed. Output files stay in
# target/callgrind/ for `callgrind_annotate`.
#
# Environment: BIN (default target/release/examples/bench_server), PORT (default 3190),
# SERVER_CORE=0 CLIENT_CORE=1, CONNECTIONS=10 INFLIGHT=1 RATE=5000 (ws mode).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=${1:-ws}
PORT=${PORT:-3190}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
OUT=$ROOT/target/callgrind
LOADGEN=$ROOT/target/release/imphnen-loadgen
mkdir -p "$OUT"

command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [[ -z ${BIN:-} ]]; then
  BIN=$ROOT/target/release/examples/bench_server
  cargo build --release --example bench_server -p imphnen >&2
fi
cargo build --release -p imphnen-loadgen >&2
if [[ $MODE == http ]]; then
  command -v wrk >/dev/null || { echo "callgrind.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
fi

wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# run SECONDS: one server under callgrind, one load of SECONDS; prints "<units> <instructions>".
run() {
  local secs=$1 prof=$OUT/$MODE.$1.callgrind units
  rm -f "$prof"
  WORKERS=1 PORT=$PORT taskset -c "$SERVER_CORE" valgrind --tool=callgrind \
    --callgrind-out-file="$prof" "$BIN" >/dev/null 2>"$OUT/$MODE.$secs.valgrind.log" &
  local server=$!
  wait_port "$PORT"
  if [[ $MODE == http ]]; then
    taskset -c "$CLIENT_CORE" wrk -t1 -c10 -d"${secs}s" "http://127.0.0.1:$PORT/" >"$OUT/$MODE.$secs.txt"
    units=$(grep -oE '^ *[0-9]+ requests in' "$OUT/$MODE.$secs.txt" | grep -oE '[0-9]+')
  else
    taskset -c "$CLIENT_CORE" "$LOADGEN" echo --url "ws://127.0.0.1:$PORT/echo" --connections "${CONNECTIONS:-10}" \
      --inflight "${INFLIGHT:-1}" --size 20 --duration "$secs" --warmup 0 --rate "${RATE:-5000}" --quiet \
      --json "$OUT/$MODE.$secs.json" >/dev/null
    units=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$OUT/$MODE.$secs.json")
  fi
  # valgrind is the child of the backgrounded job: signal it directly so it writes its profile.
  pkill -INT -f "callgrind-out-file=$prof" || true
  wait "$server" 2>/dev/null || true
  echo "$units $(awk '/^(summary|totals):/ {print $2}' "$prof" | tail -1)"
}

read -r short_units short_ir < <(run 2)
read -r long_units long_ir < <(run 6)
python3 - "$MODE" "$short_units" "$short_ir" "$long_units" "$long_ir" <<'PY'
import sys
mode, su, si, lu, li = sys.argv[1], *map(int, sys.argv[2:])
unit = "request" if mode == "http" else "message"
print(f"{mode}: {(li - si) / (lu - su):,.0f} instructions per {unit} "
      f"({lu - su:,} {unit}s, {li - si:,} instructions between the 2 s and 6 s runs)")
PY
