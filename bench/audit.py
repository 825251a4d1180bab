#!/usr/bin/env python3
"""Times `plumbline audit` on generated manifests: median wall time of three
runs and peak memory (max RSS) of the whole process, for `make bench`.

Usage: bench/audit.py PLUMBLINE [N] [KUBE_SCORE]

Generates N workloads (default 10000) of every supported kind across 50
namespaces into target/bench/, audits them against examples/ in each output
format, and also audits DESIGN.md's reference corpus when the generator in
../shared/bench is present. With KUBE_SCORE (bench/kube-score/build.sh
builds it), kube-score scores the reference corpus in the same run, in each
of its output formats, and the ratios are printed: the aim of issue 21 is
plumbline's JSON at 20x kube-score's fastest format.
"""
import os
import random
import statistics
import subprocess
import sys
import time

KINDS = ["Deployment", "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"]
IMAGES = ["nginx:1.25.3", "nginx:latest", "registry.example.com/base/python:3.12.6",
          "registry.example.com/payments/api:2.4.1", "busybox", "ghcr.io/acme/api:v3.4.1"]


def workload(i, rnd):
    kind = KINDS[i % len(KINDS)]
    api = "batch/v1" if kind in ("CronJob", "Job") else "apps/v1"
    pod = [
        "metadata:",
        f"  labels: {{app: app-{i}}}",
        "spec:",
        "  containers:",
        "  - name: main",
        f"    image: {rnd.choice(IMAGES)}",
    ]
    if i % 2:
        pod += ["    resources:", "      requests: {cpu: 100m, memory: 128Mi}", "      limits: {memory: 256Mi}"]
    if i % 3:
        pod += ["    readinessProbe: {httpGet: {path: /ready, port: 8080}}",
                "    livenessProbe: {httpGet: {path: /live, port: 8080}}"]
    if i % 5 == 0:
        pod += ["    securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}"]
    if kind in ("CronJob", "Job"):
        pod.insert(3, "  restartPolicy: Never")
    head = [f"apiVersion: {api}", f"kind: {kind}", "metadata:", f"  name: app-{i}",
            f"  namespace: team-{i % 50}", "  labels:", f"    app: app-{i}", f"    team: t{i % 50}", "spec:"]
    if kind == "CronJob":
        body = ["  schedule: '@daily'", "  jobTemplate:", "    spec:", "      template:"]
        body += ["        " + line for line in pod]
    else:
        body = []
        if kind in ("Deployment", "StatefulSet"):
            body.append(f"  replicas: {1 + i % 3}")
        if kind != "Job":
            body += ["  selector:", f"    matchLabels: {{app: app-{i}}}"]
        body.append("  template:")
        body += ["    " + line for line in pod]
    return "\n".join(head + body) + "\n"


def measure(cmd, codes=(0, 1)):
    walls, peaks = [], []
    for _ in range(3):
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.monotonic() - start)
        peaks.append(usage.ru_maxrss / 1024)
        code = os.waitstatus_to_exitcode(status)
        if code not in codes:
            sys.exit(f"{' '.join(cmd)} exited {code}")
    return statistics.median(walls), max(peaks)


def main():
    plumbline = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    kube_score = sys.argv[3] if len(sys.argv) > 3 else None
    os.makedirs("target/bench", exist_ok=True)
    corpus = f"target/bench/workloads-{n}.yaml"
    rnd = random.Random(7)
    with open(corpus, "w") as f:
        f.write("---\n".join(workload(i, rnd) for i in range(n)))
    runs = [(f"{n} generated workloads, every kind", corpus)]
    shared = os.path.join("..", "shared", "bench", "gen-workloads.py")
    if os.path.exists(shared):
        reference = f"target/bench/reference-{n}.yaml"
        subprocess.run([sys.executable, shared, str(n), reference], check=True)
        runs.append((f"DESIGN.md reference corpus ({n})", reference))
    print(f"{'corpus':45} {'format':6} {'MiB in':>7} {'wall s':>7} {'peak MiB':>9}")
    ours = {}
    for name, path in runs:
        size = os.path.getsize(path) / (1 << 20)
        for fmt in ("text", "json", "sarif", "junit"):
            wall, peak = measure([plumbline, "audit", path, "--standards", "examples", "--format", fmt,
                                  "--at", "2026-11-24T12:00:00Z", "--color", "never"])
            print(f"{name:45} {fmt:6} {size:7.2f} {wall:7.3f} {peak:9.1f}")
            ours[(path, fmt)] = wall
    if kube_score:
        # DESIGN.md's reference corpus when its generator is there, else the generated one.
        name, reference = runs[-1]
        print()
        print(f"kube-score on the {name}, same run ({kube_score})")
        print(f"{'kube-score format':18} {'wall s':>7} {'peak MiB':>9} {'plumbline json is':>18}")
        fastest = None
        for fmt in ("human", "ci", "json", "sarif"):
            wall, peak = measure([kube_score, "score", reference, "--output-format", fmt,
                                  "--color", "never"], codes=(0, 1))
            ratio = wall / ours[(reference, "json")]
            print(f"{fmt:18} {wall:7.3f} {peak:9.1f} {ratio:17.1f}x")
            fastest = min(fastest or wall, wall)
        ratio = fastest / ours[(reference, "json")]
        print(f"plumbline json against kube-score's fastest format: {ratio:.1f}x (aim: 20x)")


if __name__ == "__main__":
    main()
