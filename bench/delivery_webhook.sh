#!/usr/bin/env bash
# WEBHOOK delivery drain rate, maxInFlight 1 against the default (issue 14):
# for each case, ingests N events (default 20,000; NDJSON batches of 1,000)
# while the channel's sink is down (breakerThreshold 1: the cursor stays),
# then starts bench/fastsink on that port; the sink reports events/s from
# its first to its last accepted request (one event per request). Prints
# both rates (also as ratios to the bare-HTTP ceiling measured first) and
# their ratio.
# SINK_DELAY_US=D: the sink holds each request D us before answering (a sink
# some network distance away; default 0: loopback, answered at once).
# usage: bench/delivery_webhook.sh [N]   (CASES="1 default": the maxInFlight
#        values; "default" = the option left out, 4)
source "$(dirname "$0")/lib.sh"
n=${1:-20000}
cases=${CASES:-"1 default"}
quick_ceiling
declare -A rate
for mif in $cases; do
  sport=$(free_port)
  opts="{\"url\":\"http://127.0.0.1:$sport/bench\"}"
  [ "$mif" != default ] && opts="{\"url\":\"http://127.0.0.1:$sport/bench\",\"maxInFlight\":$mif}"
  start_herald "wh$mif" "$work/data-$mif"
  add_channel WEBHOOK sink "$opts"
  $B/bench/loadgen -p "$hport" -t "$TOKEN" -c 4 -b 1000 -d 3600 -n "$n" >/dev/null
  sleep 1
  echo "maxInFlight=$mif: backlog before the sink starts: $(backlog) (sink delay ${SINK_DELAY_US:-0} us)"
  c0=$(cpu_s "$hpid")
  start_sink "$sport" 0 "${SINK_DELAY_US:-0}"
  for _ in $(seq 1 3000); do [ "$(backlog)" = "0" ] && break; sleep 0.1; done
  c1=$(cpu_s "$hpid")
  echo "maxInFlight=$mif: backlog after: $(backlog); herald cpu while draining: $(echo "$c1 - $c0" | bc) s"
  stop_herald
  stop_sink "$sink_pid"
  out=$(cat "$work/sink-$sport.out")
  echo "maxInFlight=$mif: sink: $out"
  rate[$mif]=$(echo "$out" | sed -n 's/.*docs_per_s=\([0-9]*\).*/\1/p')
  echo "maxInFlight=$mif: drain events/s ${rate[$mif]} = $(ratio "${rate[$mif]}") x ceiling"
done
set -- $cases
if [ $# -ge 2 ]; then
  echo "drain events/s: maxInFlight $1 ${rate[$1]}, maxInFlight $2 ${rate[$2]}, ratio $(awk -v a="${rate[$1]}" -v b="${rate[$2]}" 'BEGIN{ if (a > 0) printf "%.2f", b / a; else printf "n/a" }')"
fi
