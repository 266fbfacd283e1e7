#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: lint, unit tests (cmocka) and
# integration tests (the real binary against recording fakes), twice: a normal
# build and an AddressSanitizer+UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/lint.sh

./scripts/build.sh build -DHD_WERROR=ON
(cd build && ctest --output-on-failure -j2 -L unit && ctest --output-on-failure -L integration)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
./scripts/build.sh build-asan -DHD_WERROR=ON -DHD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ctest --output-on-failure -j2 -L unit && ctest --output-on-failure -L integration)
# Fuzz smoke: the parsers of untrusted input, briefly, on the fixture corpus.
./tests/fuzz/build.sh build-fuzz >/dev/null
./build-fuzz/fuzz_ingest -max_total_time="${HD_FUZZ_SECONDS:-20}" build-fuzz/corpus_ingest 2>&1 | tail -1
./build-fuzz/fuzz_jtape -max_total_time="${HD_FUZZ_SECONDS:-20}" build-fuzz/corpus_jtape 2>&1 | tail -1
echo "test: all passed"
