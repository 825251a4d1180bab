#!/usr/bin/env bash
# `make demo`: on the local control plane (already started by the Makefile),
# install the CRDs, deploy/'s RBAC and policies and the examples, start the
# operator in the background with exactly the operator's rights, wait until
# every workload's report is written, and show what an SRE would look at.
# Everything keeps running; the end says how to explore and how to stop.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${PLUMBLINE_CONTROLPLANE_DIR:?}"
bin="$(cat "$dir/bin")"
kubectl=("$bin/kubectl" --kubeconfig "$dir/kubeconfig")
plumbline="${PLUMBLINE_BIN:-target/debug/plumbline}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\n$ kubectl %s\n' "$*"; "${kubectl[@]}" "$@"; }

step "Installing the CRDs, RBAC, the approval and review policies and the examples"
"${kubectl[@]}" apply --server-side -f crds/ >/dev/null
"${kubectl[@]}" wait --for condition=Established --timeout 60s -f crds/ >/dev/null
"${kubectl[@]}" apply --server-side -f deploy/namespace.yaml -f deploy/rbac.yaml \
  -f deploy/user-roles.yaml -f deploy/admission/ >/dev/null
"${kubectl[@]}" apply --server-side -f examples/00-namespaces.yaml >/dev/null
# A new namespace's default ServiceAccount (needed by bare Pods) appears a moment later.
for ns in $("${kubectl[@]}" get -f examples/00-namespaces.yaml -o name); do
  until "${kubectl[@]}" get serviceaccount default -n "${ns#namespace/}" >/dev/null 2>&1; do sleep 0.2; done
done
"${kubectl[@]}" apply --server-side -f examples/ -f examples/lifecycle/ >/dev/null
echo "done"

step "Starting the operator as the user 'operator' (deploy/rbac.yaml's rights only)"
# The local users authenticate with static tokens; bind the operator's roles to ours.
"${kubectl[@]}" apply --server-side -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: plumbline-operator-demo-user}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plumbline-operator}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: operator}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: plumbline-leader-election-demo-user, namespace: plumbline-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: plumbline-leader-election}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: operator}]
YAML
token="$(awk -F, '$2 == "operator" {print $1}' "$dir/pki/tokens.csv")"
sed "s/^\(\s*token: \).*/\1$token/" "$dir/kubeconfig" > "$dir/kubeconfig-operator"
chmod 600 "$dir/kubeconfig-operator"
port="${PLUMBLINE_DEMO_METRICS_PORT:-8080}"
dashboard="${PLUMBLINE_DEMO_DASHBOARD_PORT:-8081}"
if [ -s "$dir/operator.pid" ] && kill -0 "$(cat "$dir/operator.pid")" 2>/dev/null; then
  echo "already running (pid $(cat "$dir/operator.pid"))"
else
  KUBECONFIG="$dir/kubeconfig-operator" nohup "$plumbline" run --leader-elect \
    --metrics-addr "127.0.0.1:$port" --dashboard-addr "127.0.0.1:$dashboard" >"$dir/logs/operator.log" 2>&1 &
  echo $! > "$dir/operator.pid"
  echo "pid $(cat "$dir/operator.pid"), log $dir/logs/operator.log, metrics http://127.0.0.1:$port/metrics, dashboard http://127.0.0.1:$dashboard/"
fi

step "Waiting until the first evaluation is written (/readyz)"
ready() { # a plain HTTP GET with bash alone
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  local status; read -r _ status _ <&3 || true; exec 3<&- 3>&-
  [ "$status" = 200 ]
}
for i in $(seq 1 600); do
  ready && break
  if ! kill -0 "$(cat "$dir/operator.pid")" 2>/dev/null; then
    echo "the operator stopped; its log:" >&2; tail -20 "$dir/logs/operator.log" >&2; exit 1
  fi
  [ "$i" -lt 600 ] || { echo "not ready after 60s; see $dir/logs/operator.log" >&2; exit 1; }
  sleep 0.1
done
echo "ready: $("${kubectl[@]}" get compliancereports -A --no-headers | wc -l) ComplianceReports written"

step "Everything plumbline knows"
show get plumbline -A

step "The ComplianceReports"
show get compliancereports -A

step "The standard that needs review, and its Event"
show get infrastructurestandards -o custom-columns='NAME:.metadata.name,REVIEW:.status.conditions[?(@.type=="ReviewRequired")].status,WHY:.status.conditions[?(@.type=="ReviewRequired")].message'
show get events -n default --field-selector reason=StandardReviewRequired

step "carol (ClusterRole plumbline-reviewer) records a review of production-readiness: the alarm clears"
"${kubectl[@]}" apply --server-side -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: plumbline-reviewer-demo-carol}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plumbline-reviewer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
YAML
as_user() { # a kubeconfig for one of the local users, by their static token
  local token; token="$(awk -F, -v u="$1" '$2 == u {print $1}' "$dir/pki/tokens.csv")"
  sed "s/^\(\s*token: \).*/\1$token/" "$dir/kubeconfig" > "$dir/kubeconfig-$1"
  chmod 600 "$dir/kubeconfig-$1"
  echo "$dir/kubeconfig-$1"
}
carol=("$bin/kubectl" --kubeconfig "$(as_user carol)")
review="production-readiness-$(date -u +%Y%m%d-%H%M%S)"
printf '
$ kubectl create -f review.yaml   # as carol
'
# The reviewer role and the review policy take a moment to apply.
for _ in $(seq 50); do
  if "${carol[@]}" create -f - 2>/dev/null <<YAML
apiVersion: plumbline.dev/v1alpha1
kind: StandardReview
metadata: {name: $review}
spec:
  standard: production-readiness
  outcome: Keep
  reviewedBy: carol
  summary: The exceptions are the payments ledger migration and two checkout fixes; keep the standard.
  ticket: ARCH-311
  nextReviewBy: "$(date -u -d '+90 days' +%Y-%m-%dT00:00:00Z)"
YAML
  then break; fi
  sleep 0.2
done
reason() { "${kubectl[@]}" get infrastructurestandard production-readiness -o jsonpath='{.status.conditions[?(@.type=="ReviewRequired")].reason}'; }
for _ in $(seq 50); do [ "$(reason)" = Reviewed ] && break; sleep 0.1; done
show get standardreviews
show get infrastructurestandard production-readiness -o custom-columns='NAME:.metadata.name,REVIEW:.status.conditions[?(@.type=="ReviewRequired")].status,REASON:.status.conditions[?(@.type=="ReviewRequired")].reason,WHY:.status.conditions[?(@.type=="ReviewRequired")].message'
show get events -n default --field-selector reason=StandardReviewed

step "A new exception the review did not consider brings the alarm back"
"${kubectl[@]}" apply --server-side -f - >/dev/null <<YAML
apiVersion: plumbline.dev/v1alpha1
kind: StandardException
metadata: {name: frontend-pdb, namespace: search}
spec:
  target: {standard: production-readiness, rules: [disruption-budget]}
  workloads: {names: [{kind: Deployment, name: search-frontend}]}
  justification: The frontend's budget waits for the new node pool.
  requestedBy: alice
  approvedBy: bob
  expiresAt: "$(date -u -d '+30 days' +%Y-%m-%dT00:00:00Z)"
YAML
for _ in $(seq 50); do [ "$(reason)" = NewExceptionsSinceReview ] && break; sleep 0.1; done
show get infrastructurestandard production-readiness -o custom-columns='NAME:.metadata.name,REVIEW:.status.conditions[?(@.type=="ReviewRequired")].status,REASON:.status.conditions[?(@.type=="ReviewRequired")].reason,WHY:.status.conditions[?(@.type=="ReviewRequired")].message'

step "A deprecated standard (examples/lifecycle/): how far its workloads have moved to the successor"
show get infrastructurestandards
"${kubectl[@]}" get infrastructurestandard team-label -o jsonpath='{"migrated "}{.status.migration.migrated}{" of "}{.status.migration.matched}{" to "}{.status.migration.supersededBy}{", sunset "}{.status.migration.sunset}{"\n"}{range .status.migration.pending.items[*]}{"  not yet: "}{.workload.kind}{" "}{.workload.namespace}{"/"}{.workload.name}{" misses "}{.openRules}{"\n"}{end}'

step "Overdue patches"
show get patchbaselines -o custom-columns='NAME:.metadata.name,CURRENT:.status.totals.current,BEHIND:.status.totals.behind,OVERDUE:.status.totals.overdue'
"${kubectl[@]}" get compliancereports -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.spec.workload.kind}/{.spec.workload.name}{"\t"}{.status.patch.state}{"\n"}{end}' | awk -F'\t' '$2 == "Overdue" {print "  overdue: " $1}'

step "Orphans: workloads no ServiceOwnership selects"
"${kubectl[@]}" get compliancereports -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.spec.workload.kind}/{.spec.workload.name}{"\t"}{.status.conditions[?(@.type=="Owned")].reason}{"\n"}{end}' | awk -F'\t' '$2 == "Orphan" {print "  orphan: " $1}'

step "Admission: baseline-security is Enforce, so the API server itself refuses a hostile Deployment"
show get validatingadmissionpolicies -l app.kubernetes.io/managed-by=plumbline -L plumbline.dev/standard,plumbline.dev/standard-generation
"${kubectl[@]}" get infrastructurestandards -o jsonpath='{range .items[*]}{.metadata.name}{": "}{.status.conditions[?(@.type=="Enforced")].message}{"\n"}{end}'
hostile='{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"miner","namespace":"checkout"},
  "spec":{"selector":{"matchLabels":{"app":"miner"}},"template":{"metadata":{"labels":{"app":"miner"}},
  "spec":{"hostNetwork":true,"containers":[{"name":"miner","image":"evil.io/miner:latest","securityContext":{"privileged":true}}]}}}}'
printf '\n$ kubectl create --dry-run=server -f miner.yaml   # hostNetwork, privileged, evil.io/miner:latest\n'
# The API server loads a new policy a moment after it is stored.
for _ in $(seq 50); do
  if ! out=$("${kubectl[@]}" create --dry-run=server -f - <<<"$hostile" 2>&1); then break; fi
  sleep 0.2
done
echo "$out"

cat <<EOF_HELP

The API server, the operator (pid $(cat "$dir/operator.pid")) and the examples keep running.
Dashboard: http://127.0.0.1:${PLUMBLINE_DEMO_DASHBOARD_PORT:-8081}/   (overview, scorecards, every workload and standard)
Explore:   export KUBECONFIG=$dir/kubeconfig; alias kubectl="$bin/kubectl"
           target/debug/plumbline explain -n checkout deployment/cart  # every deviation, admission, exceptions, patch, owner
           kubectl describe compliancereport -n checkout deployment-cart
           kubectl describe infrastructurestandard production-readiness
           kubectl get standardreviews                                # who reviewed what, and which review counts
           kubectl get events -A --field-selector reportingComponent=plumbline
           kubectl scale -n checkout deployment/cart --replicas 3    # then look at its report again
           kubectl delete standardexception -n checkout cart-replicas # the deviation reopens
           kubectl get validatingadmissionpolicies                    # what admission enforces, per standard
           target/debug/plumbline exceptions list -A                  # each exception: what it waives, selects, covers
           target/debug/plumbline request cart-root -n checkout --standard baseline-security \\
             --rule run-as-non-root --workload Deployment/cart --justification "Vendor image runs as root." --for 7d
           target/debug/plumbline approve cart-root -n checkout      # as an approver (another user than the requester)
           curl -s http://127.0.0.1:${PLUMBLINE_DEMO_METRICS_PORT:-8080}/metrics | grep ^plumbline_
           tail -f $dir/logs/operator.log
Stop:      make controlplane-down   (stops the operator too)
EOF_HELP
