#!/usr/bin/env bash
# Builds the CEL oracle (tests/controlplane/celoracle: the API server's own
# CEL environment, from the Go modules the test API server is built from) and
# caches it outside the clone; prints its path. tests/cel_oracle.rs holds
# plumbline's CEL libraries to what it answers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../controlplane"
if ! command -v go >/dev/null 2>&1; then
  echo "cel-oracle: Go is not installed; install Go 1.26 or newer (see README prerequisites)" >&2
  exit 1
fi
cache_root="${PLUMBLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plumbline}"
key="$(cat go.mod go.sum celoracle/*.go ../cel-oracle/build.sh | sha256sum | cut -c1-16)"
out="$cache_root/cel-oracle/$key"
if [ ! -x "$out/cel-oracle" ]; then
  mkdir -p "$out.tmp"
  echo "cel-oracle: building it from the control plane's Go modules (first time only)" >&2
  go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out.tmp/cel-oracle" ./celoracle >&2
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out/cel-oracle"
