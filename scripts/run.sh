#!/usr/bin/env bash
# Sets up, builds and runs herald with its embedded store (./herald-data) on
# 127.0.0.1:8080. Extra arguments go to `herald serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh build
exec ./build/herald serve "$@"
