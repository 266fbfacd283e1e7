#!/usr/bin/env bash
# Installs the Debian packages herald needs to build and run (scripts/run.sh),
# and with --test also what its tests need (scripts/test.sh): cmocka, pytest,
# the real servers and clients the integration tests talk to, Chromium,
# clang, podman, kubectl, mmdebstrap. Idempotent: does nothing when
# everything is already there.
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

# Build and run: the compiler, CMake, the libraries herald links, and npm for
# the dashboard's Chart.js.
PKGS=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libjson-c-dev libsqlite3-dev
  libyaml-dev libssl-dev zlib1g-dev libpq-dev libzstd-dev libpcre2-dev
  nodejs
)
# Tests (tests/README files say which test uses what).
TEST_PKGS=(
  git libcmocka-dev python3 python3-pytest
  python3-aiosmtpd python3-botocore openssl curl
  clang libclang-rt-14-dev clang-format wrk
  podman runc busybox-static mmdebstrap
  chromium
  prometheus-alertmanager
  postgresql
  rsyslog rsyslog-gnutls
  python3-prometheus-client
  systemd groff-base
)
npm_dirs=(web)
if [ "${1:-}" = "--test" ]; then
  PKGS+=("${TEST_PKGS[@]}")
  npm_dirs+=(tests/browser tests/deploy)
  # kubectl renders deploy/kubernetes/: Debian's kubernetes-client, unless
  # a kubectl is installed already (any since 1.14 reads the overlays).
  if ! command -v kubectl >/dev/null 2>&1; then
    PKGS+=(kubernetes-client)
  fi
elif [ $# -gt 0 ]; then
  echo "usage: scripts/setup.sh [--test]" >&2
  exit 2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
else
  echo "setup: all packages present"
fi

# The dashboard's charting library (web/), and with --test the browser tests'
# driver (tests/browser/) and the Kubernetes schema validator (tests/deploy/),
# come from npm, pinned by the committed package-lock.json; node_modules is
# never committed. npm ci runs only when the lock changed.
# nodejs provides npm (NodeSource's package; Debian's own nodejs needs npm too).
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing npm (Debian's nodejs comes without it)"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq npm
fi
for d in "${npm_dirs[@]}"; do
  if [ ! -f "$d/node_modules/.package-lock.json" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $d"
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
