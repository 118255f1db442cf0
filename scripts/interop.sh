#!/usr/bin/env bash
# Interop: independent clients against the release examples.
#
#   ./scripts/interop.sh          Python websockets + Node ws (echo, seed_tour; echo with
#                                 COMPRESSION=shared and =dedicated; echo over wss:// with a
#                                 certificate made by openssl), Chromium (chat, compressed;
#                                 chat over https, whose page must then use wss://),
#                                 curl (keep-alive, chunked upload against seed_tour)
#   SKIP_BROWSER=1 ./scripts/interop.sh   leave Chromium out
#
# Installs what is missing: a venv at target/venv (websockets, pytest), interop/node's locked
# packages (ws, playwright-core) with `npm ci`, and Debian's chromium. Starts each example on a
# free 127.0.0.1 port, runs the clients, stops the servers. Logs: target/interop/*.log;
# screenshots of a failed browser test: target/interop/chat-*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/target/interop
mkdir -p "$out"
stage() { printf '\n==> %s\n' "$*"; }

# ---------------------------------------------------------------- tools
stage "interop tools"
if [ ! -x target/venv/bin/pytest ]; then
  python3 -m venv target/venv
  target/venv/bin/pip install -q --disable-pip-version-check 'websockets>=13' pytest
fi
if [ ! -d interop/node/node_modules/ws ] || [ ! -d interop/node/node_modules/playwright-core ] \
  || [ interop/node/package-lock.json -nt interop/node/node_modules/.package-lock.json ]; then
  (cd interop/node && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! command -v openssl >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
if [ -z "${SKIP_BROWSER:-}" ] && [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

stage "build release examples (echo, seed_tour, chat)"
cargo build --release -p imphnen --features imphnen/tls --example echo --example seed_tour --example chat

# ---------------------------------------------------------------- servers
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
pids=()
stop_servers() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; }
trap stop_servers EXIT
# Starts example $1 with the environment settings that follow (NAME=value ...) on a free port,
# which it leaves in $port. Runs in this shell (not in `$(...)`), so its PID reaches `pids` and
# the EXIT trap stops it whatever fails later.
start() {
  local name=$1
  shift
  port=$(free_port)
  env "$@" PORT="$port" WORKERS=2 "$root/target/release/examples/$name" >"$out/$name-$port.log" 2>&1 &
  pids+=($!)
  wait_port "$port" || { echo "$name did not start; see $out/$name-$port.log" >&2; exit 1; }
}
start echo; export IMPHNEN_ECHO_URL=ws://127.0.0.1:$port
start echo COMPRESSION=shared; export IMPHNEN_ECHO_SHARED_URL=ws://127.0.0.1:$port
start echo COMPRESSION=dedicated; export IMPHNEN_ECHO_DEDICATED_URL=ws://127.0.0.1:$port
# wss://: a self-signed certificate for 127.0.0.1, which the Python clients trust alone.
tls=$out/tls
mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
# Logged at debug: a CI run once saw a wss test wait 5 s for its 101 after the TLS handshake,
# on a loaded machine, and the info log said nothing; the next one prints what the engine saw.
start echo TLS_CERT="$tls/cert.pem" TLS_KEY="$tls/key.pem" RUST_LOG=info,imphnen_engine=debug
export IMPHNEN_ECHO_WSS_URL=wss://127.0.0.1:$port IMPHNEN_TLS_CA=$tls/cert.pem
wss_log=$out/echo-$port.log
start seed_tour; export IMPHNEN_TOUR_URL=ws://127.0.0.1:$port
tour_port=$port
# The chat page in Chromium negotiates permessage-deflate (every browser offers it).
start chat COMPRESSION=shared; export IMPHNEN_CHAT_URL=http://127.0.0.1:$port
# The chat page over https: its socket must then be wss://.
start chat TLS_CERT="$tls/cert.pem" TLS_KEY="$tls/key.pem"
export IMPHNEN_CHAT_HTTPS_URL=https://127.0.0.1:$port

# ---------------------------------------------------------------- clients
stage "Python websockets"
timeout 300 target/venv/bin/pytest -q -p no:cacheprovider interop/python || {
  echo "--- the wss echo server's log (last 80 lines of $wss_log):" >&2
  tail -n 80 "$wss_log" >&2
  exit 1
}

stage "Node ws"
(cd interop/node && timeout 300 node --test --test-reporter=spec ws_client.test.mjs)

stage "curl --http1.1 (keep-alive, chunked upload)"
timeout 120 bash interop/curl/http.sh "127.0.0.1:$tour_port"

if [ -z "${SKIP_BROWSER:-}" ]; then
  stage "headless Chromium (chat)"
  timeout 300 node --test --test-reporter=spec interop/browser/chat.test.mjs \
    interop/browser/origin.test.mjs
  stage "headless Chromium (chat over https and wss)"
  timeout 300 node --test --test-reporter=spec interop/browser/chat_https.test.mjs
fi

stage "interop passed"
