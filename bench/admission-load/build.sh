#!/usr/bin/env bash
# Builds admission-load (main.go: dry-run creates from concurrent clients)
# for bench/admission.py; prints the binary's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ../../tests/go-tool.sh
go_tool admission-load "v1-" -ldflags "-s -w" .
