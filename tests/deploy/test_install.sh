#!/usr/bin/env bash
# `cmake --install BUILD --prefix TMP` as README "Install" says, then checks
# what it laid out:
#  - the binary, dashboard, Kibana/Splunk assets, herald(1), bash completion,
#    the systemd unit and the example configuration are in place;
#  - the unit passes `systemd-analyze verify` (directives, its ExecStart
#    rewritten to TMP/bin/herald, man:herald(1) resolving to the installed page),
#    keeps its hardening, and `systemd-analyze security` rates it at most MAX
#    (1.4 when written);
#  - herald(1) renders without groff warnings and lists every command of
#    `herald --help`; the completion completes commands and options;
#  - the installed herald starts with the installed example configuration.
# Usage: tests/deploy/test_install.sh BUILD_DIR [MAX]
set -euo pipefail
build=$(cd "$1" && pwd)
max=${2:-2.0}
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_install: $*" >&2; exit 1; }
p=$tmp/prefix
cmake --install "$build" --prefix "$p" >"$tmp/install.log" || { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }

for f in bin/herald share/herald/web/index.html share/herald/dashboards/README.md \
         share/man/man1/herald.1 share/bash-completion/completions/herald \
         lib/systemd/system/herald.service share/doc/herald/herald.example.yaml \
         share/doc/herald/herald.env.example; do
  [ -e "$p/$f" ] || fail "cmake --install did not lay out $f"
done
echo "ok: installed layout"

unit=$p/lib/systemd/system/herald.service
grep -qxF "ExecStart=$p/bin/herald serve --config /etc/herald/herald.yaml" "$unit" \
  || fail "the installed unit's ExecStart does not name $p/bin/herald: $(grep ExecStart "$unit")"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (package systemd)"
if ! MANPATH=$p/share/man systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1 || [ -s "$tmp/verify.log" ]; then
  cat "$tmp/verify.log" >&2
  fail "systemd-analyze verify failed"
fi
for d in DynamicUser=yes StateDirectory=herald ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
         NoNewPrivileges=yes 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
         SystemCallFilter=@system-service CapabilityBoundingSet= MemoryDenyWriteExecute=yes; do
  grep -qxF "$d" "$unit" || fail "the unit lacks '$d'"
done
exposure=$(systemd-analyze security --offline=true "$unit" 2>/dev/null \
  | sed -nE 's/.*Overall exposure level for herald.service: ([0-9.]+).*/\1/p')
[ -n "$exposure" ] || fail "no exposure level from systemd-analyze security"
if awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e > m) }'; then
  systemd-analyze security --offline=true "$unit" | grep -v '✓' >&2 || true
  fail "systemd-analyze security: exposure $exposure > $max"
fi
echo "ok: systemd-analyze verify; hardening present; exposure $exposure (<= $max)"

groff -ww -man -z "$p/share/man/man1/herald.1" 2>"$tmp/groff.log" || true
[ ! -s "$tmp/groff.log" ] || { cat "$tmp/groff.log" >&2; fail "herald(1) has roff warnings"; }
cmds=$("$p/bin/herald" --help | sed -nE '/^commands:/,/^$/s/^  ([a-z-]+) .*/\1/p')
[ -n "$cmds" ] || fail "no commands in herald --help"
for c in $cmds; do
  [ "$c" = help ] || grep -qx ".SS $c" "$p/share/man/man1/herald.1" || fail "herald(1) has no section for '$c'"
done
# shellcheck disable=SC1091
got=$(bash -c 'source "$1"; COMP_WORDS=(herald ""); COMP_CWORD=1; _herald; echo "${COMPREPLY[*]}";
               COMP_WORDS=(herald events --sin); COMP_CWORD=2; _herald; echo "${COMPREPLY[*]}"' _ \
      "$p/share/bash-completion/completions/herald")
for c in $cmds --since; do
  grep -qw -- "$c" <<<"$got" || fail "the bash completion does not offer '$c' (got: $got)"
done
echo "ok: herald(1) and the bash completion cover every command"

HERALD_ADMIN_TOKEN=install-test-token-0123456789 "$p/bin/herald" serve \
  --config "$p/share/doc/herald/herald.example.yaml" --listen 127.0.0.1:0 --data "$tmp/data" \
  >"$tmp/herald.log" 2>&1 &
pid=$!
port=
for _ in $(seq 300); do
  port=$(sed -nE 's/.*listening on .*\(port ([0-9]+)\).*/\1/p' "$tmp/herald.log")
  [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:${port:-0}/readyz" >/dev/null 2>&1 || { cat "$tmp/herald.log" >&2; fail "the installed herald did not start with the example configuration"; }
echo "ok: the installed herald serves with the installed example configuration"
