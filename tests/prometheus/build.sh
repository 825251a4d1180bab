#!/usr/bin/env bash
# Builds promtool and promql-check (main.go: PromQL of Grafana dashboards
# parsed by Prometheus's own parser) from the Go module pinned in go.mod;
# prints the directory holding both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ../go-tool.sh
version="$(go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
promtool="$(go_tool promtool "$version-" -ldflags "-s -w" github.com/prometheus/prometheus/cmd/promtool)"
check="$(go_tool promql-check "$version-" -ldflags "-s -w" .)"
# One directory for the tests to find both in.
dir="$(dirname "$promtool")"
ln -sf "$check" "$dir/promql-check"
echo "$dir"
