#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz into $1 (default build-fuzz/).
# Needs clang and libclang-rt (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-fuzz}
mkdir -p "$out"
# The decoders and what they depend on: core's leaf files, json, model, input.
srcs=(src/core/buf.c src/core/err.c src/core/util.c src/json/*.c src/model/*.c src/input/*.c)
clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Isrc $(pkg-config --cflags json-c) tests/fuzz/fuzz_ingest.c "${srcs[@]}" \
  $(pkg-config --libs json-c libcrypto) -lm -o "$out/fuzz_ingest"
echo "built $out/fuzz_ingest"
clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Isrc $(pkg-config --cflags json-c) tests/fuzz/fuzz_jtape.c src/core/buf.c src/core/err.c src/core/util.c src/json/*.c \
  $(pkg-config --libs json-c libcrypto) -lm -o "$out/fuzz_jtape"
echo "built $out/fuzz_jtape"

# Seed corpus: every JSON fixture, behind a selector byte (0: detect, no
# Content-Type; 1: NDJSON forced).
mkdir -p "$out/corpus_ingest"
for f in tests/fixtures/*/*.json tests/fixtures/*/*.jsonl tests/fixtures/*/*.ndjson; do
  [ -f "$f" ] || continue
  b=$(basename "$f")
  { printf '\000'; cat "$f"; } >"$out/corpus_ingest/0_$b"
  { printf '\001'; cat "$f"; } >"$out/corpus_ingest/1_$b"
done
echo "seeded $out/corpus_ingest"
mkdir -p "$out/corpus_jtape"
for f in tests/fixtures/*/*.json tests/fixtures/*/*.jsonl tests/fixtures/*/*.ndjson; do
  [ -f "$f" ] || continue
  cp "$f" "$out/corpus_jtape/$(basename "$f")"
done
echo "seeded $out/corpus_jtape"
