#!/usr/bin/env bash
# Restart with a backlog (SPEC section 10): ingests N events (default
# 1,000,000; NDJSON batches of 1,000) into herald whose WEBHOOK channel points
# at a port where nothing listens (breaker open, nothing delivered), stops it
# with SIGTERM, starts it again and measures the time from exec to the first
# 200 of /readyz (polled every 10 ms), then to the first answered
# GET /api/events. Prints the database size and the backlog seen after restart.
# usage: bench/restart.sh [N]
source "$(dirname "$0")/lib.sh"
n=${1:-1000000}
dead=$(free_port)
start_herald restart "$work/data"
add_channel WEBHOOK sink "{\"url\":\"http://127.0.0.1:$dead/nowhere\"}"
t0=$(date +%s.%N)
$B/bench/loadgen -p "$hport" -t "$TOKEN" -c 4 -b 1000 -d 3600 -n "$n"
t1=$(date +%s.%N)
echo "ingested in $(echo "$t1 - $t0" | bc) s; backlog before stop: $(backlog)"
stop_herald
echo "data dir: $(du -sh "$work/data" | cut -f1) ($(ls "$work/data" | tr '\n' ' '))"
hport_fixed=$hport
s0=$(date +%s%N)
$HERALD serve --config "$work/restart.yaml" 2>> "$work/herald-restart.log" &
hpid=$!
wait_ready "$hport"
s1=$(date +%s%N)
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$hport/api/events?limit=10" >/dev/null
s2=$(date +%s%N)
echo "restart: ready in $(( (s1 - s0) / 1000000 )) ms; first GET /api/events answered at $(( (s2 - s0) / 1000000 )) ms"
echo "backlog after restart: $(backlog); RSS $(rss_kb "$hpid") kB"
stop_herald
