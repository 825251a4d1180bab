#!/usr/bin/env bash
# Builds kube-score from the Go module pinned in go.mod (the reference
# `make bench` measures `plumbline audit` against); prints the binary's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ../../tests/go-tool.sh
version="$(go list -m -f '{{.Version}}' github.com/zegl/kube-score)"
go_tool kube-score "$version-" -ldflags "-s -w" github.com/zegl/kube-score/cmd/kube-score
