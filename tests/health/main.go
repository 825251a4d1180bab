// Command health reads plumbline objects the way GitOps tools do, with
// their own code, so that `make test` checks plumbline's status against
// the real libraries rather than against a reading of their docs:
//
//	health kstatus                  objects (a JSON array) on stdin -> kstatus Compute, as used by Flux
//	health argocd -configmap FILE   objects on stdin -> Argo CD's Lua health, with the checks of that argocd-cm
//	health argocd-tests -configmap FILE DIR
//	                                runs every DIR/<group>/<Kind>/health_test.yaml (Argo CD's convention)
//	                                with the checks as the argocd-cm FILE installs them
//
// Results go to stdout as a JSON array of {"status", "message"}, in input order.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	"github.com/argoproj/gitops-engine/pkg/health"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sjson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: health kstatus | argocd -configmap FILE | argocd-tests -configmap FILE DIR")
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	configMap := flags.String("configmap", "", "an argocd-cm ConfigMap (YAML) holding the health checks")
	_ = flags.Parse(os.Args[2:])
	switch os.Args[1] {
	case "kstatus":
		var out []result
		for _, obj := range readObjects(os.Stdin) {
			res, err := status.Compute(obj)
			if err != nil {
				fail("kstatus: %s/%s: %v", obj.GetKind(), obj.GetName(), err)
			}
			out = append(out, result{Status: res.Status.String(), Message: res.Message})
		}
		write(out)
	case "argocd":
		vm := argoVM(*configMap)
		var out []result
		for _, obj := range readObjects(os.Stdin) {
			h := argoHealth(vm, obj)
			out = append(out, result{Status: string(h.Status), Message: h.Message})
		}
		write(out)
	case "argocd-tests":
		if flags.NArg() != 1 {
			fail("argocd-tests: give the directory of <group>/<Kind>/health_test.yaml")
		}
		os.Exit(argoTests(argoVM(*configMap), flags.Arg(0)))
	default:
		fail("unknown command %q", os.Args[1])
	}
}

// argoVM is Argo CD's Lua VM with the resource overrides Argo CD's own
// settings code reads from the ConfigMap, as the application controller
// would (a fake clientset only hands the ConfigMap over).
func argoVM(path string) lua.VM {
	if path == "" {
		fail("-configmap is required")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		fail("%s: %v", path, err)
	}
	mgr := settings.NewSettingsManager(context.Background(), fake.NewSimpleClientset(&cm), cm.Namespace)
	overrides, err := mgr.GetResourceOverrides()
	if err != nil {
		fail("%s: Argo CD cannot read it: %v", path, err)
	}
	return lua.VM{ResourceOverrides: overrides}
}

// argoHealth runs the health check Argo CD would pick for the object, with
// the libraries it would open (none beyond the safe ones unless the
// ConfigMap says useOpenLibs).
func argoHealth(vm lua.VM, obj *unstructured.Unstructured) *health.HealthStatus {
	script, useOpenLibs, err := vm.GetHealthScript(obj)
	if err != nil {
		fail("argocd: %s/%s: %v", obj.GetKind(), obj.GetName(), err)
	}
	if script == "" {
		return &health.HealthStatus{Status: "", Message: "no health check for " + obj.GroupVersionKind().GroupKind().String()}
	}
	run := lua.VM{ResourceOverrides: vm.ResourceOverrides, UseOpenLibs: useOpenLibs}
	h, err := run.ExecuteHealthLua(obj, script)
	if err != nil {
		return &health.HealthStatus{Status: health.HealthStatusUnknown, Message: err.Error()}
	}
	return h
}

type testFile struct {
	Tests []struct {
		InputPath    string              `json:"inputPath"`
		HealthStatus health.HealthStatus `json:"healthStatus"`
	} `json:"tests"`
}

func argoTests(vm lua.VM, dir string) int {
	var files []string
	_ = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err == nil && filepath.Base(path) == "health_test.yaml" {
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		fail("argocd-tests: no health_test.yaml under %s", dir)
	}
	failed, ran := 0, 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		var tf testFile
		if err := yaml.UnmarshalStrict(data, &tf); err != nil {
			fail("%s: %v", file, err)
		}
		for _, t := range tf.Tests {
			ran++
			input := filepath.Join(filepath.Dir(file), t.InputPath)
			objData, err := os.ReadFile(input)
			if err != nil {
				fail("%v", err)
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(objData, &obj.Object); err != nil {
				fail("%s: %v", input, err)
			}
			got := argoHealth(vm, obj)
			if got.Status != t.HealthStatus.Status || got.Message != t.HealthStatus.Message {
				failed++
				fmt.Printf("FAIL %s\n  want %s: %s\n  got  %s: %s\n", input, t.HealthStatus.Status, t.HealthStatus.Message, got.Status, got.Message)
			} else {
				fmt.Printf("ok   %s: %s\n", input, got.Status)
			}
		}
	}
	fmt.Printf("%d health tests, %d failed\n", ran, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func readObjects(r io.Reader) []*unstructured.Unstructured {
	data, err := io.ReadAll(r)
	if err != nil {
		fail("%v", err)
	}
	// Numbers as Kubernetes' own decoder gives them (int64 where whole),
	// as the objects Flux and Argo CD read from the API server.
	var items []map[string]any
	if err := k8sjson.Unmarshal(data, &items); err != nil {
		fail("stdin: a JSON array of objects: %v", err)
	}
	out := make([]*unstructured.Unstructured, 0, len(items))
	for _, item := range items {
		out = append(out, &unstructured.Unstructured{Object: item})
	}
	return out
}

func write(out []result) {
	if out == nil {
		out = []result{}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "health: "+format+"\n", args...)
	os.Exit(2)
}
