#!/usr/bin/env bash
# Prints the path of a helm binary (it renders and lints charts/restore-guard in test/deploy/chart.tools.test.ts),
# built once from the Go module proxy into .cache/bin/; $HELM names one of your own.
set -euo pipefail
exec "$(dirname "$0")/ensure-go-tool.sh" helm helm.sh/helm/v3/cmd/helm "${HELM_VERSION:-v3.22.0}"
