//go:build tools

// promtool, pinned by go.mod and built by build.sh: `promtool check rules`
// and `promtool test rules` on the chart's alerts.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
