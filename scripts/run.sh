#!/usr/bin/env bash
# Sets up, builds and runs herald with its embedded store (./herald-data) on
# 127.0.0.1:8080. Extra arguments go to `herald serve`. Installs only what
# herald needs to build and run (no test tools: scripts/test.sh adds those).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh build -DHD_TESTS=OFF
exec ./build/herald serve "$@"
