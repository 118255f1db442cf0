#!/usr/bin/env bash
# Runs every check and test of imphnen, installing what is missing first.
#
#   ./scripts/test.sh            everything (about 25 minutes on 2 cores, most of it compiling)
#   FUZZ_SECONDS=10 ./scripts/test.sh   shorter fuzzing (default 60 s per target)
#   DRIVERS=epoll ./scripts/test.sh     one network driver (default: uring and epoll)
#   SKIP_FUZZ=1 / SKIP_AUTOBAHN=1 / SKIP_INTEROP=1 / SKIP_ABUSE_HEAVY=1   leave a stage out
#
# Stages: formatting, clippy, rustdoc, unit + integration + doc tests, the Autobahn|Testsuite
# in strict mode against examples/echo (cases 1-11 on every driver, over ws:// and wss://;
# 12-13, permessage-deflate,
# with COMPRESSION=shared and =dedicated, in the background), a smoke run of the load
# generator against examples/echo,
# the heavy abuse runs (scripts/abuse-heavy.sh, about a minute) — each of these on every network
# driver (io_uring where the kernel allows it, and epoll) — interop with independent clients
# (scripts/interop.sh: Python websockets, Node ws, curl, headless Chromium) and the fuzz targets
# for a bounded time. At the end it checks that no process it started (marked by
# IMPHNEN_TEST_RUN) is still running.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# One build per run: incremental compilation's caches (a gigabyte here) would only be written.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
stage() { printf '\n==> %s\n' "$*"; }
# Every process this run starts inherits the mark; at the end none of ours may be left.
export IMPHNEN_TEST_RUN="test.sh-$$-$(date +%s%N)"
left_running() { # PIDs of binaries under target/ that carry this run's mark
  local env exe pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}; pid=${pid%/environ}
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    [[ $exe == "$root"/target/* ]] || continue
    tr '\0' '\n' < "$env" 2>/dev/null | grep -qx "IMPHNEN_TEST_RUN=$IMPHNEN_TEST_RUN" && echo "$pid"
  done
  return 0
}

# What this run's builds take on disk (at most 2.2 GB, measured cold: the debug test binaries,
# dropped on CI before the release examples and the fuzz builds), printed at the start and the end so a full disk is visible in the
# log before a linker dies of it.
disk() { df -h --output=avail,size,target "$root" | tail -n 1 | awk '{print "disk: " $1 " free of " $2 " on " $3}'; }

# ---------------------------------------------------------------- tools
stage "tools"
disk
export PATH="$HOME/.cargo/bin:$PATH"
need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v curl >/dev/null || need_apt+=(curl)
# tests/tls.rs: `openssl s_client` (TLS 1.3 and 1.2) and curl over https
command -v openssl >/dev/null || need_apt+=(openssl)
# tests/broker.rs starts its own redis-server on a free loopback port
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
if [ -z "${SKIP_FUZZ:-}" ] && ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked
fi

# Every build below has the `tls` feature (off by default: wss/https through rustls), so the
# TLS tests run and every run resolves the same features (nothing is built twice).
features=(--features imphnen/tls)

# ---------------------------------------------------------------- static checks
stage "cargo fmt --check"
cargo fmt --all -- --check
stage "cargo clippy"
cargo clippy --workspace --all-targets "${features[@]}" -- -D warnings
# and the engine as plain users build it, without TLS
cargo clippy -p imphnen-engine --all-targets -- -D warnings
stage "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps "${features[@]}"

# ---------------------------------------------------------------- drivers
# The network drivers every stage below runs on. io_uring where this kernel allows it (the
# `io_uring_setup` syscall succeeds: not disabled by `kernel.io_uring_disabled` or seccomp);
# DRIVERS="epoll" (or "uring") narrows the matrix by hand.
uring_allowed() {
  python3 - <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
fd = libc.syscall(425, 4, params)  # io_uring_setup(4 entries)
if fd < 0:
    sys.exit(1)
os.close(fd)
PY
}
if [ -z "${DRIVERS:-}" ]; then
  if uring_allowed; then
    DRIVERS="uring epoll"
  else
    DRIVERS="epoll"
    echo "NOTE: io_uring is not allowed on this machine: only the epoll driver is tested" >&2
  fi
fi

# ---------------------------------------------------------------- tests
# The whole suite on the first driver; the test binaries again on each other driver (doc tests
# do not depend on it). The same package selection as the first run (`--workspace`) resolves the
# same features, so nothing is rebuilt: `-p imphnen` alone would rebuild half the dependency
# tree (two minutes) to save the ten seconds the protocol and router tests take.
first=true
for driver in $DRIVERS; do
  if $first; then
    stage "cargo test (driver: $driver)"
    IMPHNEN_DRIVER=$driver cargo test --workspace "${features[@]}"
    first=false
  else
    stage "tests again (driver: $driver)"
    IMPHNEN_DRIVER=$driver cargo test --workspace --tests "${features[@]}"
  fi
done

# The engine's own tests again, on the memory driver (in-process pipes, no sockets on the
# server; tests of TCP itself skip there).
stage "engine tests on the memory driver"
IMPHNEN_DRIVER=memory cargo test --workspace "${features[@]}" --test engine_ws --test engine_http --test tls --test tls_hostile \
  --test tls_listeners --test engine_lifecycle --test engine_backpressure --test engine_sizes --test mailbox \
  --test pubsub --test permessage_deflate

# Nothing below runs a debug build: on CI, where the disk may be small, its 1.5 GB goes
# before the release and fuzz builds start.
if [ -n "${CI:-}" ]; then
  rm -rf "$root/target/debug"
fi

# ---------------------------------------------------------------- conformance
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

stage "build release examples"
cargo build --release --example echo -p imphnen "${features[@]}"
cargo build --release -p imphnen-loadgen

echo_pid=
trap 'if [ -n "$echo_pid" ]; then kill $echo_pid 2>/dev/null || true; fi' EXIT
for driver in $DRIVERS; do
  port=$(free_port)
  IMPHNEN_DRIVER=$driver PORT=$port WORKERS=2 "$root/target/release/examples/echo" \
    > "$root/target/echo-test-$driver.log" 2>&1 &
  echo_pid=$!
  wait_port "$port"

  if [ -z "${SKIP_AUTOBAHN:-}" ]; then
    stage "Autobahn|Testsuite (strict, cases 1-11; driver: $driver)"
    shared=${IMPHNEN_SHARED:-$root/../shared}
    AUTOBAHN_OUT=$root/target/autobahn-$driver bash "$shared/conformance/autobahn-run.sh" \
      "ws://127.0.0.1:$port" --quick --strict
  fi

  stage "load generator smoke (verifies every echoed payload; driver: $driver)"
  "$root/target/release/imphnen-loadgen" smoke --url "ws://127.0.0.1:$port/echo"

  kill $echo_pid 2>/dev/null || true
  wait $echo_pid 2>/dev/null || true
  echo_pid=

  if [ -z "${SKIP_AUTOBAHN:-}" ]; then
    # The same cases over wss://, against echo serving TLS with a throwaway self-signed
    # certificate (the fuzzing client does not verify it).
    tls=$root/target/autobahn-tls
    mkdir -p "$tls"
    [ -f "$tls/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -nodes -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" \
      -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
    port=$(free_port)
    IMPHNEN_DRIVER=$driver PORT=$port WORKERS=2 TLS_CERT="$tls/cert.pem" TLS_KEY="$tls/key.pem" \
      "$root/target/release/examples/echo" > "$root/target/echo-tls-test-$driver.log" 2>&1 &
    echo_pid=$!
    wait_port "$port"
    stage "Autobahn|Testsuite over wss:// (strict, cases 1-11; driver: $driver)"
    AUTOBAHN_OUT=$root/target/autobahn-wss-$driver bash "$shared/conformance/autobahn-run.sh" \
      "wss://127.0.0.1:$port" --quick --strict
    stage "load generator smoke over wss:// (driver: $driver)"
    "$root/target/release/imphnen-loadgen" smoke --url "wss://127.0.0.1:$port/echo"
    kill $echo_pid 2>/dev/null || true
    wait $echo_pid 2>/dev/null || true
    echo_pid=
  fi
done
trap - EXIT

# permessage-deflate: Autobahn 12.* and 13.* (216 cases each), strict, against echo with
# COMPRESSION=shared and with COMPRESSION=dedicated, on the first driver. The Autobahn client
# spends most of each run compressing in Python (about 20 minutes per mode here), so both
# modes run side by side in the background while the stages below go on; their verdicts are
# awaited at the end. The servers and clients are stopped by PID whatever happens.
deflate_pids=()
deflate_modes=()
stop_deflate() { for p in "${deflate_pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; }
if [ -z "${SKIP_AUTOBAHN:-}" ]; then
  first_driver=${DRIVERS%% *}
  shared=${IMPHNEN_SHARED:-$root/../shared}
  for mode in shared dedicated; do
    stage "Autobahn|Testsuite 12.* and 13.* (permessage-deflate, strict, COMPRESSION=$mode): started"
    # A process group of its own (set -m), so that stopping it stops its server and client.
    set -m
    (
      port=$(free_port)
      IMPHNEN_DRIVER=$first_driver COMPRESSION=$mode PORT=$port WORKERS=1 \
        "$root/target/release/examples/echo" > "$root/target/echo-deflate-$mode.log" 2>&1 &
      server=$!
      trap 'kill $server 2>/dev/null || true' EXIT
      wait_port "$port"
      AUTOBAHN_OUT=$root/target/autobahn-deflate-$mode bash "$shared/conformance/autobahn-run.sh" \
        "ws://127.0.0.1:$port" --strict --cases '12.*,13.*'
    ) > "$root/target/autobahn-deflate-$mode.out" 2>&1 &
    deflate_pids+=($!)
    set +m
    deflate_modes+=("$mode")
  done
  trap stop_deflate EXIT
fi

# ---------------------------------------------------------------- interop
if [ -z "${SKIP_INTEROP:-}" ]; then
  stage "interop (Python websockets, Node ws, curl, headless Chromium)"
  ./scripts/interop.sh
fi

if [ -z "${SKIP_ABUSE_HEAVY:-}" ]; then
  for driver in $DRIVERS; do
    stage "abuse: 10,000 idle connections echo, 2 x 100,000 upgrade cycles leave RSS flat ($driver)"
    IMPHNEN_DRIVER=$driver ./scripts/abuse-heavy.sh
  done
fi

# ---------------------------------------------------------------- fuzzing
if [ -z "${SKIP_FUZZ:-}" ]; then
  fuzz() { # target seconds [cargo-fuzz options]
    local target=$1 secs=$2
    shift 2
    stage "fuzz $target ${*:-(AddressSanitizer)} (${secs}s)"
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$@" "$target" -- -max_total_time="$secs" \
      -print_final_stats=1 2>&1 | tail -n 12)
  }
  for target in ws_frame http_request handshake router; do
    fuzz "$target" "$FUZZ_SECONDS"
  done
  # The whole-connection target runs on the stepped memory driver, where AddressSanitizer's
  # own cost is most of each run (about 14,000 runs/s with it, 62,000 without): most of its
  # budget goes to the uninstrumented build, a quarter to the sanitized one, which watches the
  # engine's unsafe code.
  fuzz connection $((FUZZ_SECONDS * 3 / 4)) -s none
  fuzz connection $((FUZZ_SECONDS / 4))
  # A TLS connection on the memory driver: raw records, and input through a real handshake.
  fuzz tls_connection "$FUZZ_SECONDS" -s none
fi

if [ ${#deflate_pids[@]} -gt 0 ]; then
  failed=0
  for i in "${!deflate_pids[@]}"; do
    mode=${deflate_modes[$i]}
    stage "Autobahn|Testsuite 12.* and 13.* (COMPRESSION=$mode): result"
    if wait "${deflate_pids[$i]}"; then
      tail -n 6 "$root/target/autobahn-deflate-$mode.out"
    else
      cat "$root/target/autobahn-deflate-$mode.out"
      failed=1
    fi
  done
  trap - EXIT
  [ $failed = 0 ] || { echo "permessage-deflate conformance failed" >&2; exit 1; }
fi

stage "no server or client started by this run is still running"
sleep 1
leftover=$(left_running)
if [ -n "$leftover" ]; then
  for pid in $leftover; do echo "still running: $pid $(tr '\0' ' ' < "/proc/$pid/cmdline")"; done
  exit 1
fi

disk
du -sh "$root/target" "$root/fuzz/target" 2>/dev/null || true
stage "all checks passed"
