#!/usr/bin/env bash
# Profile one ingest case with perf (call graphs) while it runs:
#   bench/profile.sh [SECONDS] -- LOADGEN_ARGS...
# e.g. CHANNEL=ELASTICSEARCH bench/profile.sh 10 -- -c 16 -b 1 -r 5000
# Writes perf.data under $PERF_OUT (default /tmp/herald-perf) and prints the
# top symbols, per thread and overall, plus herald's CPU per 1,000 events.
# PERF_CG overrides the call-graph option (default -g, frame pointers), e.g.
# PERF_CG="--call-graph dwarf,16384" for inclusive costs through libraries
# built without frame pointers.
source "$(dirname "$0")/lib.sh"
secs=${1:-10}; shift || true
[ "${1:-}" = "--" ] && shift
quick_ceiling
out=${PERF_OUT:-/tmp/herald-perf}; mkdir -p "$out"
sport=$(free_port)
start_sink "$sport"
start_herald prof "$work/data"
case ${CHANNEL:-ELASTICSEARCH} in
  WEBHOOK) add_channel WEBHOOK sink "{\"url\":\"http://127.0.0.1:$sport/bench\"}" ;;
  ELASTICSEARCH) add_channel ELASTICSEARCH sink "{\"url\":\"http://127.0.0.1:$sport\",\"index\":\"bench\"${CHANNEL_OPTS:+,$CHANNEL_OPTS}}" ;;
esac
c0=$(cpu_s "$hpid")
perf record -F 2999 ${PERF_EV:+-e $PERF_EV} ${PERF_CG:--g} -p "$hpid" -o "$out/perf.data" -- sleep "$secs" > /dev/null 2>&1 &
ppid=$!
$B/bench/loadgen -p "$hport" -t "$TOKEN" -d "$secs" "$@" | tee "$work/lg.out"
wait "$ppid" || true
c1=$(cpu_s "$hpid")
ev=$(awk -F'events=' '/^conns/{split($2,a," "); print a[1]}' "$work/lg.out")
awk -v a="$c0" -v b="$c1" -v n="$ev" 'BEGIN{printf "herald cpu %.2f s = %.1f us per event\n", b-a, (b-a)*1e6/n}'
eps=$(awk -F'events/s=' '/events\/s=/{split($2,a," "); print a[1]}' "$work/lg.out")
echo "events/s $eps = $(ratio "$eps") x ceiling"
echo "commits $(metric herald_store_commits_total) stored $(metric herald_events_stored_total)"
stop_herald
perf report -i "$out/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
perf report -i "$out/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -${TOP:-40}
