#!/usr/bin/env bash
# Memory under load (SPEC 10: "RSS <= 40 MB under any load: 64 connections,
# batches up to 10 MiB"). Each case on a fresh data dir, ELASTICSEARCH
# delivering to the fast sink; prints herald's peak RSS (VmHWM), the ingest
# rate (and its ratio to the bare-HTTP ceiling) and whether every event was
# delivered. limits.maxBytesInFlight (default 8 MiB) bounds the request
# bodies held at once: excess requests wait for room, none is refused.
# CASES="batch1000-8 batch4500-64 single-64 tiny100k-4" picks cases;
# MAX_BYTES_IN_FLIGHT overrides the limit (e.g. 0: no limit, for comparison).
# tiny100k-4: 4 clients at once, each posting one request of 100,000 tiny
# events (limits.maxEventsPerRequest; ~2.5 MB NDJSON), 3 times in a row.
# usage: bench/memory.sh [SECONDS]   (default 10)
source "$(dirname "$0")/lib.sh"
secs=${1:-10}

run_case() {
  local name=$1; shift
  local sport; sport=$(free_port)
  start_sink "$sport"; local spid=$sink_pid
  local extra=""
  [ -n "${MAX_BYTES_IN_FLIGHT:-}" ] && extra="limits: {maxBytesInFlight: ${MAX_BYTES_IN_FLIGHT}}"
  start_herald "$name" "$work/data-$name" "$extra"
  add_channel ELASTICSEARCH sink "{\"url\":\"http://127.0.0.1:$sport\",\"index\":\"bench\"}"
  echo "== $name"
  $B/bench/loadgen -p "$hport" -t "$TOKEN" -d "$secs" "$@" | tee "$work/lg.out"
  local eps; eps=$(awk -F'events/s=' '/events\/s=/{split($2,a," "); print a[1]}' "$work/lg.out")
  local errs; errs=$(awk -F'errors=' '/errors=/{split($2,a," "); print a[1]}' "$work/lg.out")
  finish_case "$spid" "$sport" "events/s $eps = $(ratio "$eps") x ceiling; refused requests $errs"
}

# finish_case SINK_PID SINK_PORT TEXT: waits for the backlog to drain, prints
# the peak RSS with TEXT, stops herald and the sink
finish_case() {
  local bl=0
  for _ in $(seq 1 300); do bl=$(backlog); [ "$bl" = "0" ] && break; sleep 0.2; done
  local hwm; hwm=$(hwm_kb "$hpid")
  # both units: the 40 MB of SPEC 10 may be read as 40,000,000 bytes
  echo "peak RSS $(awk -v k="$hwm" 'BEGIN{printf "%.1f MiB = %.1f MB", k/1024, k*1024/1e6}'); $3; backlog after run $bl"
  stop_herald
  stop_sink "$1"
  echo "sink: $(cat "$work/sink-$2.out")"
}

# tiny_case: many tiny events per request (decoded and stored in parts)
tiny_case() {
  local sport; sport=$(free_port)
  start_sink "$sport"; local spid=$sink_pid
  start_herald tiny "$work/data-tiny"
  add_channel ELASTICSEARCH sink "{\"url\":\"http://127.0.0.1:$sport\",\"index\":\"bench\"}"
  echo "== tiny100k-4"
  local k r pids=()
  for k in 1 2 3 4; do
    (for r in 1 2 3; do
       /usr/bin/python3 -c "import sys; sys.stdout.write(''.join('{\"c\":$k,\"r\":$r,\"n\":%d}\n' % i for i in range(100000)))" > "$work/tiny-$k"
       curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-ndjson' \
         --data-binary @"$work/tiny-$k" "http://127.0.0.1:$hport/api/events"
     done) > "$work/tiny-$k.codes" &
    pids+=($!)
  done
  wait "${pids[@]}"
  finish_case "$spid" "$sport" "answers $(cat "$work"/tiny-*.codes | sort | uniq -c | tr -s ' \n' ' '); stored $(metric herald_events_stored_total)"
}

measure_ceiling "$secs"
for c in ${CASES:-batch1000-8 batch4500-64 single-64 tiny100k-4}; do
  case $c in
    batch1000-8) run_case "$c" -c 8 -b 1000 ;;     # ~2.2 MB bodies
    batch4500-64) run_case "$c" -c 64 -b 4500 ;;   # ~10 MB bodies (maxBodyBytes 10 MiB)
    single-64) run_case "$c" -c 64 -b 1 ;;
    tiny100k-4) tiny_case ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
