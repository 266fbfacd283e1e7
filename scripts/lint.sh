#!/usr/bin/env bash
# herald's lint (curl's checksrc idea), run by scripts/test.sh:
#  1. bans unsafe libc calls in the C sources;
#  2. checks the layer order: a file in src/<layer>/ includes only headers of its
#     own layer or of a lower one. The order is the one CMakeLists.txt declares
#     with hd_layer(...) lines, bottom up (core, json, model, ...; cli on top):
#     written once there, read here;
#  3. checks the formatting against .clang-format (clang-format 14, Debian 12);
#  4. checks the shape limits of scripts/lint_shape.py (file, function, parameters).
# Usage: scripts/lint.sh [ROOT]   (ROOT defaults to the repository; the lint's
# own test runs it on a scratch tree).
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
status=0

pattern='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
dirs=()
for d in src tests/unit tests/fuzz bench; do
  if [ -d "$d" ]; then dirs+=("$d"); fi
done
if grep -rnE "$pattern" "${dirs[@]}" --include='*.c' --include='*.h' \
   | grep -vE '\b(snprintf|vsnprintf)\b' | grep -v 'lint:allow'; then
  echo "lint: banned function used (sprintf, strcpy, strcat, strtok, atoi, atol, gets)" >&2
  status=1
fi

# Layer ranks from CMakeLists.txt: "hd_layer(hd_core core ...)" -> core=0, ...
declare -A rank=()
n=0
while read -r dir; do
  rank[$dir]=$n
  n=$((n + 1))
done < <(sed -nE 's/^hd_layer\(hd_[a-z_]+ ([a-z_]+) .*/\1/p' CMakeLists.txt)
rank[cli]=$n   # the executable sits on top of every library
if [ "$n" -eq 0 ]; then
  echo "lint: no hd_layer(...) lines in CMakeLists.txt" >&2
  exit 1
fi
while IFS= read -r -d '' f; do
  layer=${f#src/}
  layer=${layer%%/*}
  if [ -z "${rank[$layer]+x}" ]; then
    echo "lint: $f: folder src/$layer is not a layer of CMakeLists.txt" >&2
    status=1
    continue
  fi
  while IFS=: read -r line inc; do
    dep=${inc#*\"}
    dep=${dep%%/*}
    if [ -z "${rank[$dep]+x}" ]; then
      continue   # a header beside the file ("x.h"), not a layer path
    fi
    if [ "${rank[$dep]}" -gt "${rank[$layer]}" ]; then
      echo "lint: $f:$line: includes $dep/ from $layer/: upward include (layer order: see CMakeLists.txt)" >&2
      status=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[a-z_]+/' "$f" | cut -d: -f1,2)
done < <(find src -name '*.[ch]' -print0 | sort -z)

if [ -f .clang-format ] && ! command -v clang-format >/dev/null 2>&1; then
  echo "lint: clang-format is not installed (scripts/setup.sh installs it)" >&2
  status=1
elif [ -f .clang-format ]; then
  if ! find "${dirs[@]}" -name '*.[ch]' -print0 \
       | xargs -0 -r clang-format --dry-run --Werror 2>/tmp/hd-lint-format.$$; then
    head -40 /tmp/hd-lint-format.$$ >&2
    echo "lint: files differ from .clang-format (fix: clang-format -i FILE)" >&2
    status=1
  fi
  rm -f /tmp/hd-lint-format.$$
fi

# Shape limits (STYLE.md "Size"): files <= 1,200 lines, functions <= 120,
# parameters <= 6 (scripts/lint_shape.py says which and where).
if [ -f scripts/lint_shape.py ] && ! python3 scripts/lint_shape.py src; then
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "lint: ok"
fi
exit "$status"
