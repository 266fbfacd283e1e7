# lib.sh - shared helpers of the bench scripts (sourced, not run).
# Builds build-bench (Release), starts fastsink and herald on free loopback
# ports with a config file, creates channels and reads /metrics. Everything
# started is killed by the EXIT trap of the sourcing script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B=${BENCH_BUILD:-build-bench}
HERALD=${HERALD:-$B/herald} # another binary to compare (A/B)
./scripts/build.sh "$B" -DCMAKE_BUILD_TYPE=Release -DHD_WERROR=OFF >/dev/null
work=$(mktemp -d)
TOKEN=bench-token-0123456789 # herald refuses tokens under 16 characters
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start_sink PORT [FAIL] -> $sink_pid; output in $work/sink-PORT.out
start_sink() {
  $B/bench/fastsink "$@" > "$work/sink-$1.out" &
  sink_pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done
}
stop_sink() { kill -INT "$1"; wait "$1" 2>/dev/null || true; }

# start_herald NAME DATA_DIR [extra top-level YAML lines] -> $hpid, $hport
start_herald() {
  local name=$1 data=$2 extra=${3:-}
  hport=${hport_fixed:-$(free_port)}
  cat > "$work/$name.yaml" <<YAML
listen: "127.0.0.1:$hport"
dataDir: "$data"
tokens:
  - {"name": "admin", "token": "$TOKEN", "scope": "admin"}
delivery: {"retryInitial": "100ms", "retryMax": "1s", "breakerThreshold": 1}
$extra
YAML
  $HERALD serve --config "$work/$name.yaml" 2>> "$work/herald-$name.log" &
  hpid=$!
  wait_ready "$hport"
}
# wait_ready PORT: polls /readyz every 10 ms (bounded: 30 s)
wait_ready() {
  for _ in $(seq 1 3000); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.01; done
  echo "herald not ready on $1" >&2; return 1
}
stop_herald() { kill -TERM "$hpid"; wait "$hpid" || true; }

# start_with_es NAME: a fast sink, herald (data in $work/data-NAME) and an
# ELASTICSEARCH channel "sink" delivering to it -> $hpid, $hport, $sink_pid,
# $sink_port (its figures: $work/sink-$sink_port.out once it stops)
start_with_es() {
  sink_port=$(free_port)
  start_sink "$sink_port"
  start_herald "$1" "$work/data-$1"
  add_channel ELASTICSEARCH sink "{\"url\":\"http://127.0.0.1:$sink_port\",\"index\":\"bench\"${CHANNEL_OPTS:+,$CHANNEL_OPTS}}"
}
# add_channel TYPE NAME OPTIONS_JSON
add_channel() {
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"notificationChannel\":{\"type\":\"$1\",\"name\":\"$2\",\"enabled\":true,\"options\":$3}}" \
    "http://127.0.0.1:$hport/api/notificationChannels" >/dev/null
}
backlog() {
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$hport/metrics" |
    awk '/^herald_channel_backlog/{s+=$2} END{print s+0}'
}
# metric NAME: sum of a /metrics counter over its labels
metric() {
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$hport/metrics" |
    awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s+=$2} END{print s+0}'
}
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
# wchar_b PID: bytes herald wrote through write/pwrite (WAL, checkpoints,
# sockets excluded: those go through sendmsg/writev as well, so compare runs
# of the same case only)
wchar_b() { awk '/^wchar/{print $2}' "/proc/$1/io"; }
wbytes_b() { awk '/^write_bytes/{print $2}' "/proc/$1/io"; }
cpu_s() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }

# measure_ceiling SECONDS -> $ceiling_rps: the bare-HTTP ceiling (SPEC 10),
# bench/ceiling (a 202-only libmicrohttpd server) under the same loadgen,
# 64 connections, one event per request. Printed; the benches divide by it.
# Then -> $deferred_rps: the same server answering as herald answers ingest
# (suspended, resumed by another thread per group of up to 16 or 2 ms; no
# disk, no work), the floor of a durable-ack design on libmicrohttpd; also
# at 5,000 requests/s over 16 connections (the CPU per request herald's
# e2e-5000eps case cannot go below). DEFERRED_CEILING=0 skips these.
# ceiling_run MODE SECONDS LOADGEN_ARGS...: MODE plain or deferred (bench/ceiling)
# or direct / durable (bench/direct_ceiling, durable: appending to a file and
# fdatasync per group); -> $work/ceiling.out, $ceiling_us
ceiling_run() {
  local cport; cport=$(free_port)
  if [ "$1" = direct ]; then
    $B/bench/direct_ceiling "$cport" 4 > /dev/null 2>&1 &
  elif [ "$1" = durable ]; then
    $B/bench/direct_ceiling "$cport" 4 "$work/durable.log" > /dev/null 2>&1 &
  else
    $B/bench/ceiling "$cport" 4 "$1" > /dev/null 2>&1 &
  fi
  local cpid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$cport/" && break; sleep 0.05; done
  local c0; c0=$(cpu_s "$cpid")
  $B/bench/loadgen -p "$cport" -t "$TOKEN" -d "$2" "${@:3}" > "$work/ceiling.out"
  local c1; c1=$(cpu_s "$cpid")
  kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true
  local n; n=$(awk -F'requests=' '/^conns/{split($2,a," "); print a[1]}' "$work/ceiling.out")
  ceiling_us=$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN{ if (n > 0) printf "%.1f", (b-a)*1e6/n; else print "n/a" }')
  cat "$work/ceiling.out"
}
measure_ceiling() {
  echo "== ceiling (bare libmicrohttpd answering 202, 64 connections, one event per request)"
  ceiling_run plain "$1" -c 64 -b 1
  ceiling_rps=$(awk -F'requests/s=' '/requests\/s=/{split($2,a," "); print a[1]}' "$work/ceiling.out")
  echo "ceiling cpu: $ceiling_us us per request"
  [ "${DEFERRED_CEILING:-1}" = "0" ] && return 0
  echo "== deferred ceiling (the same, answered after a group resume like herald's ingest; no work)"
  ceiling_run deferred "$1" -c 64 -b 1
  deferred_rps=$(awk -F'requests/s=' '/requests\/s=/{split($2,a," "); print a[1]}' "$work/ceiling.out")
  echo "deferred ceiling: $(ratio "$deferred_rps") x ceiling; cpu $ceiling_us us per request"
  ceiling_run deferred "$1" -c 16 -b 1 -r 5000 > /dev/null
  echo "deferred ceiling at 5,000 requests/s (16 connections): cpu $ceiling_us us per request"
}
# quick_ceiling: the ceiling alone (no deferred runs), CEILING_SECONDS (default
# 5) long: for the benches whose figure is a rate that is not an ingest case
# (delivery drains, same-timestamp ingest, per-thread CPU), so that it too
# reads as a ratio (issue 14 target 1)
quick_ceiling() { DEFERRED_CEILING=0 measure_ceiling "${CEILING_SECONDS:-5}"; }
# ratio X: X / ceiling, two decimals
ratio() { awk -v x="$1" -v c="${ceiling_rps:-0}" 'BEGIN{ if (c > 0) printf "%.2f", x / c; else printf "n/a" }'; }
