// The CEL oracle: evaluates expressions with the API server's own CEL
// environment (k8s.io/apiserver's base environment for stored expressions,
// at the Kubernetes release go.mod pins) and prints each result in the
// canonical form tests/cel_oracle.rs compares plumbline's engine with.
//
// Input: one expression per line on stdin. Output: one line per expression,
// "value <rendering>", "error <message>" (at evaluation) or "compile
// <message>" (the API server would refuse the policy).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/cel/environment"
)

func main() {
	major, minor := 1, 37
	if v, err := version.ParseGeneric(os.Getenv("CEL_ORACLE_VERSION")); err == nil {
		major, minor = int(v.Major()), int(v.Minor())
	}
	env, err := environment.MustBaseEnvSet(version.MajorMinor(uint(major), uint(minor))).
		Env(environment.StoredExpressions)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		fmt.Fprintln(out, evaluate(env, in.Text()))
	}
}

func evaluate(env *cel.Env, src string) string {
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return "compile " + oneLine(iss.Err().Error())
	}
	prg, err := env.Program(ast, cel.CostLimit(1000000))
	if err != nil {
		return "compile " + oneLine(err.Error())
	}
	val, _, err := prg.Eval(cel.NoVars())
	if err != nil {
		return "error " + oneLine(err.Error())
	}
	return "value " + render(val)
}

func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " | ")
}

// render writes a value canonically: its type, then its content.
func render(v ref.Val) string {
	switch x := v.(type) {
	case types.Bool:
		return fmt.Sprintf("bool:%v", bool(x))
	case types.Int:
		return fmt.Sprintf("int:%d", int64(x))
	case types.Uint:
		return fmt.Sprintf("uint:%d", uint64(x))
	case types.Double:
		return fmt.Sprintf("double:%016x", math.Float64bits(float64(x)))
	case types.String:
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(string(x))
		return "string:" + strings.TrimSuffix(b.String(), "\n")
	case types.Bytes:
		return fmt.Sprintf("bytes:%x", []byte(x))
	case types.Null:
		return "null"
	case types.Duration:
		return fmt.Sprintf("duration:%d", x.Duration.Nanoseconds())
	case types.Timestamp:
		return fmt.Sprintf("timestamp:%d", x.Time.UnixNano())
	case *types.Optional:
		if !x.HasValue() {
			return "optional:none"
		}
		return "optional:" + render(x.GetValue())
	}
	if l, ok := v.(traits.Lister); ok {
		var parts []string
		n := int64(l.Size().(types.Int))
		for i := int64(0); i < n; i++ {
			parts = append(parts, render(l.Get(types.Int(i))))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if m, ok := v.(traits.Mapper); ok {
		var parts []string
		it := m.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			parts = append(parts, render(k)+": "+render(m.Get(k)))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "opaque:" + v.Type().(ref.Type).TypeName()
}
