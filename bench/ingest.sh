#!/usr/bin/env bash
# Ingest benchmark (SPEC section 10): durable-ack ingest into herald with a
# WEBHOOK channel delivering to a fast local sink.
#   1. NDJSON batches of 1,000 ~2 KB events, 8 keep-alive connections
#   2. one event per request, 64 keep-alive connections
#   3. fixed 5,000 events/s (single-event requests) for end-to-end latency
# Prints events/s, request latency p50/p99 and herald's peak RSS (VmHWM),
# and how many events the sink received. Figures are reported, never asserted.
# usage: bench/ingest.sh [SECONDS]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DHD_WERROR=OFF >/dev/null
B=build-bench
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

sink_port=$(free_port)
$B/bench/fastsink "$sink_port" > "$work/sink.out" &
sink_pid=$!

run_case() {
  local name=$1; shift
  local port; port=$(free_port)
  rm -rf "$work/data"
  HERALD_ADMIN_TOKEN=benchtoken $B/herald serve --listen "127.0.0.1:$port" --data "$work/data" \
      2> "$work/herald-$name.log" &
  local hpid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf -H 'Authorization: Bearer benchtoken' -H 'Content-Type: application/json' \
    -d "{\"notificationChannel\":{\"type\":\"WEBHOOK\",\"name\":\"sink\",\"enabled\":true,\"options\":{\"url\":\"http://127.0.0.1:$sink_port/bench\"}}}" \
    "http://127.0.0.1:$port/api/notificationChannels" >/dev/null
  echo "== $name"
  $B/bench/loadgen -p "$port" -t benchtoken -d "$secs" "$@"
  local rss; rss=$(awk '/VmHWM/{print $2" "$3}' /proc/$hpid/status)
  # let the dispatcher drain, then read the backlog
  for _ in $(seq 1 50); do
    bl=$(curl -sf -H 'Authorization: Bearer benchtoken' "http://127.0.0.1:$port/metrics" | awk '/^herald_channel_backlog/{s+=$2} END{print s+0}')
    [ "$bl" = "0" ] && break; sleep 0.2
  done
  echo "herald peak RSS: $rss; backlog after run: $bl"
  kill -TERM $hpid; wait $hpid || true
}

run_case ndjson-1000 -c 8 -b 1000
run_case single-64conn -c 64 -b 1
run_case e2e-5000eps -c 16 -b 1 -r 5000
kill -INT $sink_pid; wait $sink_pid || true
echo "== sink: $(cat "$work/sink.out")"
