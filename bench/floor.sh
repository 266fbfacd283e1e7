#!/usr/bin/env bash
# The floors of the single-event path (docs/performance.md, round 7): the
# CPU per request and the requests/s of three servers that do no work, under
# the same loadgen, at 64 connections and at 5,000 requests/s over 16:
#   plain    - bench/ceiling: libmicrohttpd answering 202 at once
#   deferred - bench/ceiling deferred: suspended, resumed after a group of up
#              to 16 or 2 ms (herald's design today)
#   direct   - bench/direct_ceiling: the thread completing the group writes
#              the answers itself (no second wake-up of a poll thread)
#   durable  - the same, appending each group's requests to a file and
#              calling fdatasync before answering (no decoding, no index)
# usage: bench/floor.sh [SECONDS]   (default 8)
source "$(dirname "$0")/lib.sh"
secs=${1:-8}
for mode in plain deferred direct durable; do
  for load in "64 conns:-c 64 -b 1" "5,000/s, 16 conns:-c 16 -b 1 -r 5000"; do
    # shellcheck disable=SC2086 # the loadgen arguments split on purpose
    ceiling_run "$mode" "$secs" ${load#*:} > /dev/null
    rps=$(awk -F'requests/s=' '/requests\/s=/{split($2,a," "); print a[1]}' "$work/ceiling.out")
    # the first row (plain, 64 connections) is the ceiling the others divide by
    [ -z "${ceiling_rps:-}" ] && ceiling_rps=$rps
    printf '%-28s %8s requests/s (%s x ceiling) %6s us CPU per request\n' "$mode, ${load%%:*}" "$rps" \
      "$(ratio "$rps")" "$ceiling_us"
  done
done
