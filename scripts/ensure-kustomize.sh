#!/usr/bin/env bash
# Prints the path of a kustomize binary, building it once into .cache/bin/ (git-ignored) when missing.
#
# kustomize is the engine behind `kubectl kustomize` / `kubectl apply -k`; building it from the Go module
# proxy means a fresh clone needs only Go, no kubectl and no download of prebuilt binaries.
# Order: $KUSTOMIZE (an explicit binary), then .cache/bin/kustomize at the pinned version, then build.
set -euo pipefail

VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"  # v5.8.3 needs Go >= 1.27
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/kustomize"
STAMP="$BIN_DIR/kustomize.version"

if [[ -n "${KUSTOMIZE:-}" ]]; then
  [[ -x "$KUSTOMIZE" ]] || { echo "ensure-kustomize: \$KUSTOMIZE=$KUSTOMIZE is not executable" >&2; exit 1; }
  echo "$KUSTOMIZE"
  exit 0
fi

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "ensure-kustomize: Go is needed to build kustomize $VERSION (or set KUSTOMIZE=/path/to/kustomize)" >&2; exit 1; }

mkdir -p "$BIN_DIR"
# One build at a time; whoever waited reuses the other's result.
exec 9>"$BIN_DIR/.kustomize.lock"
flock 9
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "$BIN"
  exit 0
fi
# Build into a private directory, then move into place, so a concurrent run never sees half a binary.
TMP="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
echo "ensure-kustomize: building sigs.k8s.io/kustomize/kustomize/v5@$VERSION into $BIN_DIR" >&2
GOBIN="$TMP" CGO_ENABLED=0 go install "sigs.k8s.io/kustomize/kustomize/v5@$VERSION" >&2
mv -f "$TMP/kustomize" "$BIN"
echo "$VERSION" > "$STAMP"
echo "$BIN"
