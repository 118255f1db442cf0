#!/usr/bin/env bash
# imphnen vs Bun (and optionally uWebSockets), side by side on this machine.
#
# Servers, one column each: bun; imphnen-DRIVER for each driver in IMPHNEN_DRIVERS (the same
# binary started with IMPHNEN_DRIVER=DRIVER); uws when UWS_BIN is set. Each runs pinned to one
# core (SERVER_CORE, default 0) with one worker, on its own port (3101, 3102, ... in column
# order); the load generator (benches/loadgen) and wrk run pinned to another (CLIENT_CORE,
# default 1). Every workload starts fresh servers, then runs each server in turn RUNS times,
# rotating which goes first; a server that fails to start, or gives no result in a run, is
# skipped for the rest of that workload (uws serves /echo only).
# System calls are counted apart from the timed runs: perf's raw_syscalls tracepoint slows every
# system call on the machine while it is enabled, and the more so the more calls a server
# makes, which would skew the throughput and CPU rows. So after its RUNS timed runs, each echo
# workload (echo_16k, echo_20b_16, echo_20b_1) gives every server that still has results one
# more run of the same shape, untimed, lasting SYSCALL_SECONDS after the warm-up, while
# `perf stat -e raw_syscalls:sys_enter -p PID` counts the server's calls. That run's JSON is
# <workload>.<server>.syscalls.json, with server_syscalls_per_msg added; summarize.py reads the
# "server syscalls per message" rows from these files alone and keeps them out of every other
# row. No perf (or SYSCALLS=0): no counting runs and no syscall rows.
# benches/summarize.py takes medians and each server's ratio to Bun, and benches/chart.py draws
# target/bench/chart.svg. Results: target/bench/results.json, one JSON per run in
# target/bench/runs/.
#
# Environment (all optional):
#   DURATION=8 WARMUP=2 RUNS=3    measured seconds, warm-up seconds, runs per server
#   ONLY="echo_20b_16 http_hello" workloads to run (ids below; default all)
#   IMPHNEN_DRIVERS="uring epoll" imphnen's drivers to measure, one column each
#   IMPHNEN=0                     skip imphnen even if examples/bench_server.rs builds
#   IMPHNEN_BIN=path              run this binary in every imphnen column instead of building
#                                 bench_server (an older build, or a stand-in to test this script;
#                                 one that predates IMPHNEN_DRIVER runs its own driver in each)
#   UWS_BIN=path                  add a uws column: a uWebSockets EchoServer-like binary that
#                                 listens on $PORT and serves /echo
#   IDLE_CONNS=10000              connections for the idle-memory rows
#   IDLE_WARM=1000                connections each idle run opens first, before its IDLE_CONNS:
#                                 "memory per idle WebSocket" is the RSS growth per connection
#                                 over the IDLE_CONNS alone (the server's one-off costs of its
#                                 first connections land in the warm-up), "..., from cold" the
#                                 growth from a fresh server over all; 0: no warm-up, no cold row
#   RATE=N | RATE_FROM=echo_20b_1 latency_fixed's open-loop rate: N msgs/s, or half of Bun's
#                                 median in that workload (default echo_20b_16)
#   SYSCALLS=0                    skip the syscall-counting runs (and their rows)
#   SYSCALL_SECONDS=3             counted seconds of each counting run
#   SERVER_CORE=0 CLIENT_CORE=1   cores for server and client
# The wss workloads (tls_*) start every server with TLS_CERT and TLS_KEY naming one throwaway
# P-256 certificate (target/bench/tls/) and connect with wss://: TLS 1.3, no session resumption,
# so every tls_handshake connection is a full handshake. uws (built without TLS) sits them out.
# Flags: --smoke  only run loadgen's verified smoke against each server (no timings).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
SYSCALLS=${SYSCALLS:-1}
SYSCALL_SECONDS=${SYSCALL_SECONDS:-3}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_WARM=${IDLE_WARM:-1000}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BUN_VERSION=1.4.5
FIRST_PORT=3101
OUT=$ROOT/target/bench
RUNS_DIR=$OUT/runs
LOADGEN=$ROOT/target/release/imphnen-loadgen
IMP_BIN=${IMPHNEN_BIN:-$ROOT/target/release/examples/bench_server}
IMPHNEN_DRIVERS=${IMPHNEN_DRIVERS:-uring epoll}
ALL="echo_16k echo_20b_16 echo_20b_1 bcast_100 bcast_500 http_hello http_pipe16 latency_fixed idle_rss z_echo_16k z_bcast_500 z_idle_rss tls_handshake tls_echo_16k tls_echo_20b_16 tls_idle_rss"
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

probe_perf() { # clears SYSCALLS when perf cannot count system calls here
  if [[ $SYSCALLS == 0 ]]; then
    log "SYSCALLS=0: no syscall-counting runs"
  elif ! perf stat -x, -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    log "perf cannot count raw_syscalls:sys_enter here: no syscalls-per-message rows"
    SYSCALLS=0
  fi
}

build() {
  log "building the load generator"
  cargo build --release -q -p imphnen-loadgen
  HAVE_IMP=0
  if [[ "${IMPHNEN:-1}" == 0 ]]; then
    log "IMPHNEN=0: no imphnen columns"
  elif [[ -n ${IMPHNEN_BIN:-} ]]; then
    log "imphnen columns: $IMPHNEN_BIN (not rebuilt)"
    HAVE_IMP=1
  elif [[ ! -f examples/bench_server.rs ]]; then
    log "examples/bench_server.rs does not exist yet: no imphnen columns"
  elif ! cargo build --release -q --example bench_server --features imphnen/tls; then
    log "examples/bench_server.rs does not build: no imphnen columns"
  else
    HAVE_IMP=1
  fi
}

# --- servers -----------------------------------------------------------------------------
declare -A PID SPORT
SERVERS=(bun)

columns() { # the servers to measure, in column order, each with its port
  if [[ $HAVE_IMP == 1 ]]; then
    for driver in $IMPHNEN_DRIVERS; do SERVERS+=("imphnen-$driver"); done
  fi
  if [[ -n ${UWS_BIN:-} ]]; then SERVERS+=(uws); fi
  local port=$FIRST_PORT s
  for s in "${SERVERS[@]}"; do SPORT[$s]=$port; port=$((port + 1)); done
  log "columns: ${SERVERS[*]}"
}

start_server() { # name
  local name=$1 port=${SPORT[$1]} cmd
  # A server killed with connections open on io_uring leaves its listening socket to the
  # kernel's asynchronous teardown of its ring for a moment; the next start waits it out
  # rather than fail with EADDRINUSE.
  for _ in $(seq 1 200); do
    [[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && break
    sleep 0.05
  done
  # The compression workloads (z_*) run every server with permessage-deflate in its shared mode.
  local compression=off tls=()
  [[ ${w:-} == z_* ]] && compression=shared
  [[ ${w:-} == tls_* ]] && tls=("TLS_CERT=$OUT/tls/cert.pem" "TLS_KEY=$OUT/tls/key.pem")
  case $name in
    bun) cmd=("$BUN" benches/anchors/bun_server.ts) ;;
    uws) cmd=("$UWS_BIN") ;;
    imphnen-*) cmd=(env WORKERS=1 "IMPHNEN_DRIVER=${name#imphnen-}" "$IMP_BIN") ;;
  esac
  env "${tls[@]}" COMPRESSION=$compression PORT=$port taskset -c "$SERVER_CORE" "${cmd[@]}" >"$OUT/$name.log" 2>&1 &
  PID[$name]=$!
  for _ in $(seq 1 200); do
    # Accepting a connection means the server is up (uws and stand-ins may not serve GET /).
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
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

cleanup() { for s in "${SERVERS[@]}"; do stop_server "$s"; done; }
trap cleanup EXIT

# --- one run -----------------------------------------------------------------------------
client() { taskset -c "$CLIENT_CORE" "$@"; }

# Every run function below fails when its run gave no result (its JSON then says "failed").
loadgen() { # server out.json mode path args...
  local s=$1 json=$2 mode=$3 path=$4 rc=0 scheme=ws; shift 4
  [[ ${w:-} == tls_* ]] && scheme=wss
  client "$LOADGEN" "$mode" --url "$scheme://127.0.0.1:${SPORT[$s]}$path" --threads 1 --quiet \
    --server-pid "${PID[$s]}" --json "$json" "$@" >"${json%.json}.txt" || rc=$?
  [[ $rc == 0 ]] && return 0
  log "  $s: loadgen exited $rc (verification problem or failure), see ${json%.json}.txt"
  [[ -f $json ]] && return 0
  echo "{\"failed\": true, \"exit\": $rc}" >"$json"
  return 1
}

# The load shape of each echo workload, for its timed runs and its syscall-counting run alike.
declare -A ECHO_SHAPE=(
  [echo_16k]="--connections 100 --inflight 1 --size 16384 --binary"
  [echo_20b_16]="--connections 100 --inflight 16 --size 20 --binary"
  [echo_20b_1]="--connections 100 --inflight 1 --size 20 --binary"
)

# The untimed run that counts a server's system calls (see the header): perf waits out the
# warm-up, then counts for SYSCALL_SECONDS. loadgen opens its connections first (milliseconds),
# so perf's window starts and ends that much before the measured one; the count over one is
# divided by the messages of the other.
count_syscalls() { # workload server
  local w=$1 s=$2 json=$RUNS_DIR/$1.$2.syscalls.json shape perf_pid rc=0
  local counts=${json%.json}.perf
  read -ra shape <<<"${ECHO_SHAPE[$w]}"
  taskset -c "$CLIENT_CORE" perf stat -x, -e raw_syscalls:sys_enter -p "${PID[$s]}" \
    -D $((WARMUP * 1000)) -- sleep $((WARMUP + SYSCALL_SECONDS)) 2>"$counts" &
  perf_pid=$!
  loadgen "$s" "$json" echo /echo --duration "$SYSCALL_SECONDS" --warmup "$WARMUP" "${shape[@]}" || rc=$?
  if [[ $rc != 0 ]]; then kill -INT "$perf_pid" 2>/dev/null || true; fi
  wait "$perf_pid" || true
  [[ $rc == 0 ]] || return "$rc"
  python3 - "$json" "$counts" <<'PY'
import json, re, sys
path, counts = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
m = re.search(r"^(\d+),[^,]*,raw_syscalls:sys_enter,", open(counts).read(), re.M)
if m and doc.get("messages"):
    doc["server_syscalls_per_msg"] = int(m.group(1)) / doc["messages"]
    json.dump(doc, open(path, "w"))
else:
    print(f"[compare]   perf counted nothing here, see {counts}", file=sys.stderr)
PY
  show "$json" "$s"
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
  # wrk's one thread is the limit, this is the figure that compares the servers. No request
  # answered (a server without the route may just close) is no result.
  python3 - "$json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
path, before, after, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
doc = json.load(open(path))
if doc.get("requests"):
    cpu_s = (after - before) / tck
    doc["server_cpu_ns_per_req"] = cpu_s * 1e9 / doc["requests"]
    doc["server_cpu_cores"] = cpu_s / doc["duration_s"]
else:
    doc["failed"] = True
json.dump(doc, open(path, "w"))
sys.exit(1 if doc.get("failed") else 0)
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

measure() { # workload server out.json
  local w=$1 s=$2 json=$3
  local win=(--duration "$DURATION" --warmup "$WARMUP") shape
  case $w in
    echo_*)      read -ra shape <<<"${ECHO_SHAPE[$w]}"
                 loadgen "$s" "$json" echo /echo "${win[@]}" "${shape[@]}" ;;
    bcast_100)   loadgen "$s" "$json" broadcast /broadcast "${win[@]}" --connections 100 --publishers 1 --inflight 16 ;;
    bcast_500)   loadgen "$s" "$json" broadcast /broadcast "${win[@]}" --connections 500 --publishers 1 --inflight 16 ;;
    latency_fixed) loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 64 --size 20 --binary --rate "$FIXED_RATE" ;;
    idle_rss)    loadgen "$s" "$json" idle /echo --connections "$IDLE_CONNS" --warm "$IDLE_WARM" --hold 2 ;;
    # permessage-deflate (servers started with COMPRESSION=shared): JSON-like text, compressed
    # both ways, every echo inflated and verified by the load generator.
    z_echo_16k)  loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 1 --size 16384 --text --deflate ;;
    z_bcast_500) loadgen "$s" "$json" broadcast /broadcast "${win[@]}" --connections 500 --publishers 1 --inflight 16 --size 2048 --text --deflate ;;
    z_idle_rss)  loadgen "$s" "$json" idle /echo --connections "$IDLE_CONNS" --warm "$IDLE_WARM" --hold 2 --deflate ;;
    # wss:// (servers started with the throwaway certificate): a new connection each time
    # (handshake, upgrade, close), then the echo and idle shapes above over TLS.
    tls_handshake) loadgen "$s" "$json" connect /echo "${win[@]}" ;;
    tls_echo_16k)  loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 1 --size 16384 --binary ;;
    tls_echo_20b_16) loadgen "$s" "$json" echo /echo "${win[@]}" --connections 100 --inflight 16 --size 20 --binary ;;
    tls_idle_rss)  loadgen "$s" "$json" idle /echo --connections "$IDLE_CONNS" --warm "$IDLE_WARM" --hold 2 ;;
    http_hello)  wrk_run "$s" "$json" report.lua ;;
    http_pipe16) wrk_run "$s" "$json" pipeline.lua ;;
    *) log "unknown workload $w"; return 1 ;;
  esac
}

show() { # out.json server: one line of the run's figures on stderr
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  %-13s %s" % (sys.argv[2], ", ".join(f"{k}={d[k]:.4g}" for k in ("msgs_per_s","requests_per_s","server_cpu_ns_per_msg","server_cpu_ns_per_req","server_syscalls_per_msg","server_rss_per_conn","server_rss_per_conn_cold") if isinstance(d.get(k),(int,float)))), d.get("latency",{}).get("p99_us","") and "p99=%.4gus" % d["latency"]["p99_us"])' "$1" "$2" >&2 || true
}

run_one() { # workload server index; fails when the run gave no result
  local s=$2 json=$RUNS_DIR/$1.$2.$3.json
  measure "$1" "$s" "$json" || return 1
  show "$json" "$s"
}

drop() { # server: no more runs of the current workload for it
  local kept=() s
  for s in "${active[@]}"; do [[ $s == "$1" ]] || kept+=("$s"); done
  active=("${kept[@]}")
  log "  $1: no result, its remaining $w runs are skipped"
}

# --- main --------------------------------------------------------------------------------
mkdir -p "$RUNS_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ensure_bun
build
columns

if [[ $SMOKE == 1 ]]; then
  rc=0
  for s in "${SERVERS[@]}"; do
    if start_server "$s"; then
      log "smoke against $s"
      client "$LOADGEN" smoke --url "ws://127.0.0.1:${SPORT[$s]}/echo" || rc=1
    else
      rc=1
    fi
    stop_server "$s"
  done
  exit $rc
fi

ensure_wrk
probe_perf
rm -f "$RUNS_DIR"/*.json "$RUNS_DIR"/*.txt "$RUNS_DIR"/*.perf
if [[ " $ONLY " == *" tls_"* && ! -f $OUT/tls/cert.pem ]]; then
  mkdir -p "$OUT/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$OUT/tls/key.pem" -out "$OUT/tls/cert.pem" 2>/dev/null
fi
START=$(date +%s)
for w in $ONLY; do
  [[ $w == latency_fixed ]] && FIXED_RATE=$(half_bun_rate) && log "latency_fixed: open loop at $FIXED_RATE msgs/s (RATE, or half of Bun's ${RATE_FROM:-echo_20b_16} median)"
  log "== $w"
  active=()
  for s in "${SERVERS[@]}"; do
    if [[ $w == tls_* && $s == uws ]]; then continue; fi
    if start_server "$s"; then active+=("$s")
    elif [[ $s == bun ]]; then exit 1
    else log "$s failed to start: its $w rows are skipped"; fi
  done
  for i in $(seq 1 "$RUNS"); do
    (( ${#active[@]} )) || break
    # Rotate which server goes first so drift on the machine favours none of them.
    k=$(( (i - 1) % ${#active[@]} ))
    for s in "${active[@]:k}" "${active[@]:0:k}"; do
      if [[ $w == *idle_rss ]]; then
        stop_server "$s"
        start_server "$s" || { drop "$s"; continue; }
      fi
      run_one "$w" "$s" "$i" || drop "$s"
    done
  done
  if [[ $SYSCALLS != 0 && -n ${ECHO_SHAPE[$w]:-} ]] && (( ${#active[@]} )); then
    log "  counting system calls: one untimed ${SYSCALL_SECONDS}s run per server"
    for s in "${active[@]}"; do count_syscalls "$w" "$s" || true; done
  fi
  for s in "${SERVERS[@]}"; do stop_server "$s"; done
done
log "runs took $(( $(date +%s) - START )) s"

python3 benches/summarize.py --runs "$RUNS_DIR" --out "$OUT/results.json" --servers "${SERVERS[*]}" \
  --bun-version "$("$BUN" --version)" --duration "$DURATION" --runs-per-server "$RUNS" \
  --fixed-rate "${FIXED_RATE:-0}"
python3 benches/chart.py "$OUT/results.json" "$OUT/chart.svg"
log "wrote target/bench/results.json and target/bench/chart.svg"
