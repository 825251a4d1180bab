# plumbline's tasks. `make test` is what CI runs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
CONTROLPLANE := tests/controlplane
# The demo's control plane; `make test` uses its own under target/controlplane-test.
DEMO_DIR := $(CURDIR)/target/controlplane
TEST_DIR := $(CURDIR)/target/controlplane-test
KUBECTL = "$$(cat $(DEMO_DIR)/bin)/kubectl" --kubeconfig $(DEMO_DIR)/kubeconfig

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the plumbline binary.
	$(CARGO) build --locked

PREFIX ?= $(HOME)/.local
.PHONY: install
install: ## Install plumbline and its kubectl plugin (`kubectl plumbline ...`) into $(PREFIX)/bin.
	$(CARGO) build --locked --release
	install -d "$(PREFIX)/bin"
	install -m 0755 target/release/plumbline "$(PREFIX)/bin/plumbline"
	ln -sf plumbline "$(PREFIX)/bin/kubectl-plumbline"

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors.
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

.PHONY: test
test: lint ## Lint, then every test: unit, CRD drift, integration tests on a local API server, GitOps health (kstatus, Argo CD), the chart (helm) and kustomizations, CEL parity with the API server's own CEL environment, the alerts (promtool) and the dashboard (headless Chromium).
	$(CONTROLPLANE)/build.sh >/dev/null
	tests/health/build.sh >/dev/null
	tests/helm/build.sh >/dev/null
	tests/cel-oracle/build.sh >/dev/null
	tests/prometheus/build.sh >/dev/null
	PLUMBLINE_CONTROLPLANE_DIR=$(TEST_DIR) $(CONTROLPLANE)/up.sh
	rc=0; PLUMBLINE_CONTROLPLANE_DIR=$(TEST_DIR) $(CARGO) test --locked --all-targets --no-fail-fast || rc=$$?; \
	  PLUMBLINE_CONTROLPLANE_DIR=$(TEST_DIR) $(CONTROLPLANE)/down.sh; exit $$rc

.PHONY: test-fast
FAST_TESTS := --lib --test plan --test engine --test incremental --test properties --test crds --test explain --test dashboard_pages
test-fast: ## The tier without an API server or Go tooling: unit tests, the operator's passes in-process (tests/plan.rs), the engine, CRD drift. Under a minute once built.
	$(CARGO) test --locked $(FAST_TESTS)

.PHONY: bench
bench: ## Benchmarks: the engine on 1k/10k workloads (criterion), and `plumbline audit` on 10k manifests against kube-score in the same run.
	$(CARGO) bench --locked --bench engine
	$(CARGO) build --locked --release
	ks="$$(bench/kube-score/build.sh)" && python3 bench/audit.py target/release/plumbline 10000 "$$ks"

.PHONY: bench-admission
bench-admission: ## What the generated admission policies add to a dry-run create of a compliant Deployment, from 1, 4 and 16 clients: no policy, the examples' standards, a 200-rule standard; with the API server's per-policy timing.
	$(CARGO) build --locked --release
	$(CONTROLPLANE)/build.sh >/dev/null
	load="$$(bench/admission-load/build.sh)" && python3 bench/admission.py target/release/plumbline "$$load"

.PHONY: bench-scale
N ?= 10000
bench-scale: ## The operator at N workloads (default 10000) on a local API server of its own: time to converge, memory, requests, report size, quiet writes, edit latency.
	$(CARGO) build --locked --release
	$(CONTROLPLANE)/build.sh >/dev/null
	python3 bench/scale.py $(N) target/release/plumbline

.PHONY: crds
crds: ## Regenerate crds/ from src/api, deploy/argocd/argocd-cm.yaml from the Lua checks, and the Helm chart's copies of crds/ and deploy/.
	$(CARGO) run --locked --quiet -- crd --out-dir crds
	$(CARGO) run --locked --quiet -- crd --out-dir charts/plumbline/crds
	python3 scripts/argocd-cm.py
	cp deploy/rbac.yaml deploy/user-roles.yaml deploy/admission/exception-approval.yaml deploy/admission/standard-review.yaml deploy/argocd/argocd-cm.yaml charts/plumbline/files/

.PHONY: controlplane
controlplane: ## Start a local etcd, kube-apiserver and kube-controller-manager (kubeconfig: target/controlplane/kubeconfig).
	PLUMBLINE_CONTROLPLANE_DIR=$(DEMO_DIR) $(CONTROLPLANE)/up.sh

.PHONY: controlplane-down
controlplane-down: ## Stop the local control plane and remove its data.
	PLUMBLINE_CONTROLPLANE_DIR=$(DEMO_DIR) $(CONTROLPLANE)/down.sh

.PHONY: demo
demo: controlplane ## Start the local API server and the operator, install the CRDs and examples, and show reports, reviews, overdue patches and orphans.
	$(CARGO) build --locked --bin plumbline
	PLUMBLINE_CONTROLPLANE_DIR=$(DEMO_DIR) scripts/demo.sh

.PHONY: clean
clean: controlplane-down ## Stop the control plane and remove build output (the cached control-plane build stays).
	$(CARGO) clean
