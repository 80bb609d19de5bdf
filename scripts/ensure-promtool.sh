#!/usr/bin/env bash
# Prints the path of a promtool binary (`promtool check rules` / `promtool test rules` on
# manifests/monitoring/prometheusrule.yaml in test/deploy/promtool.tools.test.ts).
# Order: $PROMTOOL (one of your own), then the copy cached under $RESTORE_GUARD_PROMTOOL_CACHE
# (default $HOME/.cache/restore-guard/promtool), then Debian's `prometheus` package: `apt-get download` (no
# system-wide install, no root needed when the package lists are present) and `dpkg-deb -x`, keeping only
# usr/bin/promtool. Building promtool from Go modules instead took more than 10 minutes (all of Prometheus).
# On a fresh machine whose package lists are empty the download fails; run as root, this script then runs
# `apt-get update` once and tries again.
set -euo pipefail

if [[ -n "${PROMTOOL:-}" ]]; then
  [[ -x "$PROMTOOL" ]] || { echo "ensure-promtool: \$PROMTOOL=$PROMTOOL is not executable" >&2; exit 1; }
  echo "$PROMTOOL"
  exit 0
fi

CACHE="${RESTORE_GUARD_PROMTOOL_CACHE:-$HOME/.cache/restore-guard/promtool}"
BIN="$CACHE/promtool"

usable() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

if usable; then
  echo "$BIN"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "ensure-promtool: $tool is needed to fetch Debian's prometheus package (or set PROMTOOL=/path/to/promtool)" >&2
    exit 1
  }
done

mkdir -p "$CACHE"
# One download at a time; whoever waited reuses the other's result.
exec 9>"$CACHE/.lock"
flock 9
if usable; then
  echo "$BIN"
  exit 0
fi

# As root, apt-get downloads as the unprivileged user _apt, which cannot write to a cache under /root: keep root.
APT_OPTS=()
[[ "$(id -u)" == 0 ]] && APT_OPTS=(-o APT::Sandbox::User=root)

download() { (cd "$CACHE" && apt-get "${APT_OPTS[@]}" download prometheus) >&2; }

shopt -s nullglob
debs=("$CACHE"/prometheus_*.deb)
if ((${#debs[@]} == 0)); then
  echo "ensure-promtool: downloading Debian's prometheus package into $CACHE" >&2
  if ! download; then
    [[ "$(id -u)" == 0 ]] || { echo "ensure-promtool: apt-get download failed; run 'apt-get update' as root, or set PROMTOOL" >&2; exit 1; }
    echo "ensure-promtool: apt-get download failed; running apt-get update and trying again" >&2
    apt-get update >&2
    download
  fi
  debs=("$CACHE"/prometheus_*.deb)
  ((${#debs[@]} > 0)) || { echo "ensure-promtool: apt-get download left no prometheus_*.deb in $CACHE" >&2; exit 1; }
fi
DEB="${debs[-1]}"

# Extract into a private directory, then move promtool into place, so a concurrent run never sees half a binary.
TMP="$(mktemp -d "$CACHE/.extract.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
dpkg-deb -x "$DEB" "$TMP"
[[ -x "$TMP/usr/bin/promtool" ]] || { echo "ensure-promtool: $DEB holds no usr/bin/promtool" >&2; exit 1; }
mv -f "$TMP/usr/bin/promtool" "$BIN"
"$BIN" --version >&2
echo "$BIN"
