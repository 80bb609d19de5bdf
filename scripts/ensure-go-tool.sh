#!/usr/bin/env bash
# ensure-go-tool.sh NAME GO_PACKAGE VERSION: prints the path of a tool built from the Go module proxy, building it
# once into .cache/bin/ (git-ignored) when missing: a fresh clone needs only Go, no download of prebuilt binaries.
# Order: $<NAME upper-cased> (an explicit binary), then .cache/bin/NAME at VERSION, then build.
set -euo pipefail

NAME="$1"
PACKAGE="$2"
VERSION="$3"
OVERRIDE_VAR="$(tr '[:lower:]-' '[:upper:]_' <<<"$NAME")"
OVERRIDE="${!OVERRIDE_VAR:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/$NAME"
STAMP="$BIN_DIR/$NAME.version"

if [[ -n "$OVERRIDE" ]]; then
  [[ -x "$OVERRIDE" ]] || { echo "ensure-$NAME: \$$OVERRIDE_VAR=$OVERRIDE is not executable" >&2; exit 1; }
  echo "$OVERRIDE"
  exit 0
fi

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "ensure-$NAME: Go is needed to build $NAME $VERSION (or set $OVERRIDE_VAR=/path/to/$NAME)" >&2; exit 1; }

mkdir -p "$BIN_DIR"
# One build at a time; whoever waited reuses the other's result.
exec 9>"$BIN_DIR/.$NAME.lock"
flock 9
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "$BIN"
  exit 0
fi
# Build into a private directory, then move into place, so a concurrent run never sees half a binary.
TMP="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
echo "ensure-$NAME: building $PACKAGE@$VERSION into $BIN_DIR" >&2
GOBIN="$TMP" CGO_ENABLED=0 go install "$PACKAGE@$VERSION" >&2
mv -f "$TMP/$NAME" "$BIN"
echo "$VERSION" > "$STAMP"
echo "$BIN"
