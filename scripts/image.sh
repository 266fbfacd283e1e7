#!/usr/bin/env bash
# Builds herald's container image (deploy/Dockerfile) with podman.
#
# No container registry is needed: the Debian 12 base ("bookworm-slim") is
# made here with mmdebstrap from Debian's own mirror and imported into podman
# as localhost/herald-base:bookworm-slim (once; --rebase makes it again), then
# `podman build` runs FROM that local base.
#
# Usage: scripts/image.sh [--rebase] [TAG]      (TAG default localhost/herald:<version>)
# Environment: HERALD_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              HERALD_BASE_IMAGE (use this base instead of making one),
#              HERALD_IMAGE_BUILD_ARGS (more podman build arguments, e.g. --no-cache).
set -euo pipefail
cd "$(dirname "$0")/.."

rebase=0
if [ "${1:-}" = "--rebase" ]; then
  rebase=1
  shift
fi
version=$(sed -nE 's/^project\(herald VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
tag=${1:-localhost/herald:$version}
mirror=${HERALD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=${HERALD_BASE_IMAGE:-localhost/herald-base:bookworm-slim}

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
if [ -z "${HERALD_BASE_IMAGE:-}" ]; then
  command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "image: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}"
fi

# The base: what Debian's bookworm-slim is (the minbase variant, no docs,
# man pages or locales), with bookworm-updates and the security archive so
# `apt-get upgrade` inside has nothing to do on the day it is made.
if [ -z "${HERALD_BASE_IMAGE:-}" ] && { [ "$rebase" -eq 1 ] || ! podman image exists "$base"; }; then
  security=${mirror%/debian}/debian-security
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "image: making $base with mmdebstrap from $mirror"
  mmdebstrap --variant=minbase --quiet \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$tmp/base.tar" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main"
  podman import --quiet \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tmp/base.tar" "$base" >/dev/null
fi

# The build context: what the build stage reads, and of web/node_modules
# only Chart.js's one file (npm ci, pinned by web/package-lock.json), which
# the install rule copies beside the dashboard.
if [ ! -f web/node_modules/chart.js/dist/chart.umd.js ]; then
  command -v npm >/dev/null 2>&1 || {
    echo "image: npm is missing (scripts/setup.sh installs it)" >&2
    exit 1
  }
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx" ${tmp:+"$tmp"}' EXIT
tar -c --exclude=node_modules CMakeLists.txt cmake src web dashboards deploy | tar -x -C "$ctx"
mkdir -p "$ctx/web/node_modules/chart.js/dist"
cp web/node_modules/chart.js/dist/chart.umd.js "$ctx/web/node_modules/chart.js/dist/"

revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# --format docker: the OCI image format has no HEALTHCHECK (podman drops it).
# --network host: the build stage fetches Debian packages from the mirror.
podman build --format docker --network host ${HERALD_IMAGE_BUILD_ARGS:-} \
  --build-arg BASE="$base" --build-arg VERSION="$version" \
  --build-arg REVISION="$revision" --build-arg CREATED="$created" \
  -f "$ctx/deploy/Dockerfile" -t "$tag" "$ctx"
echo "image: built $tag"
