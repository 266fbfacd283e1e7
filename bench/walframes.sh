#!/usr/bin/env bash
# Which tables and indexes each group commit writes (docs/performance.md,
# round 7): runs one ingest case with ELASTICSEARCH delivering, kills herald
# with SIGKILL (its WAL stays as it was), then counts the WAL's frames per
# commit and per B-tree (bench/walframes.py, SQLite's dbstat). Only the
# frames since the last checkpoint reset the WAL are counted.
#   bench/walframes.sh [SECONDS] -- LOADGEN_ARGS...
# e.g. bench/walframes.sh 4 -- -c 64 -b 1
source "$(dirname "$0")/lib.sh"
secs=${1:-4}; shift || true
[ "${1:-}" = "--" ] && shift
start_with_es wal
$B/bench/loadgen -p "$hport" -t "$TOKEN" -d "$secs" "$@" | tail -1
kill -9 "$hpid"; wait "$hpid" 2>/dev/null || true
/usr/bin/python3 bench/walframes.py "$work/data-wal/herald.db"
