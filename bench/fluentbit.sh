#!/usr/bin/env bash
# herald and Fluent Bit side by side on this machine (SPEC 10 sets herald's
# targets as multiples of Fluent Bit: 2x with one event per request, 3x with
# batches): the same loadgen, the same fast `_bulk` sink (bench/fastsink),
# each case run on both, alternately, after the bare-HTTP ceiling.
#   FLUENT_BIT=/path/to/fluent-bit bench/fluentbit.sh [SECONDS] [ROUNDS]
# Fluent Bit is not a Debian package: build it from its repository
# (docs/performance.md, round 10, says how). Its pipeline is in_http -> out_es
# with the default memory buffer (not durable) and a 1 s flush, as in SPEC 10;
# herald acknowledges durably and delivers through an ELASTICSEARCH channel.
# Bodies with several events are JSON arrays (-A): Fluent Bit's in_http takes
# application/json only. Per case and server: events/s and its ratio to the
# ceiling, the server's CPU per event until all is delivered, its peak RSS,
# and the documents the sink received and over how long (delivered docs/s).
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
rounds=${2:-1}
fb=${FLUENT_BIT:?set FLUENT_BIT to a fluent-bit binary}

# start_fb NAME SINK_PORT -> $fpid, $fport
start_fb() {
  fport=$(free_port)
  cat > "$work/$1.conf" <<CONF
[SERVICE]
    Flush        1
    Log_Level    error
    HTTP_Server  Off
[INPUT]
    Name         http
    Listen       127.0.0.1
    Port         $fport
    Buffer_Max_Size 16M
[OUTPUT]
    Name         es
    Match        *
    Host         127.0.0.1
    Port         $2
    Index        bench
    Suppress_Type_Name On
CONF
  "$fb" -c "$work/$1.conf" > "$work/fb-$1.log" 2>&1 &
  fpid=$!
  for _ in $(seq 1 200); do
    curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"warmup":1}' "http://127.0.0.1:$fport/" && return 0
    sleep 0.05
  done
  echo "fluent-bit did not start: $(cat "$work/fb-$1.log")" >&2; return 1
}

# report SERVER PEAK_RSS_KB CPU0 CPU1 LOADGEN_OUT SINK_OUT
report() {
  local ev eps
  ev=$(awk -F'events=' '/^conns/{split($2,a," "); print a[1]}' "$5")
  eps=$(awk -F'events/s=' '/events\/s=/{split($2,a," "); print a[1]}' "$5")
  awk -v s="$1" -v a="$3" -v b="$4" -v n="$ev" -v e="$eps" -v r="$(ratio "$eps")" -v h="$2" \
      -v sink="$(cat "$6")" 'BEGIN{
    split(sink, f, " "); for (i in f) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
    printf "%-10s %8.0f ev/s = %5s x ceiling; cpu %6.1f us/event; peak RSS %6.1f MB; sink %d docs in %.2f s (%.0f docs/s)\n",
      s, e, r, (n > 0 ? (b - a) * 1e6 / n : 0), h * 1024 / 1e6, v["docs"], v["first_to_last_s"], v["docs_per_s"]}'
}

# run_one SERVER NAME LOADGEN_ARGS...
run_one() {
  local server=$1 name=$2; shift 2
  local pid port status
  if [ "$server" = herald ]; then
    start_with_es "$name"
    pid=$hpid; port=$hport; status=202
  else
    sink_port=$(free_port)
    start_sink "$sink_port"
    start_fb "$name" "$sink_port"
    pid=$fpid; port=$fport; status=201
  fi
  local spid=$sink_pid sport=$sink_port
  local c0; c0=$(cpu_s "$pid")
  $B/bench/loadgen -p "$port" -t "$TOKEN" -d "$secs" -s "$status" "$@" > "$work/lg.out"
  # CPU counted once what was accepted is delivered: Fluent Bit sends its
  # buffer in flushes after the load, herald drains its backlog
  if [ "$server" = herald ]; then
    for _ in $(seq 1 100); do [ "$(backlog)" = "0" ] && break; sleep 0.2; done
  else
    sleep 2.5 # two flushes of Fluent Bit's 1 s interval
  fi
  local c1; c1=$(cpu_s "$pid")
  local hwm; hwm=$(hwm_kb "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  stop_sink "$spid" # the sink prints its figures when it stops
  echo "$(report "$server" "$hwm" "$c0" "$c1" "$work/lg.out" "$work/sink-$sport.out")    [$(sed -n 2p "$work/lg.out" | sed 's/.*latency_ms //')]"
}

DEFERRED_CEILING=0 measure_ceiling "$secs"
for r in $(seq 1 "$rounds"); do
  for c in ${CASES:-single-64conn array-1000 e2e-5000eps}; do
    case $c in
      single-64conn) args=(-c 64 -b 1) ;;
      array-1000) args=(-c 8 -b 1000 -A) ;;
      e2e-5000eps) args=(-c 16 -b 1 -r 5000) ;;
      *) echo "unknown case $c" >&2; exit 2 ;;
    esac
    echo "== $c, round $r: loadgen ${args[*]}"
    run_one fluentbit "fb-$c-$r" "${args[@]}"
    run_one herald "h-$c-$r" "${args[@]}"
  done
done
