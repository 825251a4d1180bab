//go:build tools

// The helm command line, pinned by go.mod and built by build.sh.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
