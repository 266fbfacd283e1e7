#!/usr/bin/env bash
# deploy/kubernetes/: `kubectl kustomize` renders each overlay, and every
# object validates against the Kubernetes API schema, field names included,
# with what docs/kubernetes.md promises of each overlay (validate_k8s.mjs).
# When herald has `check-config`, the ConfigMap's herald.yaml passes it too.
# Needs kubectl (any since 1.14: Debian's kubernetes-client will do) and
# `npm ci` in tests/deploy (scripts/test.sh does both).
# Usage: tests/deploy/test_kubernetes.sh [HERALD_BIN]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
herald=${1:-}
fail() { echo "test_kubernetes: $*" >&2; exit 1; }
command -v kubectl >/dev/null || fail "kubectl is missing (scripts/test.sh installs kubernetes-client)"
[ -d "$here/node_modules/kubernetes-models" ] || fail "tests/deploy/node_modules is missing (npm ci in tests/deploy; scripts/test.sh does it)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

args=()
for o in "$root"/deploy/kubernetes/overlays/*/; do
  name=$(basename "$o")
  # stderr: newer kubectl notes that `bases` is deprecated (kept for kubectl 1.20, base/kustomization.yaml)
  kubectl kustomize "$o" >"$tmp/$name.yaml" 2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; fail "kubectl kustomize $o failed"; }
  grep -v "^# Warning: 'bases' is deprecated" "$tmp/$name.err" >&2 || true
  echo "ok: kubectl kustomize deploy/kubernetes/overlays/$name"
  args+=("$name=$tmp/$name.yaml")
done
[ ${#args[@]} -ge 2 ] || fail "expected the overlays single and ha"
node "$here/validate_k8s.mjs" "${args[@]}"

if [ -n "$herald" ] && "$herald" help 2>/dev/null | grep -q '^  check-config '; then
  HERALD_ADMIN_TOKEN=check-config-token-0123456789 HERALD_INGEST_TOKEN=check-config-token-abcdefghij \
    "$herald" check-config "$root/deploy/kubernetes/base/herald.yaml" || fail "herald check-config rejects base/herald.yaml"
  echo "ok: herald check-config deploy/kubernetes/base/herald.yaml"
fi
