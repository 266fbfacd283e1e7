#!/usr/bin/env bash
# Ingest benchmark (SPEC section 10): durable-ack ingest into herald, each case
# with a fresh data dir and its own fast local sink (bench/fastsink):
#   1. NDJSON batches of 1,000 ~2 KB events, 8 keep-alive connections
#   2. one event per request, 64 keep-alive connections
#   3. fixed 5,000 events/s (single-event requests): end-to-end latency
#      ingest -> sink, measured by the sink from each event's send time
# CHANNEL=none|WEBHOOK (default WEBHOOK: delivery runs during ingest, one
# request per event) or ELASTICSEARCH. Prints events/s, request latency,
# herald's CPU seconds per 1,000 events, peak RSS, and the sink's figures.
# Figures are reported, never asserted. First the bare-HTTP ceiling is
# measured (bench/ceiling, SPEC 10); every case prints its ratio to it.
# CASES="ndjson-1000 single-64conn e2e-5000eps" (default: all three) picks cases.
# NDJSON_CONNS=16 runs the NDJSON case over 16 connections instead of 8.
# LOADGEN_ARGS="-T" gives events synthetic source times (a million per second
# of source time: the id index's worst case, see bench/loadgen.c).
# usage: bench/ingest.sh [SECONDS]   (default 10)
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
channel=${CHANNEL:-WEBHOOK}

run_case() {
  local name=$1; shift
  local sport; sport=$(free_port)
  start_sink "$sport"; local spid=$sink_pid
  start_herald "$name" "$work/data-$name"
  case $channel in
    WEBHOOK) add_channel WEBHOOK sink "{\"url\":\"http://127.0.0.1:$sport/bench\"}" ;;
    ELASTICSEARCH) add_channel ELASTICSEARCH sink "{\"url\":\"http://127.0.0.1:$sport\",\"index\":\"bench\"${CHANNEL_OPTS:+,$CHANNEL_OPTS}}" ;;
  esac
  echo "== $name (channel: $channel)"
  local c0; c0=$(cpu_s "$hpid")
  local w0; w0=$(wbytes_b "$hpid"); local x0; x0=$(wchar_b "$hpid")
  $B/bench/loadgen -p "$hport" -t "$TOKEN" -d "$secs" ${LOADGEN_ARGS:-} "$@" | tee "$work/lg.out"
  local c1; c1=$(cpu_s "$hpid")
  local w1; w1=$(wbytes_b "$hpid"); local x1; x1=$(wchar_b "$hpid")
  local ev; ev=$(awk -F'events=' '/^conns/{split($2,a," "); print a[1]}' "$work/lg.out")
  local eps; eps=$(awk -F'events/s=' '/events\/s=/{split($2,a," "); print a[1]}' "$work/lg.out")
  local rps; rps=$(awk -F'requests/s=' '/requests\/s=/{split($2,a," "); print a[1]}' "$work/lg.out")
  echo "ratio to the ceiling: events/s $(ratio "$eps"), requests/s $(ratio "$rps")"
  local rss; rss=$(hwm_kb "$hpid")
  local bl=0
  for _ in $(seq 1 100); do bl=$(backlog); [ "$bl" = "0" ] && break; sleep 0.2; done
  local commits; commits=$(metric herald_store_commits_total)
  local stored; stored=$(metric herald_events_stored_total)
  awk -v a="$c0" -v b="$c1" -v n="$ev" -v r="$rss" -v bl="$bl" -v w="$((w1 - w0))" -v x="$((x1 - x0))" \
      -v cm="$commits" -v sd="$stored" 'BEGIN{
    printf "stored %d new events of %d sent (the rest were duplicates)\n", sd, n
    printf "herald cpu %.2f s = %.1f ms per 1,000 events; peak RSS %d kB; backlog after run %s\n", b-a, (n>0?(b-a)*1e6/n:0), r, bl
    printf "written: %.1f kB per event to disk (write_bytes), %.1f kB through write calls (wchar, sockets included)\n", (n>0?w/n/1000:0), (n>0?x/n/1000:0)
    if (cm > 0) printf "group commits: %d, %.1f events each (whole run, channel writes included)\n", cm, sd/cm}'
  stop_herald
  stop_sink "$spid"
  echo "sink: $(cat "$work/sink-$sport.out")"
}

measure_ceiling "$secs"
cases=${CASES:-ndjson-1000 single-64conn e2e-5000eps}
for c in $cases; do
  case $c in
    ndjson-1000) run_case ndjson-1000 -c "${NDJSON_CONNS:-8}" -b 1000 ;;
    single-64conn) run_case single-64conn -c 64 -b 1 ;;
    e2e-5000eps) run_case e2e-5000eps -c 16 -b 1 -r 5000 ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
