#!/usr/bin/env bash
# Builds helm from the Go module pinned in go.mod (the chart's tests run the
# real tool: lint, template, values.schema.json) and caches it outside the
# clone so that later runs and other clones reuse it.
#
# Prints the path of the binary on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${PLUMBLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plumbline}"

if ! command -v go >/dev/null 2>&1; then
  echo "helm: Go is not installed; install Go 1.26 or newer (see README prerequisites)" >&2
  exit 1
fi

cd "$here"
helm_version="$(go list -m -f '{{.Version}}' helm.sh/helm/v4)"
key="$(cat go.mod go.sum tools.go build.sh | sha256sum | cut -c1-16)"
out="$cache_root/helm/$helm_version-$key"

if [ ! -x "$out/helm" ]; then
  mkdir -p "$out.tmp"
  echo "helm: building helm $helm_version (first time only; a few minutes)" >&2
  go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version" \
    -o "$out.tmp/helm" helm.sh/helm/v4/cmd/helm >&2
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out/helm"
