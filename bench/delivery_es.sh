#!/usr/bin/env bash
# ELASTICSEARCH delivery into a local fake _bulk (SPEC section 10): ingests N
# events (default 300,000; NDJSON batches of 1,000) while the channel's sink
# is down (breakerThreshold 1: the cursor stays, nothing becomes a retry
# row), then starts bench/fastsink on that port; the sink answers each _bulk
# with one 201 item per document and reports docs/s from its first to its
# last request, also as a ratio to the bare-HTTP ceiling measured first.
# Also prints herald's CPU seconds spent draining.
# usage: bench/delivery_es.sh [N]
source "$(dirname "$0")/lib.sh"
n=${1:-300000}
quick_ceiling
sport=$(free_port)
start_herald es "$work/data"
add_channel ELASTICSEARCH es "{\"url\":\"http://127.0.0.1:$sport\",\"index\":\"bench\"}"
$B/bench/loadgen -p "$hport" -t "$TOKEN" -c 4 -b 1000 -d 3600 -n "$n"
sleep 1
echo "backlog before the sink starts: $(backlog)"
c0=$(cpu_s "$hpid")
start_sink "$sport"
for _ in $(seq 1 600); do [ "$(backlog)" = "0" ] && break; sleep 0.1; done
c1=$(cpu_s "$hpid")
echo "backlog after: $(backlog); herald cpu while draining: $(echo "$c1 - $c0" | bc) s; RSS $(rss_kb "$hpid") kB; sink cpu $(cpu_s "$sink_pid") s"
stop_herald
stop_sink "$sink_pid"
out=$(cat "$work/sink-$sport.out")
echo "sink: $out"
dps=$(echo "$out" | sed -n 's/.*docs_per_s=\([0-9]*\).*/\1/p')
echo "delivered docs/s $dps = $(ratio "$dps") x ceiling"
