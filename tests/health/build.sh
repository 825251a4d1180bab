#!/usr/bin/env bash
# Builds the health test program (kstatus, as Flux uses it, and Argo CD's
# Lua health code) from the Go modules pinned in go.mod; prints its path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ../go-tool.sh
go_tool health "" -ldflags "-s -w" .
