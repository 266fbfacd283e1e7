#!/usr/bin/env bash
# herald's CPU and context switches per event, by thread (docs/performance.md,
# round 7): user and system microseconds and voluntary / involuntary switches
# per event of each thread name (summed over the poll threads), read from
# /proc/PID/task/*/stat and status before and after one load, with
# ELASTICSEARCH delivering; the load's events/s also as a ratio to the
# bare-HTTP ceiling measured first.
#   bench/threads.sh [SECONDS] -- LOADGEN_ARGS...
# e.g. bench/threads.sh 8 -- -c 16 -b 1 -r 5000
source "$(dirname "$0")/lib.sh"
secs=${1:-8}; shift || true
[ "${1:-}" = "--" ] && shift
quick_ceiling
start_with_es threads
# one line per thread: name voluntary involuntary utime stime (clock ticks)
snap() {
  for t in /proc/"$hpid"/task/*; do
    printf '%s %s %s\n' "$(tr ' ' _ < "$t/comm")" \
      "$(awk '/^voluntary_ctxt/{v=$2} /^nonvoluntary_ctxt/{n=$2} END{print v, n}' "$t/status")" \
      "$(awk '{print $14, $15}' "$t/stat")"
  done | sort
}
snap > "$work/before"
$B/bench/loadgen -p "$hport" -t "$TOKEN" -d "$secs" "$@" | tee "$work/lg.out" | tail -1
snap > "$work/after"
ev=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' "$work/lg.out" | head -1)
eps=$(awk -F'events/s=' '/events\/s=/{split($2,a," "); print a[1]}' "$work/lg.out")
echo "events/s $eps = $(ratio "$eps") x ceiling"
hz=$(getconf CLK_TCK)
# the same threads before and after (none starts or ends under load): side by side
[ "$(cut -d' ' -f1 "$work/before")" = "$(cut -d' ' -f1 "$work/after")" ] ||
  { echo "threads changed during the load" >&2; exit 1; }
paste -d' ' "$work/before" "$work/after" |
  awk -v n="$ev" -v hz="$hz" '{k=$1; t[k]++; v[k]+=$7-$2; nv[k]+=$8-$3; u[k]+=$9-$4; s[k]+=$10-$5}
    END{printf "%-14s %8s %8s %8s %8s   (per event)\n", "thread", "user_us", "sys_us", "vol", "invol";
        for (k in t) if (u[k] + s[k] + v[k] > 0)
          printf "%-14s %8.1f %8.1f %8.3f %8.3f   (x%d)\n", k, u[k]*1e6/hz/n, s[k]*1e6/hz/n, v[k]/n, nv[k]/n, t[k]}'
