#!/usr/bin/env bash
# npm run controlplane:build — builds kube-apiserver, kube-controller-manager, kubectl (k8s.io/kubernetes, pinned
# in kube/go.mod) and etcd (go.etcd.io/etcd/server/v3, pinned in etcd/go.mod) for the e2e tests and the demo.
#
# Products go to $RESTORE_GUARD_CONTROLPLANE_CACHE (default: <repo>/.cache/controlplane, git-ignored), in a
# folder named after a hash of everything that decides the result (the wrapper modules, this script, the Go
# version), so a second run with the same inputs reuses the build and a changed pin builds anew. `bin` is a
# symlink to the current folder; the harness (harness/controlplane) reads it. build.json records what was built,
# how long it took and how large it is.
#
# Go runs with -p ${CONTROLPLANE_GO_P:-2} (the machine is shared), CGO_ENABLED=0, -trimpath, -ldflags=-s -w.
set -euo pipefail

# Everything is in main, which bash reads whole before running: editing this file during a build is safe.
main() {

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${RESTORE_GUARD_CONTROLPLANE_CACHE:-$repo/.cache/controlplane}"
jobs="${CONTROLPLANE_GO_P:-2}"

command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "controlplane:build: the Go toolchain (go >= 1.26) is needed on PATH" >&2; exit 1; }

kube_version="$(cd "$here/kube" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$(cd "$here/etcd" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
[[ -n "$kube_version" && -n "$etcd_version" ]] || { echo "controlplane:build: cannot read the pinned versions" >&2; exit 1; }

key="$( { cat "$here/build.sh" "$here/kube/go.mod" "$here/kube/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum"; go version; } \
  | sha256sum | cut -c1-16)"
out="$cache/$key"
mkdir -p "$cache"

# One build at a time per cache (the demo and the tests may both ask).
exec 9>"$cache/.lock"
flock 9

if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kubectl" && -x "$out/etcd" && -f "$out/build.json" ]]; then
  ln -sfn "$key" "$cache/bin"
  echo "controlplane:build: reusing $out (kube-apiserver/kube-controller-manager/kubectl $kube_version, etcd $etcd_version)"
  exit 0
fi

tmp="$cache/.tmp-$key-$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" GOTOOLCHAIN=local
minor="${kube_version#v1.}"; minor="${minor%%.*}"
kv="k8s.io/component-base/version"
cv="k8s.io/client-go/pkg/version"
kube_ldflags="-s -w"
for pkg in "$kv" "$cv"; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # dir package output ldflags
  local start=$SECONDS
  echo "controlplane:build: go build $2 (-p $jobs)"
  (cd "$here/$1" && go build -p "$jobs" -trimpath -ldflags "$4" -o "$tmp/$3" "$2")
  echo "controlplane:build: $3 built in $((SECONDS - start)) s"
}

started=$SECONDS
build kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$kube_ldflags"
build kube k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$kube_ldflags"
build kube k8s.io/kubernetes/cmd/kubectl kubectl "$kube_ldflags"
build etcd go.etcd.io/etcd/server/v3 etcd "-s -w"
seconds=$((SECONDS - started))

size() { stat -c %s "$tmp/$1"; }
cat >"$tmp/build.json" <<EOF
{
  "kubernetes": "$kube_version",
  "etcd": "$etcd_version",
  "go": "$(go env GOVERSION)",
  "seconds": $seconds,
  "bytes": { "kube-apiserver": $(size kube-apiserver), "kube-controller-manager": $(size kube-controller-manager), "kubectl": $(size kubectl), "etcd": $(size etcd) }
}
EOF

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
ln -sfn "$key" "$cache/bin"
# Builds of earlier pins are of no further use (about 300 MB each).
find "$cache" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{16}' ! -name "$key" -exec rm -rf {} +
echo "controlplane:build: built $out in $seconds s ($(du -sh "$out" | cut -f1))"
cat "$out/build.json"
}

main "$@"
