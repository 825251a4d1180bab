#!/usr/bin/env python3
"""The operator at scale, on the local API server: `make bench-scale N=10000`.

Starts a control plane of its own (target/controlplane-bench, from scratch),
creates N workloads across 100 namespaces labelled env=dev/staging/prod (the
reference corpus of ../shared/bench/gen-workloads.py, spread over 100
namespaces instead of 50), a ServiceOwnership for most namespaces and
approved exceptions in some, then the examples' standards and patch
baseline, and starts the release operator as the user `operator` (with
exactly deploy/rbac.yaml's rights). It prints, as a Markdown table for
docs/benchmarks.md:

- start -> ready (every ComplianceReport and status written: /readyz);
- peak (VmHWM) and settled (VmRSS) resident memory, from /proc;
- the operator's API requests until then, by verb and resource, from the API
  server's audit log; and the Events it created;
- the average and largest stored ComplianceReport (JSON as served, managed
  fields included; and as `kubectl get -o json` shows it, without them);
- its writes and evaluation passes during 60 s with nothing changing;
- p50 / p99 / max edit -> report latency over 200 edits spread over the
  namespaces (an annotation the `ownership` standard requires is added, so
  the report's deviation must go), from the audit log: the edit's response
  to the response of the operator's write, on the API server's clock;
- a restart: time to ready, peak memory, and its writes (none expected).

With BENCH_CEL=1 it also applies a standard of five CEL rules over the pod
spec (the operator then keeps each workload's object).

With BENCH_REVIEWS=N it also records N StandardReviews of one standard
before the operator starts (a long review history): compare the restart's
memory with a run without.

Usage: scale.py N OPERATOR_BINARY  (run from the repository root; with
BENCH_KEEP=1 the control plane is left running, to profile against it)
"""
import atexit
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

N = int(sys.argv[1])
BINARY = sys.argv[2]
NAMESPACES = 100
EDITS = 200
QUIET = 60
ROOT = os.getcwd()
DIR = os.path.join(ROOT, "target/controlplane-bench")
ENV = dict(os.environ, PLUMBLINE_CONTROLPLANE_DIR=DIR)


def sh(*args, **kw):
    return subprocess.run(args, check=True, env=ENV, **kw)


def kubectl(*args, user=None, input=None, capture=True):
    cmd = [KUBECTL, "--kubeconfig", KUBECONFIG if user is None else kubeconfig_as(user), *args]
    out = subprocess.run(cmd, input=input, capture_output=capture, text=True)
    if out.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args[:3])} failed: {out.stderr[-2000:]}")
    return out.stdout


def kubeconfig_as(user):
    path = os.path.join(DIR, f"kubeconfig-{user}")
    if not os.path.exists(path):
        token = next(l.split(",")[0] for l in open(os.path.join(DIR, "pki/tokens.csv")) if l.split(",")[1] == user)
        text = "".join(
            (l.split("token: ")[0] + "token: " + token + "\n") if "token: " in l else l
            for l in open(KUBECONFIG))
        open(path, "w").write(text)
    return path


def step(msg):
    print(f"bench-scale: {msg}", file=sys.stderr, flush=True)


def apply_docs(docs, chunk=500):
    for i in range(0, len(docs), chunk):
        kubectl("apply", "--server-side", "--field-manager", "bench", "-f", "-",
                input="\n---\n".join(json.dumps(d) for d in docs[i:i + chunk]))


def rss(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def audit_requests(since_line, until=None):
    """The operator's requests in the audit log after line `since_line` (ResponseComplete stage only)."""
    counts = collections.Counter()
    with open(os.path.join(DIR, "logs/audit.log")) as f:
        for i, line in enumerate(f):
            if i < since_line:
                continue
            if '"username":"operator"' not in line or '"stage":"ResponseComplete"' not in line:
                continue
            e = json.loads(line)
            if until and e.get("stageTimestamp", "") > until:
                continue
            res = e.get("objectRef", {}).get("resource", "?")
            sub = e.get("objectRef", {}).get("subresource")
            counts[(e["verb"], res + ("/" + sub if sub else ""))] += 1
    return counts


def audit_lines():
    with open(os.path.join(DIR, "logs/audit.log")) as f:
        return sum(1 for _ in f)


def stamp(text):
    """An audit timestamp (RFC 3339, microseconds) in seconds."""
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def edit_latencies(since_line, edited):
    """Per edit: its response -> the response of the operator's next write of its report."""
    edits, writes = {}, collections.defaultdict(list)
    with open(os.path.join(DIR, "logs/audit.log")) as f:
        for i, line in enumerate(f):
            if i < since_line or '"stage":"ResponseComplete"' not in line or '"verb":"patch"' not in line:
                continue
            e = json.loads(line)
            ref = e.get("objectRef", {})
            key = (ref.get("namespace"), ref.get("resource"), ref.get("name"))
            if e["user"]["username"] == "operator":
                writes[key].append(stamp(e["stageTimestamp"]))
            elif key not in edits:
                edits[key] = stamp(e["stageTimestamp"])
    out = []
    for ns, resource, name, report in edited:
        t = edits[(ns, resource, name)]
        out.append(min(w for w in writes[(ns, "compliancereports", report)] if w >= t) - t)
    return out


def metric(name):
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + " ") or l.startswith(name + "{"))


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1000000:06d}Z"


# A fresh control plane, so that the audit log and etcd hold only this run.
step("starting a fresh control plane")
sh("bash", "tests/controlplane/down.sh", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
bin_dir = subprocess.run(["bash", "tests/controlplane/build.sh"], env=ENV, capture_output=True, text=True, check=True).stdout.strip()
sh("bash", "tests/controlplane/up.sh", stdout=subprocess.DEVNULL)
KUBECTL = os.path.join(bin_dir, "kubectl")
KUBECONFIG = os.path.join(DIR, "kubeconfig")

step("CRDs, RBAC, the approval policy")
crds = subprocess.run([BINARY, "crd"], capture_output=True, text=True, check=True).stdout
kubectl("apply", "--server-side", "-f", "-", input=crds)
kubectl("wait", "--for", "condition=Established", "--timeout", "60s", "crd", "--all")
kubectl("apply", "--server-side", "-f", "deploy/namespace.yaml", "-f", "deploy/rbac.yaml",
        "-f", "deploy/user-roles.yaml", "-f", "deploy/admission/exception-approval.yaml")
kubectl("create", "clusterrolebinding", "bench-operator", "--clusterrole", "plumbline-operator", "--user", "operator")
kubectl("create", "rolebinding", "bench-operator-lease", "-n", "plumbline-system",
        "--role", "plumbline-leader-election", "--user", "operator")

# Workloads first: a cluster that already runs them when plumbline arrives.
step(f"{NAMESPACES} namespaces and {N} workloads")
envs = ["dev", "staging", "prod"]
namespaces = [{"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": f"team-{i}", "labels": {"env": envs[i % 3], "team": f"t{i}"}}}
              for i in range(NAMESPACES)]
apply_docs(namespaces)
with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "workloads.yaml")
    subprocess.run([sys.executable, "../shared/bench/gen-workloads.py", str(N), corpus], check=True)
    text = open(corpus).read()
docs = []
for chunk in text.split("---\n"):
    lines = chunk.splitlines()
    name = next(l.split(": ")[1] for l in lines if l.startswith("  name: "))
    i = int(name.split("-")[1])
    lines = [f"  namespace: team-{i % NAMESPACES}" if l.startswith("  namespace: ") else l for l in lines]
    docs.append("\n".join(lines))
started = time.time()
for i in range(0, len(docs), 1000):
    kubectl("apply", "--server-side", "--field-manager", "bench", "-f", "-", input="\n---\n".join(docs[i:i + 1000]))
step(f"workloads created in {time.time() - started:.0f}s")

# Ownerships for 90 of the 100 namespaces, exceptions in every tenth.
owned = []
for i in range(NAMESPACES):
    if i % 10 == 9:
        continue
    owned.append({"apiVersion": "plumbline.dev/v1alpha1", "kind": "ServiceOwnership",
                  "metadata": {"name": f"team-{i}", "namespace": f"team-{i}"},
                  "spec": {"team": f"t{i}", "selector": {},
                           "maintainers": [{"name": f"m{j}", "email": f"m{j}@example.com"} for j in range(3)],
                           "runbook": "https://runbooks.example.com/x",
                           "onCall": {"rotation": f"t{i}", "contact": "https://oncall.example.com/x"}}})
exceptions = [{"apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardException",
               "metadata": {"name": "legacy-replicas", "namespace": f"team-{i}"},
               "spec": {"target": {"standard": "production-readiness"},
                        "workloads": {"selector": {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}},
                        "justification": "Legacy workloads, migrated next quarter.",
                        "requestedBy": "alice", "approvedBy": "bob", "ticket": "RISK-1",
                        "expiresAt": "2027-06-30T00:00:00Z"}}
              for i in range(0, NAMESPACES, 10)]
apply_docs(owned + exceptions)
kubectl("apply", "--server-side", "-f", "examples/10-standard-baseline-security.yaml",
        "-f", "examples/11-standard-production-readiness.yaml", "-f", "examples/12-standard-ownership.yaml",
        "-f", "examples/20-patch-baseline.yaml")

if os.environ.get("BENCH_CEL"):
    # Five CEL rules over the pod spec (BENCH_CEL=1): the workloads' objects
    # are kept and every workload is judged by them.
    step("a standard of five CEL rules over the pod spec")
    cel_rules = [
        ("memory-at-most-4gi", "variables.containers.all(c, !c.?resources.?limits.?memory.hasValue() || quantity(c.resources.limits.memory).compareTo(quantity('4Gi')) <= 0)"),
        ("no-pull-never", "variables.containers.all(c, c.?imagePullPolicy.orValue('IfNotPresent') != 'Never')"),
        ("gpu-tolerations-only", "variables.podSpec.?tolerations.orValue([]).all(t, t.?key.orValue('').startsWith('node.kubernetes.io/') || (t.?key.orValue('') == 'dedicated' && t.?value.orValue('') == 'gpu'))"),
        ("cpu-request-at-least-10m", "variables.containers.all(c, !c.?resources.?requests.?cpu.hasValue() || !quantity(c.resources.requests.cpu).isLessThan(quantity('10m')))"),
        ("no-debug-env", "variables.containers.all(c, c.?env.orValue([]).map(e, e.name).indexOf('DEBUG') == -1)"),
    ]
    apply_docs([{"apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
                 "metadata": {"name": "custom-cel"},
                 "spec": {"enforcement": "Audit",
                          "rules": [{"id": i, "severity": "Medium", "description": f"CEL rule {i}",
                                     "cel": {"expression": e}} for i, e in cel_rules]}}])

REVIEWS = int(os.environ.get("BENCH_REVIEWS", "0"))
if REVIEWS:
    # A long review history of one standard (BENCH_REVIEWS=N): the operator
    # keeps the superseded ones slim, so the restart's memory shows its cost.
    step(f"{REVIEWS} StandardReviews of production-readiness")
    apply_docs([{"apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardReview",
                 "metadata": {"name": f"production-readiness-{i:05d}"},
                 "spec": {"standard": "production-readiness", "outcome": "Keep", "reviewedBy": "carol",
                          "ticket": f"ARCH-{i}",
                          "summary": "Reviewed with the teams holding exceptions; " * 8}}
                for i in range(REVIEWS)])


def start_operator(name, extra=()):
    """Starts the release operator as the user `operator`; returns it and
    how long until /readyz answered 200 (`addr` is set for `metric`)."""
    global addr
    log = open(os.path.join(DIR, f"logs/{name}.log"), "w")
    op_env = dict(os.environ, KUBECONFIG=kubeconfig_as("operator"), PLUMBLINE_LOG="info")
    t0 = time.time()
    op = subprocess.Popen([BINARY, "run", "--metrics-addr", "127.0.0.1:0", "--log-format", "json", *extra],
                          env=op_env, stdout=subprocess.DEVNULL, stderr=log)
    # However the run ends, the operator stops with it.
    atexit.register(lambda: op.poll() is None and op.kill())
    addr = None
    while True:
        if op.poll() is not None:
            raise SystemExit(f"the operator stopped; see {log.name}")
        if addr is None:
            for line in open(log.name):
                if "serving /metrics" in line:
                    addr = json.loads(line)["fields"]["addr"]
        else:
            try:
                if urllib.request.urlopen(f"http://{addr}/readyz", timeout=1).status == 200:
                    return op, time.time() - t0
            except Exception:
                pass
        if time.time() - t0 > 1800:
            raise SystemExit("not ready after 30 minutes")
        time.sleep(0.2)


addr = None
step("starting the operator (release build, user operator)")
before = audit_lines()
op, converge = start_operator("operator-bench")

peak_at_ready, _ = rss(op.pid)
converged_at = utc_now()
requests = audit_requests(before)
step(f"ready after {converge:.1f}s")

# As stored and served (managed fields included), and as kubectl shows them.
reports = json.loads(kubectl("get", "compliancereports", "-A", "-o", "json", "--show-managed-fields"))["items"]
sizes = [len(json.dumps(r, separators=(",", ":"))) for r in reports]
for r in reports:
    r["metadata"].pop("managedFields", None)
shown = [len(json.dumps(r, separators=(",", ":"))) for r in reports]

step(f"{QUIET}s with nothing changing")
quiet_from = audit_lines()
passes_before = metric("plumbline_evaluations_total")
time.sleep(QUIET)
quiet_passes = metric("plumbline_evaluations_total") - passes_before
quiet = audit_requests(quiet_from)
quiet_writes = sum(n for (verb, _), n in quiet.items() if verb in ("create", "update", "patch", "delete"))

step(f"{EDITS} edits, one at a time")
# Latency is measured on the API server's clock, from the audit log: from
# the edit's response to the response of the operator's write of that
# report. Polling only paces the edits.
edits_from = audit_lines()
edited = []
for e in range(EDITS):
    i = (e * 53) % N
    ns, name = f"team-{i % NAMESPACES}", f"app-{i}"
    kind = ["deployment", "deployment", "deployment", "statefulset", "daemonset"][i % 5]
    report = f"{kind}-{name}"
    t = time.time()
    kubectl("annotate", "--overwrite", kind, name, "-n", ns, f"plumbline.dev/cost-center=CC-{1000 + e}")
    edited.append((ns, kind + "s", name, report))
    while True:
        r = json.loads(kubectl("get", "compliancereport", report, "-n", ns, "-o", "json"))
        devs = r.get("status", {}).get("deviations", [])
        if not any(
            d["standard"] == "ownership"
            and any("cost-center" in d.get(s, []) for s in ("critical", "high", "medium", "low"))
            for d in devs
        ):
            break
        if time.time() - t > 30:
            raise SystemExit(f"{ns}/{report} did not follow the edit within 30s")
        time.sleep(0.05)
latencies = edit_latencies(edits_from, edited)
latencies.sort()
peak, settled = rss(op.pid)
op.terminate()
op.wait(timeout=30)

# A restart finds every report and status written: it should write nothing.
step("restarting the operator")
restarted_from = audit_lines()
op, restart = start_operator("operator-bench-restarted")
restart_peak, _ = rss(op.pid)
restart_writes = sum(n for (verb, _), n in audit_requests(restarted_from).items()
                     if verb in ("create", "update", "patch", "delete"))
op.terminate()
op.wait(timeout=30)

# The dashboard: the same restart with --dashboard-addr, then each page
# fetched 20 times (server-side render plus loopback HTTP, as a browser
# behind kubectl port-forward would wait for it).
step("the operator with the dashboard")
op, dash_ready = start_operator("operator-bench-dashboard", ["--dashboard-addr", "127.0.0.1:0"])
dash_addr = None
for line in open(os.path.join(DIR, "logs/operator-bench-dashboard.log")):
    if "serving the dashboard" in line:
        dash_addr = json.loads(line)["fields"]["addr"]
some = reports[len(reports) // 2]["spec"]["workload"]
pages = {
    "overview": "/",
    "scorecards": "/namespaces",
    "namespace": f"/namespaces/{reports[0]['metadata']['namespace']}",
    "workload": f"/workloads/{reports[len(reports) // 2]['metadata']['namespace']}/{some['kind']}/{some['name']}",
    "standard": "/standards/baseline-security",
}
page_times = {}
for page, path in pages.items():
    times = []
    for _ in range(20):
        t = time.time()
        body = urllib.request.urlopen(f"http://{dash_addr}{path}", timeout=30).read()
        times.append(time.time() - t)
    times.sort()
    page_times[page] = (times[len(times) // 2], times[-1], len(body))
dash_peak, dash_settled = rss(op.pid)
op.terminate()
op.wait(timeout=30)

events = sum(n for (verb, res), n in requests.items() if res == "events" and verb == "create")
total = sum(requests.values())
mib = 1024 * 1024
print(f"""
| N = {N} workloads, {NAMESPACES} namespaces, {len(owned)} ownerships, {len(exceptions)} exceptions{f", {REVIEWS} reviews" if REVIEWS else ""} | |
|---|---:|
| start -> every report and status written (/readyz) | {converge:.1f} s |
| peak RSS (VmHWM) at ready / after edits | {peak_at_ready:.0f} MiB / {peak:.0f} MiB |
| settled RSS after the edits | {settled:.0f} MiB |
| API requests until ready | {total} |
| Events created until ready | {events} |
| reports written | {len(reports)} |
| stored report (as served, managed fields included), average / largest | {sum(sizes) / max(len(sizes), 1) / 1024:.2f} KiB / {max(sizes or [0]) / 1024:.2f} KiB |
| report as `kubectl get -o json` shows it (no managed fields), average / largest | {sum(shown) / max(len(shown), 1) / 1024:.2f} KiB / {max(shown or [0]) / 1024:.2f} KiB |
| writes / evaluation passes in {QUIET} s quiet | {quiet_writes} / {quiet_passes:.0f} |
| edit -> report write, p50 / p99 / max over {EDITS} (audit log, server clock) | {latencies[len(latencies) // 2]:.2f} s / {latencies[int(len(latencies) * 0.99) - 1]:.2f} s / {latencies[-1]:.2f} s |
| restart -> ready, peak RSS at ready, writes | {restart:.1f} s, {restart_peak:.0f} MiB, {restart_writes} |
| with --dashboard-addr: restart -> ready, peak RSS after its pages | {dash_ready:.1f} s, {dash_peak:.0f} MiB |
""")
print("| dashboard page (20 fetches after ready) | median | max | size |\n|---|---:|---:|---:|")
for page, (median, worst, size) in page_times.items():
    print(f"| {page} `{pages[page]}` | {median * 1000:.1f} ms | {worst * 1000:.1f} ms | {size / 1024:.0f} KiB |")
print("| requests until ready: verb resource | count |\n|---|---:|")
for (verb, res), n in sorted(requests.items(), key=lambda kv: -kv[1]):
    print(f"| {verb} {res} | {n} |")
print(f"\nmachine: {os.cpu_count()} CPUs, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / mib / 1024:.0f} GiB; converged at {converged_at}")
if os.environ.get("BENCH_KEEP"):
    step(f"control plane left running (BENCH_KEEP): KUBECONFIG={KUBECONFIG}")
else:
    sh("bash", "tests/controlplane/down.sh", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
