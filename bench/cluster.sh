#!/usr/bin/env bash
# Shared-store benchmark (SPEC 9, issue 12): ingest and ELASTICSEARCH delivery
# with one replica on SQLite, one on PostgreSQL and three on one PostgreSQL
# (loadgen split over the replicas, the channel delivered by one of them),
# then the failover time: the delivering replica killed with SIGKILL, until a
# survivor delivers again. PostgreSQL is a throwaway one (tests/pg/pgtmp.sh:
# fsync off, like the tests: the figures show herald's side, not the disk).
# Each case prints events/s, delivered docs/s and the ratio to the ceiling.
# usage: bench/cluster.sh [SECONDS]   (default 10)
# CASES="sqlite-1 pg-1 pg-3 failover"; BATCH=1 (events per request, default 100)
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
batch=${BATCH:-100}
conns=${CONNS:-16}
pgdir=$(mktemp -d /tmp/herald-bench-pg-XXXXXX)
pgurl=$(tests/pg/pgtmp.sh start "$pgdir")
trap 'tests/pg/pgtmp.sh stop "$pgdir"; cleanup' EXIT
pg_db() { local db="b_$RANDOM$RANDOM"; psql -X -q "$pgurl" -c "CREATE DATABASE $db" >/dev/null; echo "${pgurl%/*}/$db"; }

# start_replicas N STORE -> ports in $ports, pids in $pids
start_replicas() {
  ports=(); pids=()
  for i in $(seq 1 "$1"); do
    start_herald "r$i-$RANDOM" "$work/data-$RANDOM" "store: \"$2\""
    ports+=("$hport"); pids+=("$hpid")
  done
}
delivered_total() { # sum over replicas of herald_deliveries_total{outcome="delivered"}
  local s=0
  for p in "${ports[@]}"; do
    local v; v=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$p/metrics" 2>/dev/null |
      awk '/^herald_deliveries_total\{/ && /outcome="delivered"/{s+=$2} END{print s+0}')
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

run_case() {
  local name=$1 n=$2 store=$3
  local sport; sport=$(free_port)
  start_sink "$sport"; local spid=$sink_pid
  start_replicas "$n" "$store"
  hport=${ports[0]} add_channel ELASTICSEARCH sink "{\"url\":\"http://127.0.0.1:$sport\",\"index\":\"bench\"}"
  echo "== $name: $n replica(s), $batch events per request, $conns connections in all"
  local per=$((conns / n)); [ "$per" -lt 1 ] && per=1
  local lgs=()
  for p in "${ports[@]}"; do
    $B/bench/loadgen -p "$p" -t "$TOKEN" -d "$secs" -c "$per" -b "$batch" > "$work/lg-$p.out" &
    lgs+=($!)
  done
  local t0; t0=$(date +%s.%N)
  wait "${lgs[@]}"
  local ev; ev=$(cat "$work"/lg-*.out | awk -F'events=' '/^conns/{split($2,a," "); s+=a[1]} END{print s}')
  local t1; t1=$(date +%s.%N)
  for _ in $(seq 1 300); do [ "$(delivered_total)" -ge "$ev" ] && break; sleep 0.1; done
  local t2; t2=$(date +%s.%N)
  local del; del=$(delivered_total)
  awk -v n="$ev" -v d="$del" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v c="$ceiling_rps" 'BEGIN{
    printf "ingested %d events in %.1f s: %.0f ev/s (%.2f x ceiling); delivered %d, drained %.1f s after the load\n",
      n, t1-t0, n/(t1-t0), (c>0? n/(t1-t0)/c : 0), d, t2-t1 }'
  for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done
  stop_sink "$spid"
  rm -f "$work"/lg-*.out
}

failover() {
  local sport; sport=$(free_port)
  start_sink "$sport"; local spid=$sink_pid
  start_replicas 3 "$(pg_db)"
  hport=${ports[0]} add_channel ELASTICSEARCH sink "{\"url\":\"http://127.0.0.1:$sport\",\"index\":\"bench\"}"
  sleep 2
  local owner=-1
  for i in 0 1 2; do
    curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${ports[$i]}/api/channelStatus" |
      grep -q '"delivered"' && owner=$i
  done
  echo "== failover: replica $((owner + 1)) of 3 delivers the channel; kill -9 it"
  local t0; t0=$(date +%s.%N)
  kill -KILL "${pids[$owner]}"
  local moved=""
  while [ -z "$moved" ]; do
    for i in 0 1 2; do
      [ "$i" = "$owner" ] && continue
      curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${ports[$i]}/api/channelStatus" |
        grep -q '"delivered"' && moved=$i
    done
    awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN{exit !(now - t0 > 30)}' && break
    sleep 0.05
  done
  local t1; t1=$(date +%s.%N)
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"kind":"after-failover","n":'"$RANDOM"'}' "http://127.0.0.1:${ports[$moved]}/api/events" >/dev/null
  awk -v t0="$t0" -v t1="$t1" 'BEGIN{printf "failover: replica took the channel over %.1f s after the kill\n", t1-t0}'
  for i in 0 1 2; do [ "$i" != "$owner" ] && { kill -TERM "${pids[$i]}"; wait "${pids[$i]}" 2>/dev/null || true; }; done
  stop_sink "$spid"
}

measure_ceiling "$secs"
for c in ${CASES:-sqlite-1 pg-1 pg-3 failover}; do
  case $c in
    sqlite-1) run_case sqlite-1 1 sqlite ;;
    pg-1) run_case pg-1 1 "$(pg_db)" ;;
    pg-3) run_case pg-3 3 "$(pg_db)" ;;
    failover) failover ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
