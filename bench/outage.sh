#!/usr/bin/env bash
# Memory at 10,000 events/s steady and during a sink outage (SPEC section 10):
# herald with a WEBHOOK channel to bench/fastsink; loadgen sends 10,000
# events/s (NDJSON batches of 10, 16 connections) throughout:
#   phase "steady"   STEADY s with the sink up
#   phase "outage"   OUTAGE s with the sink down (connection refused): the
#                    breaker opens, the backlog stays on disk
#   phase "recovery" RECOVER s with the sink back: the backlog drains
# Samples herald's RSS every second and prints min/max per phase.
# usage: bench/outage.sh [STEADY OUTAGE RECOVER]   (default 30 60 30)
source "$(dirname "$0")/lib.sh"
steady=${1:-30}; outage=${2:-60}; recover=${3:-30}
sport=$(free_port)
start_sink "$sport"
start_herald outage "$work/data"
add_channel WEBHOOK sink "{\"url\":\"http://127.0.0.1:$sport/bench\"}"
total=$((steady + outage + recover))
$B/bench/loadgen -p "$hport" -t "$TOKEN" -c 16 -b 10 -r 10000 -d "$total" > "$work/lg.out" &
lg=$!
sample() { # sample PHASE SECONDS
  local i
  for i in $(seq 1 "$2"); do
    sleep 1
    echo "$1 $i $(rss_kb "$hpid") $(backlog)" >> "$work/rss.txt"
  done
}
sample steady "$steady"
stop_sink "$sink_pid"
sample outage "$outage"
start_sink "$sport"
sample recovery "$recover"
wait "$lg" || true
cat "$work/lg.out"
awk '{ if (!($1 in mn) || $3 < mn[$1]) mn[$1] = $3; if ($3 > mx[$1]) mx[$1] = $3; bl[$1] = $4; n[$1]++; if (!($1 in order)) { order[$1] = ++k; name[k] = $1 } }
     END { for (i = 1; i <= k; i++) { p = name[i]; printf "%-8s %3d samples: RSS min %d kB max %d kB; backlog at end %d\n", p, n[p], mn[p], mx[p], bl[p] } }' "$work/rss.txt"
[ -n "${RSS_LOG:-}" ] && cp "$work/rss.txt" "$RSS_LOG"
echo "herald peak RSS (VmHWM): $(hwm_kb "$hpid") kB"
stop_herald
stop_sink "$sink_pid"
echo "sink: $(cat "$work/sink-$sport.out")"
