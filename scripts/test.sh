#!/usr/bin/env bash
# Sets up (scripts/setup.sh --test: herald's packages and the test tools),
# builds and runs the whole test suite: lint, unit tests (cmocka), the
# deployment checks (cmake --install and the systemd unit, the Kubernetes
# overlays against the API schema), integration tests (the real binary
# against recording fakes), the container image built and run with podman
# (HERALD_TEST_IMAGE=0 skips it: about 2 minutes the first time, then cached),
# then unit and integration tests again under AddressSanitizer+UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
./scripts/lint.sh

./scripts/build.sh build -DHD_WERROR=ON -DHD_TESTS=ON
# integration and integration_pg: the suite on SQLite, then again with every daemon on PostgreSQL
(cd build && ctest --output-on-failure -j2 -L 'unit|deploy' && ctest --output-on-failure -L '^integration')
if [ "${HERALD_TEST_IMAGE:-1}" = 1 ]; then
  (cd build && ctest --output-on-failure -L image)
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
./scripts/build.sh build-asan -DHD_WERROR=ON -DHD_TESTS=ON -DHD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ctest --output-on-failure -j2 -L unit && ctest --output-on-failure -L '^integration$')
# Fuzz smoke: every target (tests/fuzz/README.md) briefly on its seeded corpus,
# HD_FUZZ_SECONDS each (15: 6 targets in 90 s). A failure prints its report;
# the input that failed is left in build-fuzz/ (crash-*, leak-*, timeout-*).
./tests/fuzz/build.sh build-fuzz >/dev/null
for t in ingest jtape config channel k8s_watch docker_watch; do
  if ! ./build-fuzz/fuzz_$t -max_total_time="${HD_FUZZ_SECONDS:-15}" -artifact_prefix=build-fuzz/ \
    build-fuzz/corpus_$t >build-fuzz/fuzz_$t.log 2>&1; then
    tail -40 build-fuzz/fuzz_$t.log
    echo "test: fuzz_$t failed (build-fuzz/fuzz_$t.log)" >&2
    exit 1
  fi
  echo "fuzz_$t: $(grep -E '^#[0-9]+[[:space:]]+DONE' build-fuzz/fuzz_$t.log | tail -1)"
done
echo "test: all passed"
