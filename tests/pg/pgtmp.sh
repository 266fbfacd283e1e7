#!/usr/bin/env bash
# pgtmp.sh start DIR | stop DIR - a throwaway PostgreSQL 15 for the tests:
# initdb into DIR (fsync off: test data), a free loopback port, its unix
# socket in DIR, trust authentication on loopback only; run as the
# unprivileged user postgres when called as root. `start` prints the
# postgres:// URL of the database "herald" on stdout.
set -euo pipefail
cmd=${1:?usage: pgtmp.sh start|stop DIR}
dir=${2:?usage: pgtmp.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_ctl" ] || { echo "pgtmp: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $cmd in
start)
  if [ -d "$dir/data" ]; then # a run that was not stopped: start over
    as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  port=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  as "$bin/initdb" -D "$dir/data" -U herald -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  echo "$port" > "$dir/port"
  as "$bin/createdb" -h 127.0.0.1 -p "$port" -U herald herald
  echo "postgres://herald@127.0.0.1:$port/herald"
  ;;
stop)
  [ -d "$dir/data" ] && as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  ;;
*) echo "usage: pgtmp.sh start|stop DIR" >&2; exit 2 ;;
esac
