#!/usr/bin/env bash
# Cross-node delivery through Redis: publish on node A, receipt by the subscribers of node B.
#
# One redis-server of this script's own (a free loopback port, no persistence) and two
# processes of examples/bench_server with REDIS_URL set, one worker each: A takes the publisher,
# B the subscribers (`imphnen-loadgen broadcast --publish-url`). Only the deliveries on B are
# counted and timed, from the publisher's send on A to the subscriber's receipt on B: the path
# A's core → A's broker thread → Redis → B's broker thread → B's core → B's subscribers.
#
# For each case (subscribers × payload size) three runs on fresh servers:
#   closed  one publisher with 16 in flight, paced by its own echo on A: nothing holds A back
#           when B falls behind (Redis pub/sub has no flow control), so this is the overload
#           row: what B receives at most, and what happens to the surplus
#   half    open loop at half the publishes/s `closed` reached: sustained load
#   light   open loop at LIGHT_DELIVERIES / subscribers publishes/s: the path's own latency
# then B's broker counters from /metrics (reconnects, gaps, undelivered).
# With SOCKETIO=1 the same cases also run on the Socket.IO + Redis adapter anchor
# (benches/anchors/socketio, installed with `npm ci` on first use): `light`, and `paced`, its
# client's closed loop of 16 in flight counted until B's last subscriber has the message.
#
# Nothing is pinned: on a 2-core machine Redis, both nodes and the client share the cores,
# so these figures are the whole path's cost on one small box, not one node's ceiling.
#
# Environment (all optional):
#   DURATION=5 WARMUP=2             measured and warm-up seconds per run
#   SUBSCRIBERS="100 1000"          subscriber counts on B
#   SIZES="64 2048"                 payload bytes
#   LIGHT_DELIVERIES=100000         deliveries/s on B of the light run
#   RUNS="closed half light"        which runs (RUNS=closed: the overload rows alone)
#   SERVER=target/release/examples/bench_server
#                                   the node binary (another commit's build, to compare)
#   SOCKETIO=1                      add the Socket.IO anchor's rows (needs node and npm)
# Results: target/bench/cross_node/<case>.<run>.json (and each node's imphnen_broker_* counters
# in <case>.<run>.{a,b}.metrics) and a table on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
SUBSCRIBERS=${SUBSCRIBERS:-100 1000}
SIZES=${SIZES:-64 2048}
LIGHT_DELIVERIES=${LIGHT_DELIVERIES:-100000}
RUNS=${RUNS:-closed half light}
SOCKETIO=${SOCKETIO:-0}
ANCHOR=$ROOT/benches/anchors/socketio
OUT=$ROOT/target/bench/cross_node
LOADGEN=$ROOT/target/release/imphnen-loadgen
SERVER=${SERVER:-$ROOT/target/release/examples/bench_server}
mkdir -p "$OUT"

command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install -y redis-server)" >&2; exit 1; }
cargo build --release -q --example bench_server -p imphnen
cargo build --release -q -p imphnen-loadgen

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
REDIS_PID=
trap 'stop_all; if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi' EXIT

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
wait_port "$REDIS_PORT" || { echo "redis-server did not start" >&2; exit 1; }

# start_nodes LOG_PREFIX COMMAND...: starts COMMAND as node A and as node B (PORT and
# REDIS_URL in its environment), logs in LOG_PREFIX.node-{a,b}.log; sets A_PORT and B_PORT.
start_nodes() {
  local log=$1 node port
  shift
  A_PORT=$(free_port)
  B_PORT=$(free_port)
  for node in a b; do
    port=$A_PORT; [ $node = b ] && port=$B_PORT
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT PORT=$port "$@" >"$log.node-$node.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" || { echo "node $node did not start (see $log.node-$node.log)" >&2; exit 1; }
  done
  sleep 0.5 # both broker links up
}

# run CASE RUN SUBS SIZE [loadgen options...]: one loadgen run on fresh nodes, its JSON kept.
run() {
  local case=$1 name=$2 subs=$3 size=$4
  shift 4
  start_nodes "$OUT/$case.$name" env WORKERS=1 RUST_LOG=warn "$SERVER"
  "$LOADGEN" broadcast --url "ws://127.0.0.1:$B_PORT/broadcast" \
    --publish-url "ws://127.0.0.1:$A_PORT/broadcast" --connections $((subs + 1)) \
    --publishers 1 --size "$size" --duration "$DURATION" --warmup "$WARMUP" --quiet \
    --json "$OUT/$case.$name.json" "$@" >"$OUT/$case.$name.txt" 2>&1 ||
    echo "loadgen failed or found faults in $case.$name (see $OUT/$case.$name.txt)" >&2
  curl -s "http://127.0.0.1:$A_PORT/metrics" | grep '^imphnen_broker_' >"$OUT/$case.$name.a.metrics" || true
  curl -s "http://127.0.0.1:$B_PORT/metrics" | grep '^imphnen_broker_' >"$OUT/$case.$name.b.metrics" || true
  stop_all
}

# run_socketio CASE RUN SUBS SIZE [client options...]: the same on two Socket.IO nodes.
run_socketio() {
  local case=$1 name=$2 subs=$3 size=$4
  shift 4
  start_nodes "$OUT/$case.$name" node "$ANCHOR/server.js"
  node "$ANCHOR/client.js" --url "http://127.0.0.1:$B_PORT" --publish-url "http://127.0.0.1:$A_PORT" \
    --subscribers "$subs" --size "$size" --duration "$DURATION" --warmup "$WARMUP" \
    --json "$OUT/$case.$name.json" "$@" >"$OUT/$case.$name.txt" 2>&1 ||
    echo "the socket.io client failed or found faults in $case.$name (see $OUT/$case.$name.txt)" >&2
  : >"$OUT/$case.$name.b.metrics"
  stop_all
}
if [ "$SOCKETIO" = 1 ] && [ ! -d "$ANCHOR/node_modules" ]; then
  (cd "$ANCHOR" && npm ci --silent)
fi

printf '| subscribers | size | run | publishes/s | deliveries/s | p50 µs | p99 µs | lost | B: reconnects / gaps / undelivered |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
row() { # CASE RUN SUBS SIZE
  local j=$OUT/$1.$2.json m=$OUT/$1.$2.b.metrics
  [ -f "$j" ] || { printf '| %s | %s | %s | failed | | | | | |\n' "$3" "$4" "$2"; return; }
  python3 - "$j" "$m" "$2" "$3" "$4" <<'PY'
import json, sys
j, m, run, subs, size = sys.argv[1:]
r = json.load(open(j))
counters = {}
for line in open(m):
    name, value = line.split()
    counters[name] = int(float(value))
lat = r["latency"]
reconnects = counters.get("imphnen_broker_reconnects_total", "–")
gaps = counters.get("imphnen_broker_gaps_total", "–")
undelivered = counters.get("imphnen_broker_undelivered_total", "–")
print(f"| {subs} | {size} B | {run} | {r['msgs_per_s'] / int(subs):,.0f} | {r['msgs_per_s']:,.0f} "
      f"| {lat['p50_us']:,.0f} | {lat['p99_us']:,.0f} | {r['lost']:,} | {reconnects} / {gaps} / {undelivered} |")
PY
}

wants() { [[ " $RUNS " == *" $1 "* ]]; } # wants RUN: RUN is one of $RUNS
for subs in $SUBSCRIBERS; do
  for size in $SIZES; do
    case=s${subs}_b${size}
    if wants closed; then
      run "$case" closed "$subs" "$size" --inflight 16
      row "$case" closed "$subs" "$size"
    fi
    light=$((LIGHT_DELIVERIES / subs))
    if wants half; then
      rate=$(python3 -c 'import json,sys; print(max(1, int(json.load(open(sys.argv[1]))["msgs_per_s"] / int(sys.argv[2]) / 2)))' \
        "$OUT/$case.closed.json" "$subs" 2>/dev/null || echo "$light")
      run "$case" half "$subs" "$size" --inflight 64 --rate "$rate"
      row "$case" half "$subs" "$size"
    fi
    if wants light; then
      run "$case" light "$subs" "$size" --inflight 64 --rate "$light"
      row "$case" light "$subs" "$size"
    fi
    if [ "$SOCKETIO" = 1 ]; then
      run_socketio "$case" socketio-light "$subs" "$size" --rate "$light"
      row "$case" socketio-light "$subs" "$size"
      run_socketio "$case" socketio-paced "$subs" "$size" --inflight 16 --pace b
      row "$case" socketio-paced "$subs" "$size"
    fi
  done
done
