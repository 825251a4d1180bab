#!/usr/bin/env bash
# Builds helm from the Go module pinned in go.mod (the chart's tests run the
# real tool: lint, template, values.schema.json); prints its path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ../go-tool.sh
version="$(go list -m -f '{{.Version}}' helm.sh/helm/v4)"
go_tool helm "$version-" \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
  helm.sh/helm/v4/cmd/helm
