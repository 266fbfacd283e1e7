#!/usr/bin/env bash
# Events sharing one source timestamp (SPEC 10, issue 14 target 6): N events
# (default 500,000) as NDJSON arrays of 1,000 over 8 keep-alive connections,
# no channel, durable ack, twice on fresh data dirs back to back:
#   wall  - every event its own wall-clock time (loadgen's default)
#   same  - every event the same source time (loadgen -S; ids stay unique)
# Prints, per case, events/s, bytes written per event (write_bytes: what
# reaches the disk, WAL and checkpoints), herald's CPU per event and its peak
# RSS, then the ratio same/wall of events/s (the budget: >= 0.8); events/s
# also as ratios to the bare-HTTP ceiling measured first.
# ROUNDS=2 repeats the pair (the machine is shared: ±10-30 % between runs).
# usage: bench/samets.sh [EVENTS]
source "$(dirname "$0")/lib.sh"
n=${1:-500000}
rounds=${ROUNDS:-1}
quick_ceiling

# run_one NAME LOADGEN_ARGS... -> prints one line, "NAME eps B/ev us/ev"
run_one() {
  local name=$1; shift
  start_herald "$name" "$work/data-$name"
  local c0; c0=$(cpu_s "$hpid"); local w0; w0=$(wbytes_b "$hpid")
  $B/bench/loadgen -p "$hport" -t "$TOKEN" -d 600 -c 8 -b 1000 -n "$n" "$@" > "$work/lg-$name.out"
  local c1; c1=$(cpu_s "$hpid"); local w1; w1=$(wbytes_b "$hpid")
  local stored; stored=$(metric herald_events_stored_total)
  local commits; commits=$(metric herald_store_commits_total)
  local rss; rss=$(hwm_kb "$hpid")
  stop_herald
  rm -rf "$work/data-$name"
  local ev; ev=$(awk -F'events=' '/^conns/{split($2,a," "); print a[1]}' "$work/lg-$name.out")
  local eps; eps=$(awk -F'events/s=' '/events\/s=/{split($2,a," "); print a[1]}' "$work/lg-$name.out")
  local errs; errs=$(awk -F'errors=' '/^conns/{print $2+0}' "$work/lg-$name.out")
  awk -v nm="$name" -v e="$eps" -v n="$ev" -v sd="$stored" -v cm="$commits" -v er="$errs" \
      -v w="$((w1 - w0))" -v a="$c0" -v b="$c1" -v r="$rss" -v rt="$(ratio "$eps")" 'BEGIN{
    printf "%-5s %8d events/s (%s x ceiling)  %6.0f B written/event  %5.1f us cpu/event  (%d sent, %d stored, %d errors, %.0f per commit, peak RSS %d kB)\n",
      nm, e, rt, (n>0?w/n:0), (n>0?(b-a)*1e6/n:0), n, sd, er, (cm>0?sd/cm:0), r}' | tee -a "$work/results"
}

for r in $(seq 1 "$rounds"); do
  echo "== round $r: $n events each, NDJSON arrays of 1,000, 8 connections, no channel"
  run_one wall
  run_one same -S
done
awk '$1 == "wall" {w += $2; nw++} $1 == "same" {s += $2; ns++}
  END { if (nw > 0 && ns > 0 && w > 0) printf "ratio same-ts / wall-clock (events/s, mean of %d): %.2f\n", nw, (s/ns)/(w/nw) }' \
  "$work/results"
