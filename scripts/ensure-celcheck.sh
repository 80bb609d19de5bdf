#!/usr/bin/env bash
# Prints the path of the celcheck binary (scripts/celcheck: the manifests' CEL evaluated with
# kube-apiserver's admission code), building it into .cache/bin/ (git-ignored) when missing or stale.
# Stale means: scripts/celcheck/{go.mod,go.sum,main.go} or the Go version changed since the last build.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/scripts/celcheck"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/celcheck"
STAMP="$BIN_DIR/celcheck.stamp"

command -v go >/dev/null 2>&1 || { echo "ensure-celcheck: Go is needed to build scripts/celcheck" >&2; exit 1; }
KEY="$( { cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go"; go version; } | sha256sum | cut -c1-16)"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$KEY" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$BIN_DIR"
exec 9>"$BIN_DIR/.celcheck.lock"
flock 9
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$KEY" ]]; then
  echo "$BIN"
  exit 0
fi
echo "ensure-celcheck: building scripts/celcheck into $BIN_DIR (k8s.io/apiserver, a few minutes the first time)" >&2
TMP="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
(cd "$SRC" && CGO_ENABLED=0 go build -p "${CELCHECK_GO_P:-2}" -trimpath -ldflags='-s -w' -o "$TMP/celcheck" .) >&2
mv -f "$TMP/celcheck" "$BIN"
echo "$KEY" > "$STAMP"
echo "$BIN"
