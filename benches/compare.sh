#!/usr/bin/env bash
# imphnen vs Bun, side by side on this machine.
#
# Each server runs pinned to one core (SERVER_CORE, default 0) with one worker; the load
# generator (benches/loadgen) and wrk run pinned to another (CLIENT_CORE, default 1).
# Every workload starts fresh servers, then runs Bun and imphnen alternately RUNS times;
# benches/summarize.py takes medians and imphnen/Bun ratios and benches/chart.py draws
# target/bench/chart.svg. Results: target/bench/results.json, one JSON per run in
# target/bench/runs/.
#
# Environment (all optional):
#   DURATION=8 WARMUP=2 RUNS=3    measured seconds, warm-up seconds, runs per server
#   ONLY="echo_20b_16 http_hello" workloads to run (ids below; default all)
#   IMPHNEN=0                     skip imphnen even if examples/bench_server.rs builds
#   IMPHNEN_BIN=path              run this binary as the imphnen side instead of building
#                                 bench_server (an older build, or a stand-in to test this script)
#   IDLE_CONNS=10000              connections for the idle-memory row
#   RATE=N | RATE_FROM=echo_20b_1 latency_fixed's open-loop rate: N msgs/s, or half of Bun's
#                                 median in that workload (default echo_20b_16)
#   SERVER_CORE=0 CLIENT_CORE=1   cores for server and client
# Flags: --smoke  only run loadgen's verified smoke against each server (no timings).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
IDLE_CONNS=${IDLE_CONNS:-10000}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BUN_VERSION=1.4.5
BUN_PORT=3101
IMP_PORT=3102
OUT=$ROOT/target/bench
RUNS_DIR=$OUT/runs
LOADGEN=$ROOT/target/release/imphnen-loadgen
IMP_BIN=${IMPHNEN_BIN:-$ROOT/target/release/examples/bench_server}
ALL="echo_16k echo_20b_16 echo_20b_1 bcast_100 bcast_500 http_hello http_pipe16 latency_fixed idle_rss"
ONLY=${ONLY:-$ALL}
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1

log() { printf '[compare] %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
ensure_bun() {
  local dir=$ROOT/target/bun
  BUN=$dir/node_modules/bun/bin/bun.exe
  if ! "$BUN" --version >/dev/null 2>&1; then
    log "installing bun@$BUN_VERSION from npm into target/bun"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >&2)
  fi
  if ! "$BUN" --version >/dev/null 2>&1; then
    # npm may skip bun's postinstall; the platform package carries the same binary.
    BUN=$(ls "$dir"/node_modules/@oven/bun-linux-*/bin/bun 2>/dev/null | head -n1)
  fi
  "$BUN" --version >/dev/null || { log "bun is not runnable"; exit 1; }
  log "bun $("$BUN" --version) at ${BUN#"$ROOT"/}"
}

ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    log "installing wrk (apt)"
    apt-get update -qq >&2 && apt-get install -y -qq wrk >&2
  fi
}

build() {
  log "building the load generator"
  cargo build --release -q -p imphnen-loadgen
  HAVE_IMP=0
  if [[ "${IMPHNEN:-1}" == 0 ]]; then
    log "IMPHNEN=0: imphnen rows skipped (Bun-only results)"
  elif [[ -n ${IMPHNEN_BIN:-} ]]; then
    log "imphnen side: $IMPHNEN_BIN (not rebuilt)"
    HAVE_IMP=1
  elif [[ ! -f examples/bench_server.rs ]]; then
    log "examples/bench_server.rs does not exist yet: imphnen rows skipped (Bun-only results)"
  elif ! cargo build --release -q --example bench_server; then
    log "examples/bench_server.rs does not build: imphnen rows skipped (Bun-only results)"
  else
    HAVE_IMP=1
  fi
}

# --- servers -----------------------------------------------------------------------------
declare -A PID SPORT
SPORT[bun]=$BUN_PORT
SPORT[imphnen]=$IMP_PORT

start_server() { # name
  local name=$1 port=${SPORT[$1]}
  if [[ $name == bun ]]; then
    PORT=$port taskset -c "$SERVER_CORE" "$BUN" benches/anchors/bun_server.ts >"$OUT/$name.log" 2>&1 &
  else
    PORT=$port WORKERS=1 taskset -c "$SERVER_CORE" "$IMP_BIN" >"$OUT/$name.log" 2>&1 &
  fi
  PID[$name]=$!
  for _ in $(seq 1 200); do
    # Any HTTP answer means the server is up (a stand-in may not serve GET /).
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then return 0; fi
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.05
  done
  log "$name did not come up on port $port; its log:"; cat "$OUT/$name.log" >&2
  return 1
}

stop_server() { # name
  local pid=${PID[$1]:-}
  [[ -z $pid ]] && return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  PID[$1]=
}

servers() { if [[ $HAVE_IMP == 1 ]]; then echo bun imphnen; else echo bun; fi; }
cleanup() { for s in bun imphnen; do stop_server "$s"; done; }
trap cleanup EXIT

# --- one run -----------------------------------------------------------------------------
client() { taskset -c "$CLIENT_CORE" "$@"; }

loadgen() { # server out.json mode path args...
  local s=$1 json=$2 mode=$3 path=$4; shift 4
  local rc=0
  client "$LOADGEN" "$mode" --url "ws://127.0.0.1:${SPORT[$s]}$path" --threads 1 --quiet \
    --server-pid "${PID[$s]}" --json "$json" "$@" >"${json%.json}.txt" || rc=$?
  if [[ $rc != 0 ]]; then
    log "  $s: loadgen exited $rc (verification problem or failure), see ${json%.json}.txt"
    [[ -f $json ]] || echo "{\"failed\": true, \"exit\": $rc}" >"$json"
  fi
}

# CPU time a process has used so far, user + system, in clock ticks (/proc/PID/stat fields 14
# and 15; the command name before them may contain spaces, so count from its closing paren).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

wrk_run() { # server out.json script
  local s=$1 json=$2 script=$3 pid=${PID[$1]} before after
  before=$(cpu_ticks "$pid")
  client wrk -t1 -c100 -d"${DURATION}s" -s "benches/wrk/$script" "http://127.0.0.1:${SPORT[$s]}/" \
    >"${json%.json}.txt" 2>&1 || true
  after=$(cpu_ticks "$pid")
  grep '^{"requests_per_s"' "${json%.json}.txt" >"$json" || echo '{"failed": true}' >"$json"
  # The server's CPU time per request over the run, as loadgen reports it per message: where
  # wrk's one thread is the limit, this is the figure that compares the servers.
  python3 - "$json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
path, before, after, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
doc = json.load(open(path))
if doc.get("requests"):
    cpu_s = (after - before) / tck
    doc["server_cpu_ns_per_req"] = cpu_s * 1e9 / doc["requests"]
    doc["server_cpu_cores"] = cpu_s / doc["duration_s"]
    json.dump(doc, open(path, "w"))
PY
}

half_bun_rate() { # half of Bun's median msgs/s in $RATE_FROM (default echo_20b_16), or $RATE
  if [[ -n ${RATE:-} ]]; then echo "$RATE"; return; fi
  python3 - "$RUNS_DIR" "${RATE_FROM:-echo_20b_16}" <<'PY'
import glob, json, statistics, sys
vals = [json.load(open(f)).get("msgs_per_s", 0) for f in glob.glob(f"{sys.argv[1]}/{sys.argv[2]}.bun.*.json")]
vals = [v for v in vals if v]
print(int(statistics.median(vals) / 2) if vals else 50000)
PY
}

run_one() { # workload server index
  local w=$1 s=$2 i=$3 json=$RUNS_DIR/$1.$2.$3.json
  local win=(--duration "$DURATION" --warmup "$WARMUP")
  case $w in
    echo_16k)    loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 1 --size 16384 --binary ;;
    echo_20b_16) loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 16 --size 20 --binary ;;
    echo_20b_1)  loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 1 --size 20 --binary ;;
    bcast_100)   loadgen "$s" "$json" broadcast /broadcast "${win[@]}" --connections 100 --publishers 1 --inflight 16 ;;
    bcast_500)   loadgen "$s" "$json" broadcast /broadcast "${win[@]}" --connections 500 --publishers 1 --inflight 16 ;;
    latency_fixed) loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 64 --size 20 --binary --rate "$FIXED_RATE" ;;
    idle_rss)    loadgen "$s" "$json" idle /echo --connections "$IDLE_CONNS" --hold 2 ;;
    http_hello)  wrk_run "$s" "$json" report.lua ;;
    http_pipe16) wrk_run "$s" "$json" pipeline.lua ;;
    *) log "unknown workload $w"; return 1 ;;
  esac
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  %-8s %s" % (sys.argv[2], ", ".join(f"{k}={d[k]:.4g}" for k in ("msgs_per_s","requests_per_s","server_cpu_ns_per_msg","server_cpu_ns_per_req","server_rss_per_conn") if isinstance(d.get(k),(int,float)))), d.get("latency",{}).get("p99_us","") and "p99=%.4gus" % d["latency"]["p99_us"])' "$json" "$s" >&2 || true
}

# --- main --------------------------------------------------------------------------------
mkdir -p "$RUNS_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ensure_bun
build

if [[ $SMOKE == 1 ]]; then
  rc=0
  for s in $(servers); do
    start_server "$s"
    log "smoke against $s"
    client "$LOADGEN" smoke --url "ws://127.0.0.1:${SPORT[$s]}/echo" || rc=1
    stop_server "$s"
  done
  exit $rc
fi

ensure_wrk
rm -f "$RUNS_DIR"/*.json "$RUNS_DIR"/*.txt
START=$(date +%s)
for w in $ONLY; do
  [[ $w == latency_fixed ]] && FIXED_RATE=$(half_bun_rate) && log "latency_fixed: open loop at $FIXED_RATE msgs/s (RATE, or half of Bun's ${RATE_FROM:-echo_20b_16} median)"
  log "== $w"
  active=""
  for s in $(servers); do
    if start_server "$s"; then active="$active $s"
    elif [[ $s == bun ]]; then exit 1
    else log "imphnen failed to start: its $w rows are skipped"; fi
  done
  for i in $(seq 1 "$RUNS"); do
    order=$active
    # Alternate which server goes first so drift on the machine does not favour one side.
    (( i % 2 == 0 )) && order=$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')
    for s in $order; do
      if [[ $w == idle_rss ]]; then
        stop_server "$s"
        start_server "$s" || { log "$s failed to restart"; continue; }
      fi
      run_one "$w" "$s" "$i"
    done
  done
  for s in $(servers); do stop_server "$s"; done
done
log "runs took $(( $(date +%s) - START )) s"

python3 benches/summarize.py --runs "$RUNS_DIR" --out "$OUT/results.json" \
  --bun-version "$("$BUN" --version)" --duration "$DURATION" --runs-per-server "$RUNS" \
  --fixed-rate "${FIXED_RATE:-0}"
python3 benches/chart.py "$OUT/results.json" "$OUT/chart.svg"
log "wrote target/bench/results.json and target/bench/chart.svg"
