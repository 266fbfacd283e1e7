#!/usr/bin/env bash
# Installs every Debian package herald needs to build, run and test.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libmicrohttpd-dev libcurl4-openssl-dev libjson-c-dev libsqlite3-dev
  libyaml-dev libssl-dev zlib1g-dev libpq-dev
  libcmocka-dev python3 python3-pytest
  clang libclang-rt-14-dev wrk curl
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
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
