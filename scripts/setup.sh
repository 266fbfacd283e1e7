#!/usr/bin/env bash
# Installs every Debian package herald needs to build, run and test.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libjson-c-dev libsqlite3-dev
  libyaml-dev libssl-dev zlib1g-dev libpq-dev libzstd-dev libpcre2-dev
  libcmocka-dev python3 python3-pytest
  python3-aiosmtpd python3-botocore openssl
  clang libclang-rt-14-dev clang-format wrk curl
  podman runc busybox-static
  chromium nodejs
  prometheus-alertmanager
  postgresql
  rsyslog rsyslog-gnutls
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
else
  echo "setup: all packages present"
fi

# The dashboard's charting library (web/) and the browser tests' driver
# (tests/browser/) come from npm, pinned by the committed package-lock.json;
# node_modules is never committed. npm ci runs only when the lock changed.
# nodejs provides npm (NodeSource's package; Debian's own nodejs needs npm too).
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing npm (Debian's nodejs comes without it)"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq npm
fi
for d in web tests/browser; do
  dir="$(dirname "$0")/../$d"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $d"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
