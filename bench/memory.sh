#!/usr/bin/env bash
# Memory under load (SPEC 10: "RSS <= 40 MB under any load: 64 connections,
# batches up to 10 MiB"). Each case on a fresh data dir, ELASTICSEARCH
# delivering to the fast sink; prints herald's peak RSS (VmHWM), the ingest
# rate (and its ratio to the bare-HTTP ceiling) and whether every event was
# delivered. limits.maxBytesInFlight (default 8 MiB) bounds the request
# bodies held at once: excess requests wait for room, none is refused.
# CASES="batch1000-8 batch4500-64 single-64" picks cases; MAX_BYTES_IN_FLIGHT
# overrides the limit (e.g. 0: no limit, for comparison).
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
  local bl=0
  for _ in $(seq 1 150); do bl=$(backlog); [ "$bl" = "0" ] && break; sleep 0.2; done
  local hwm; hwm=$(hwm_kb "$hpid")
  # both units: the 40 MB of SPEC 10 may be read as 40,000,000 bytes
  echo "peak RSS $(awk -v k="$hwm" 'BEGIN{printf "%.1f MiB = %.1f MB", k/1024, k*1024/1e6}'); events/s $eps = $(ratio "$eps") x ceiling; refused requests $errs; backlog after run $bl"
  stop_herald
  stop_sink "$spid"
  echo "sink: $(cat "$work/sink-$sport.out")"
}

measure_ceiling "$secs"
for c in ${CASES:-batch1000-8 batch4500-64 single-64}; do
  case $c in
    batch1000-8) run_case "$c" -c 8 -b 1000 ;;     # ~2.2 MB bodies
    batch4500-64) run_case "$c" -c 64 -b 4500 ;;   # ~10 MB bodies (maxBodyBytes 10 MiB)
    single-64) run_case "$c" -c 64 -b 1 ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
