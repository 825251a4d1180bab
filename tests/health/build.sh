#!/usr/bin/env bash
# Builds the health test program (kstatus, as Flux uses it, and Argo CD's
# Lua health code) from the Go modules pinned in go.mod, and caches it
# outside the clone so that later runs and other clones reuse it.
#
# Prints the path of the binary on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${PLUMBLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plumbline}"

if ! command -v go >/dev/null 2>&1; then
  echo "health: Go is not installed; install Go 1.26 or newer (see README prerequisites)" >&2
  exit 1
fi

cd "$here"
key="$(cat go.mod go.sum main.go build.sh | sha256sum | cut -c1-16)"
out="$cache_root/health/$key"

if [ ! -x "$out/health" ]; then
  mkdir -p "$out.tmp"
  echo "health: building the kstatus and Argo CD health checker (first time only; a few minutes)" >&2
  go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out.tmp/health" . >&2
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out/health"
