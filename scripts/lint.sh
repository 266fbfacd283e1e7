#!/usr/bin/env bash
# Bans unsafe libc calls (curl's checksrc idea) in herald's C sources.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
if grep -rnE "$pattern" src tests/unit tests/fuzz bench --include='*.c' --include='*.h' 2>/dev/null \
   | grep -vE '\b(snprintf|vsnprintf)\b' | grep -v 'lint:allow'; then
  echo "lint: banned function used (sprintf, strcpy, strcat, strtok, atoi, atol, gets)" >&2
  exit 1
fi
echo "lint: ok"
