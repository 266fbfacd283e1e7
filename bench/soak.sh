#!/usr/bin/env bash
# Soak (issue 11): herald under a steady 5,000 events/s for 30 minutes, one
# event per request over 16 keep-alive connections (Sysdig's and Falco's
# shape), delivered to a WEBHOOK on the local fast sink. Each minute it
# prints herald's RSS, open fds, the backlog, CPU seconds and the on-disk
# size, so that a leak, a growing queue or unbounded disk use shows as a
# trend. At the end: loadgen's request latency, the sink's end-to-end
# figures and whether every event was delivered. Figures are reported,
# never asserted.
# usage: bench/soak.sh [SECONDS] [EVENTS_PER_S]   (default 1800 5000)
# Retention is left at its defaults (7d / 2GiB): with ~2 KB events the store
# reaches 2 GiB in about 4 minutes, so a 30-minute run also soaks retention.
source "$(dirname "$0")/lib.sh"
secs=${1:-1800}
rate=${2:-5000}

sport=$(free_port)
start_sink "$sport"
spid=$sink_pid
start_herald soak "$work/data-soak"
add_channel WEBHOOK sink "{\"url\":\"http://127.0.0.1:$sport/soak\"}"
echo "== soak: ${rate} events/s for ${secs} s, WEBHOOK to a local sink"
$B/bench/loadgen -p "$hport" -t "$TOKEN" -d "$secs" -c 16 -b 1 -r "$rate" > "$work/lg.out" &
lg=$!
t0=$(date +%s)
printf "%6s %9s %6s %9s %9s %9s\n" minute rss_kB fds backlog cpu_s disk_MB
sample() {
  local m=$1
  local rss; rss=$(awk '/VmRSS/{print $2}' "/proc/$hpid/status")
  local fds; fds=$(ls "/proc/$hpid/fd" | wc -l)
  local disk; disk=$(du -sm "$work/data-soak" | cut -f1)
  printf "%6s %9s %6s %9s %9s %9s\n" "$m" "$rss" "$fds" "$(backlog)" "$(cpu_s "$hpid")" "$disk"
}
sample 0
m=0
while kill -0 "$lg" 2>/dev/null; do
  sleep 1
  if [ $(( ($(date +%s) - t0) / 60 )) -gt "$m" ]; then
    m=$((m + 1))
    sample "$m"
  fi
done
wait "$lg" || true
sample end
cat "$work/lg.out"
for _ in $(seq 1 300); do [ "$(backlog)" = "0" ] && break; sleep 0.2; done
echo "backlog after the run: $(backlog); peak RSS $(hwm_kb "$hpid") kB"
echo "stored: $(metric herald_events_stored_total); deliveries ok: $(metric herald_deliveries_total)"
stop_herald
stop_sink "$spid"
echo "sink: $(cat "$work/sink-$sport.out")"
