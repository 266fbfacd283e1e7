#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz into $1 (default build-fuzz/) and
# seeds a corpus for each (corpus_<target>). Needs clang and libclang-rt
# (scripts/setup.sh installs both). Each target links only the sources it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-fuzz}
mkdir -p "$out"

cflags=(-std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc)
core=(src/core/buf.c src/core/err.c src/core/util.c src/core/cidr.c src/core/slab.c)
# What the watchers and channels log and count with.
core_rt=("${core[@]}" src/core/log.c src/core/metrics.c)
build() { # name, then sources and flags
  local name=$1
  shift
  clang "${cflags[@]}" "$@" -lm -o "$out/$name"
  echo "built $out/$name"
}

# The decoders and what they depend on: core's leaf files, json, model, input.
build fuzz_ingest $(pkg-config --cflags json-c) tests/fuzz/fuzz_ingest.c "${core[@]}" src/json/*.c \
  src/model/*.c src/input/*.c $(pkg-config --libs json-c libcrypto libpcre2-8)
build fuzz_jtape $(pkg-config --cflags json-c) tests/fuzz/fuzz_jtape.c "${core[@]}" src/json/*.c \
  $(pkg-config --libs json-c libcrypto)
# The YAML file; getenv and fopen wrapped while a file loads (fuzz_config.c says why).
build fuzz_config $(pkg-config --cflags json-c yaml-0.1) -Wl,--wrap=getenv,--wrap=fopen \
  tests/fuzz/fuzz_config.c "${core[@]}" src/core/config.c src/core/config_yaml.c src/core/config_tls.c src/core/dn.c src/json/*.c \
  $(pkg-config --libs json-c yaml-0.1 libcrypto)
# Channel validation: every type, the net layer's request type (no transfer is made).
build fuzz_channel $(pkg-config --cflags json-c libcurl) tests/fuzz/fuzz_channel.c "${core_rt[@]}" \
  src/json/*.c src/model/*.c src/net/http_client.c src/net/http_request.c src/net/http_url.c src/net/raw.c src/channel/*.c \
  $(pkg-config --libs json-c libcurl libcrypto zlib libpcre2-8) -lpthread
# The watch line parsers: the watch layer but its store and thread parts are never called.
watch=("${core_rt[@]}" src/json/*.c src/model/*.c src/input/*.c src/net/http_client.c src/net/http_request.c src/net/http_url.c src/net/raw.c src/watch/*.c)
watch_libs=($(pkg-config --libs json-c libcurl libcrypto zlib libpcre2-8) -lpthread)
build fuzz_k8s_watch -DFUZZ_K8S $(pkg-config --cflags json-c libcurl) tests/fuzz/fuzz_watch.c "${watch[@]}" \
  "${watch_libs[@]}"
build fuzz_docker_watch $(pkg-config --cflags json-c libcurl) tests/fuzz/fuzz_watch.c "${watch[@]}" \
  "${watch_libs[@]}"

# ---- seed corpora ----
json=(tests/fixtures/*/*.json tests/fixtures/*/*.jsonl tests/fixtures/*/*.ndjson)
seed_dir() { mkdir -p "$out/corpus_$1"; }

# fuzz_ingest: every JSON fixture, behind a selector byte (0: detect, no
# Content-Type; 1: NDJSON forced).
seed_dir ingest
for f in "${json[@]}"; do
  b=$(basename "$f")
  { printf '\000'; cat "$f"; } >"$out/corpus_ingest/0_$b"
  { printf '\001'; cat "$f"; } >"$out/corpus_ingest/1_$b"
done
# fuzz_jtape: the fixtures as they are.
seed_dir jtape
cp "${json[@]}" "$out/corpus_jtape/"

# fuzz_config: every YAML block of the user docs and the checked-in seeds
# (SPEC section 3's example, integration-test shapes, YAML corner cases).
seed_dir config
for md in README.md docs/*.md; do
  awk -v dir="$out/corpus_config" -v base="$(basename "$md" .md)" '
    /^```yaml/ { n++; f = sprintf("%s/%s_%d.yaml", dir, base, n); inblock = 1; next }
    /^```/ { inblock = 0; next }
    inblock { print > f }' "$md"
done
cp tests/fuzz/seeds/config/*.yaml "$out/corpus_config/"

# fuzz_channel: the channel objects of the fixtures (the Sysdig article's
# GET/PUT bodies) and the checked-in seeds (one valid channel per type).
seed_dir channel
cp tests/fixtures/sysdig/sysdig_blog2018_notificationChannel_*.json tests/fuzz/seeds/channel/*.json \
  "$out/corpus_channel/"

# fuzz_k8s_watch / fuzz_docker_watch: the watch fixtures as one stream (in
# 64-byte chunks, selector 0xfd), each line alone (selector 0), and for
# Kubernetes the captured EventList page (selector 3).
seed_dir k8s_watch
seed_dir docker_watch
seed_lines() { # corpus, file
  local i=0
  { printf '\375'; cat "$2"; } >"$out/corpus_$1/stream_$(basename "$2")"
  while IFS= read -r l; do
    i=$((i + 1))
    if [ -n "$l" ]; then
      { printf '\000'; printf '%s' "$l"; } >"$out/corpus_$1/line${i}_$(basename "$2")"
    fi
  done <"$2"
}
for f in tests/fixtures/k8s/*.jsonl tests/fixtures/k8s/k8s_watch_error_410_expired.json; do
  seed_lines k8s_watch "$f"
done
# EventList pages: the captured Events as one, the all-fields Event in another.
{
  printf '\003{"kind":"EventList","apiVersion":"v1","metadata":{"resourceVersion":"5361700"},"items":'
  cat tests/fixtures/k8s/k8s_events_kind_cluster_capture.json
  printf '}'
} >"$out/corpus_k8s_watch/list_kind_cluster_capture.json"
{
  printf '\003{"kind":"EventList","metadata":{"resourceVersion":"7","continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"},"items":['
  cat tests/fixtures/k8s/k8s_api_testdata_core.v1.Event_all_fields.json
  printf ']}'
} >"$out/corpus_k8s_watch/list_all_fields.json"
for f in tests/fixtures/docker/*.jsonl tests/fixtures/docker/*.ndjson; do
  seed_lines docker_watch "$f"
done
for c in ingest jtape config channel k8s_watch docker_watch; do
  echo "seeded $out/corpus_$c ($(ls "$out/corpus_$c" | wc -l) files)"
done
