// promql-check reads Grafana dashboard JSON files and parses every PromQL
// expression in them (panel targets and templating queries) with
// Prometheus's own parser. It prints one line per metric name the
// expressions select, "metric NAME", sorted, so that the caller can check
// each against what the operator exposes; a parse error is printed with the
// panel's title and ends the program with exit 1.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type target struct {
	Expr string `json:"expr"`
}

type panel struct {
	Title   string   `json:"title"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"`
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Grafana's template variables and built-in intervals, replaced by a
// value of the same type before parsing, as Grafana does before querying.
var substitutions = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
)

// The parser with Prometheus's default options, as a server started without
// feature flags parses queries.
var promql = parser.NewParser(parser.Options{})

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: promql-check DASHBOARD.json...")
		os.Exit(2)
	}
	metrics := map[string]bool{}
	expressions := 0
	failed := false
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			fmt.Fprintf(os.Stderr, "%s: not dashboard JSON: %v\n", path, err)
			os.Exit(1)
		}
		var check func(ps []panel)
		check = func(ps []panel) {
			for _, p := range ps {
				for _, t := range p.Targets {
					if strings.TrimSpace(t.Expr) == "" {
						fmt.Fprintf(os.Stderr, "%s: panel %q has an empty expression\n", path, p.Title)
						failed = true
						continue
					}
					expressions++
					if !parse(path, p.Title, t.Expr, metrics) {
						failed = true
					}
				}
				check(p.Panels)
			}
		}
		check(d.Panels)
		for _, v := range d.Templating.List {
			// Only query variables hold PromQL (a datasource variable's
			// query is the datasource's type).
			if v.Type != "query" {
				continue
			}
			var q string
			if json.Unmarshal(v.Query, &q) != nil {
				var obj struct {
					Query string `json:"query"`
				}
				if json.Unmarshal(v.Query, &obj) != nil {
					continue
				}
				q = obj.Query
			}
			// label_values(metric, label) is Grafana's, not PromQL: check
			// the metric inside it.
			if strings.HasPrefix(q, "label_values(") {
				inner := strings.TrimSuffix(strings.TrimPrefix(q, "label_values("), ")")
				if i := strings.LastIndex(inner, ","); i >= 0 {
					inner = inner[:i]
				}
				q = inner
			}
			if q == "" {
				continue
			}
			expressions++
			if !parse(path, "variable "+v.Name, q, metrics) {
				failed = true
			}
		}
	}
	names := make([]string, 0, len(metrics))
	for m := range metrics {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		fmt.Println("metric", m)
	}
	fmt.Println("expressions", expressions)
	if failed {
		os.Exit(1)
	}
}

func parse(path, where, expr string, metrics map[string]bool) bool {
	e, err := promql.ParseExpr(substitutions.Replace(expr))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %q: %v\n", path, where, expr, err)
		return false
	}
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					metrics[m.Value] = true
				}
			}
		}
		return nil
	})
	return true
}
