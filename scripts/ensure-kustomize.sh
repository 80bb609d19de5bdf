#!/usr/bin/env bash
# Prints the path of a kustomize binary (the engine behind `kubectl kustomize` / `kubectl apply -k`), built once
# from the Go module proxy into .cache/bin/; $KUSTOMIZE names one of your own.
set -euo pipefail
exec "$(dirname "$0")/ensure-go-tool.sh" kustomize sigs.k8s.io/kustomize/kustomize/v5 "${KUSTOMIZE_VERSION:-v5.8.2}"  # v5.8.3 needs Go >= 1.27
