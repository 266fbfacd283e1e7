#!/usr/bin/env bash
# Tests scripts/lint.sh on scratch trees: a clean one passes; an upward include,
# a folder that is no layer and a banned call each fail, naming file and line.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
lint="$here/scripts/lint.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pass=0
fail=0

tree() {   # a minimal tree with the repository's layer order
    rm -rf "$scratch/t"
    mkdir -p "$scratch/t/src/core" "$scratch/t/src/model" "$scratch/t/src/api" "$scratch/t/src/cli"
    grep -E '^hd_layer\(' "$here/CMakeLists.txt" >"$scratch/t/CMakeLists.txt"
    mkdir -p "$scratch/t/scripts"
    cp "$here/scripts/lint_shape.py" "$scratch/t/scripts/"
    printf '#include "core/a.h"\nint a;\n' >"$scratch/t/src/core/a.c"
    printf '#include "core/a.h"\n#include "model/m.h"\nint m;\n' >"$scratch/t/src/model/m.c"
    printf '#include "model/m.h"\n#include "api/api.h"\nint x;\n' >"$scratch/t/src/api/x.c"
    printf '#include "api/api.h"\nint main(void) { return 0; }\n' >"$scratch/t/src/cli/main.c"
}

expect() {   # expect <0|1> <name> <text the output must hold, or "">
    local want=$1 name=$2 text=$3 out rc=0
    out=$("$lint" "$scratch/t" 2>&1) || rc=$?
    if [ "$want" = 0 ] && [ "$rc" -ne 0 ]; then
        echo "FAIL $name: lint failed on a clean tree: $out"; fail=$((fail + 1)); return
    fi
    if [ "$want" = 1 ] && [ "$rc" -eq 0 ]; then
        echo "FAIL $name: lint passed: $out"; fail=$((fail + 1)); return
    fi
    if [ -n "$text" ] && ! grep -qF -- "$text" <<<"$out"; then
        echo "FAIL $name: output lacks '$text': $out"; fail=$((fail + 1)); return
    fi
    echo "ok   $name"
    pass=$((pass + 1))
}

tree
expect 0 clean-tree "lint: ok"

tree
printf '#include "api/api.h"\n' >>"$scratch/t/src/core/a.c"
expect 1 upward-include "src/core/a.c:3: includes api/ from core/"

tree
printf '#include "cli/commands.h"\n' >>"$scratch/t/src/model/m.c"
expect 1 include-of-cli "src/model/m.c:4: includes cli/ from model/"

tree
mkdir -p "$scratch/t/src/misc" && printf 'int y;\n' >"$scratch/t/src/misc/y.c"
expect 1 unknown-folder "src/misc is not a layer"

tree
printf 'void f(char *d) { strcpy(d, "x"); }\n' >>"$scratch/t/src/api/x.c"
expect 1 banned-call "banned function"

tree
{
    printf 'int long_one(void)\n{\n    int x = 0;\n'
    for i in $(seq 1 125); do printf '    x += %d;\n' "$i"; done
    printf '    return x;\n}\n'
} >>"$scratch/t/src/api/x.c"
expect 1 long-function "src/api/x.c:4: long_one() is 130 lines"

tree
printf 'int many(int a, int b, int c, int d, int e, int f, int g)\n{\n    return a + b + c + d + e + f + g;\n}\n' \
    >>"$scratch/t/src/api/x.c"
expect 1 many-parameters "many() takes 7 parameters"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
