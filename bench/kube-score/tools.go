//go:build tools

// kube-score, pinned by go.mod and built by build.sh: the reference that
// `make bench` times `plumbline audit` against on the same corpus.
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
