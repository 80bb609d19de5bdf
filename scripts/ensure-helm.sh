#!/usr/bin/env bash
# Prints the path of a helm binary, building it once into .cache/bin/ (git-ignored) when missing.
#
# helm renders and lints charts/restore-guard in test/deploy/chart.tools.test.ts; building it from the Go module
# proxy means a fresh clone needs only Go, no download of prebuilt binaries.
# Order: $HELM (an explicit binary), then .cache/bin/helm at the pinned version, then build.
set -euo pipefail

VERSION="${HELM_VERSION:-v3.22.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/helm"
STAMP="$BIN_DIR/helm.version"

if [[ -n "${HELM:-}" ]]; then
  [[ -x "$HELM" ]] || { echo "ensure-helm: \$HELM=$HELM is not executable" >&2; exit 1; }
  echo "$HELM"
  exit 0
fi

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "ensure-helm: Go is needed to build helm $VERSION (or set HELM=/path/to/helm)" >&2; exit 1; }

mkdir -p "$BIN_DIR"
# One build at a time; whoever waited reuses the other's result.
exec 9>"$BIN_DIR/.helm.lock"
flock 9
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "$BIN"
  exit 0
fi
# Build into a private directory, then move into place, so a concurrent run never sees half a binary.
TMP="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
echo "ensure-helm: building helm.sh/helm/v3/cmd/helm@$VERSION into $BIN_DIR" >&2
GOBIN="$TMP" CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@$VERSION" >&2
mv -f "$TMP/helm" "$BIN"
echo "$VERSION" > "$STAMP"
echo "$BIN"
