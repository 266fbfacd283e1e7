#!/usr/bin/env bash
# The floors of the single-event path (docs/performance.md, round 7): the
# CPU per request and the requests/s of three servers that do no work, under
# the same loadgen, at 64 connections and at 5,000 requests/s over 16:
#   plain    - bench/ceiling: libmicrohttpd answering 202 at once
#   deferred - bench/ceiling deferred: suspended, resumed after a group of up
#              to 16 or 2 ms (herald's design today)
#   direct   - bench/direct_ceiling: the thread completing the group writes
#              the answers itself (no second wake-up of a poll thread)
# usage: bench/floor.sh [SECONDS]   (default 8)
source "$(dirname "$0")/lib.sh"
secs=${1:-8}
run() { # NAME LOADGEN_ARGS... (the server is $srv)
  local port; port=$(free_port)
  $srv "$port" 4 $mode > /dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
  local c0; c0=$(cpu_s "$pid")
  $B/bench/loadgen -p "$port" -t "$TOKEN" -d "$secs" "${@:2}" > "$work/floor.out"
  local c1; c1=$(cpu_s "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk -v name="$1" -v a="$c0" -v b="$c1" '/^requests\/s=/{split($1, r, "="); rps = r[2]}
    /^conns=/{split($0, x, "requests="); split(x[2], y, " "); n = y[1]}
    END{printf "%-26s %9.0f requests/s %6.1f us CPU per request\n", name, rps, (n > 0 ? (b-a)*1e6/n : 0)}' "$work/floor.out"
}
for s in plain deferred direct; do
  case $s in
    plain) srv=$B/bench/ceiling mode=plain ;;
    deferred) srv=$B/bench/ceiling mode=deferred ;;
    direct) srv=$B/bench/direct_ceiling mode= ;;
  esac
  run "$s, 64 conns" -c 64 -b 1
  run "$s, 5,000/s, 16 conns" -c 16 -b 1 -r 5000
done
