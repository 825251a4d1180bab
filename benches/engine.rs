//! The engine alone, on generated clusters of 1,000 and 10,000 workloads in
//! 50 namespaces, against 10 standards of about 100 rules in all (built from
//! the rules of examples/), the example patch baseline, exceptions and one
//! ServiceOwnership per team. Run with `make bench`; numbers go in docs/benchmarks.md.

use std::collections::BTreeMap;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plumbline::{
    api::InfrastructureStandard,
    audit::load::{Loaded, Take, read_sources},
    engine::{Incremental, Inputs, Namespace, Workload, evaluate},
};

const NAMESPACES: usize = 50;

fn examples() -> Inputs {
    let mut loaded = Loaded::default();
    // The files at the top of examples/ (examples/gitops/ repeats them as a
    // platform repository).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for source in read_sources(&files).expect("examples/") {
        loaded.add(&source, Take::PlumblineOnly);
    }
    loaded.inputs
}

/// Ten standards of ten rules each, drawn round-robin from the example
/// rules (the built-in checks: the CEL example standard has a bench of its
/// own, `engine/cel`).
fn standards(examples: &[InfrastructureStandard]) -> Vec<InfrastructureStandard> {
    let examples: Vec<InfrastructureStandard> = examples
        .iter()
        .filter(|s| s.spec.rules.iter().all(|r| r.cel.is_none()))
        .cloned()
        .collect();
    let pool: Vec<_> = examples
        .iter()
        .flat_map(|s| s.spec.rules.iter().cloned())
        .collect();
    (0..10)
        .map(|i| {
            let mut s = examples[i % examples.len()].clone();
            s.metadata.name = Some(format!("standard-{i}"));
            s.spec.match_ = Default::default();
            s.spec.rules = (0..10)
                .map(|j| {
                    let mut r = pool[(i * 7 + j) % pool.len()].clone();
                    r.id = format!("{}-{j}", r.id);
                    r
                })
                .collect();
            s
        })
        .collect()
}

fn workload(i: usize) -> Workload {
    workload_kept(i, false)
}

fn workload_kept(i: usize, sources: bool) -> Workload {
    let kind = [
        "Deployment",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
        "Job",
    ][i % 6];
    let images = [
        "nginx:1.25.3",
        "nginx:latest",
        "registry.example.com/base/python:3.12.6",
        "registry.example.com/payments/api:2.4.1",
        "registry.example.com/base/postgres:16.4",
        "busybox",
        "ghcr.io/acme/api:v3.4.1",
    ];
    let ns = format!("team-{}", i % NAMESPACES);
    let secure = i.is_multiple_of(3);
    let pod = serde_json::json!({
        "metadata": {"labels": {"app": format!("app-{i}")}},
        "spec": {
            "automountServiceAccountToken": if secure { serde_json::json!(false) } else { serde_json::Value::Null },
            "securityContext": if secure { serde_json::json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}) } else { serde_json::json!({}) },
            "containers": [{
                "name": "main",
                "image": images[i % images.len()],
                "resources": if i.is_multiple_of(2) { serde_json::json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}) } else { serde_json::json!({}) },
                "readinessProbe": if !i.is_multiple_of(4) { serde_json::json!({"tcpSocket": {"port": 80}}) } else { serde_json::Value::Null },
                "securityContext": if i.is_multiple_of(7) { serde_json::json!({"privileged": true}) } else { serde_json::json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}) },
            }],
        }
    });
    let mut labels = BTreeMap::from([("app".to_string(), format!("app-{i}"))]);
    if !i.is_multiple_of(4) {
        labels.insert("team".into(), format!("t{}", i % NAMESPACES));
    }
    let meta = serde_json::json!({"name": format!("app-{i}"), "namespace": ns, "labels": labels});
    let doc = match kind {
        "CronJob" => {
            serde_json::json!({"metadata": meta, "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": pod}}}})
        }
        "Job" | "DaemonSet" => {
            serde_json::json!({"metadata": meta, "spec": {"selector": {}, "template": pod}})
        }
        _ => {
            serde_json::json!({"metadata": meta, "spec": {"replicas": 1 + i % 3, "selector": {}, "template": pod}})
        }
    };
    use k8s_openapi::api::{apps::v1::*, batch::v1::*};
    use plumbline::controller::stores::keep;
    match kind {
        "Deployment" => keep::workload(
            serde_json::from_value::<Deployment>(doc).unwrap(),
            sources,
            keep::deployment,
        ),
        "StatefulSet" => keep::workload(
            serde_json::from_value::<StatefulSet>(doc).unwrap(),
            sources,
            keep::stateful_set,
        ),
        "DaemonSet" => keep::workload(
            serde_json::from_value::<DaemonSet>(doc).unwrap(),
            sources,
            keep::daemon_set,
        ),
        "CronJob" => keep::workload(
            serde_json::from_value::<CronJob>(doc).unwrap(),
            sources,
            keep::cron_job,
        ),
        _ => keep::workload(
            serde_json::from_value::<Job>(doc).unwrap(),
            sources,
            keep::job,
        ),
    }
    .unwrap()
}

fn cluster(n: usize) -> Inputs {
    let ex = examples();
    let mut inputs = Inputs {
        standards: standards(&ex.standards),
        baselines: ex.baselines.clone(),
        workloads: (0..n).map(|i| std::sync::Arc::new(workload(i))).collect(),
        namespaces: (0..NAMESPACES)
            .map(|i| {
                let env = ["dev", "staging", "prod"][i % 3];
                Namespace::new(
                    format!("team-{i}"),
                    BTreeMap::from([("env".into(), env.into())]).into(),
                )
            })
            .collect(),
        ..Default::default()
    };
    // One ownership per team namespace, selecting the team's labelled workloads,
    // and one exception per namespace.
    let owner = &ex.ownerships[0];
    let exception = &ex.exceptions[0];
    for i in 0..NAMESPACES {
        let mut o = owner.clone();
        o.metadata.namespace = Some(format!("team-{i}"));
        o.spec.selector =
            serde_json::from_value(serde_json::json!({"matchLabels": {"team": format!("t{i}")}}))
                .unwrap();
        inputs.ownerships.push(o);
        let mut e = exception.clone();
        e.metadata.namespace = Some(format!("team-{i}"));
        e.spec.target.standard = Some(format!("standard-{}", i % 10));
        e.spec.target.rules = None;
        e.spec.workloads.names = Some(vec![
            serde_json::from_value(
                serde_json::json!({"kind": "Deployment", "name": format!("app-{}", i * 6)}),
            )
            .unwrap(),
        ]);
        inputs.exceptions.push(e);
    }
    inputs
}

fn bench(c: &mut Criterion) {
    let now: jiff::Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("engine/evaluate");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let inputs = cluster(n);
        let rules: usize = inputs.standards.iter().map(|s| s.spec.rules.len()).sum();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::new(
                format!("{} standards, {rules} rules", inputs.standards.len()),
                n,
            ),
            &inputs,
            |b, inputs| b.iter(|| evaluate(inputs, now)),
        );
    }
    group.finish();
}

/// What the operator does on a change: keep the verdicts a change cannot
/// affect. Each iteration alternates between two inputs that differ in one
/// object, so every pass sees exactly one change (cloning the inputs, which
/// the operator does when it snapshots its caches, is not timed).
fn incremental(c: &mut Criterion) {
    let now: jiff::Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("engine/incremental (10000 workloads)");
    group.sample_size(10);
    let base = cluster(10_000);
    type Change = fn(&mut Inputs);
    let changes: [(&str, Change); 4] = [
        ("nothing changed", |_| {}),
        ("one workload's image", |i| {
            std::sync::Arc::make_mut(&mut i.workloads[17])
                .pod
                .containers[0]
                .image = "nginx:1.27.4".into();
        }),
        ("one exception", |i| {
            i.exceptions[3].spec.justification.push_str(" (renewed)");
        }),
        ("one standard", |i| {
            i.standards[2].spec.rules.pop();
        }),
    ];
    for (name, change) in changes {
        let mut changed = base.clone();
        change(&mut changed);
        let mut cache = Incremental::new();
        cache.evaluate(base.clone(), now);
        let flip = std::cell::Cell::new(false);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    flip.set(!flip.get());
                    if flip.get() {
                        changed.clone()
                    } else {
                        base.clone()
                    }
                },
                |inputs| {
                    cache.evaluate(inputs, now);
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// The ten CEL rules of examples/13 on 10,000 workloads that keep their
/// objects (as the operator does while a CEL rule exists): what one
/// evaluation of a rule on a workload costs, activation included.
fn cel(c: &mut Criterion) {
    let now: jiff::Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("engine/cel");
    group.sample_size(10);
    let ex = examples();
    let mut custom = ex
        .standards
        .iter()
        .find(|s| s.spec.rules.iter().any(|r| r.cel.is_some()))
        .expect("examples/13 has CEL rules")
        .clone();
    custom.spec.match_ = Default::default();
    let rules = custom.spec.rules.len();
    let n = 10_000;
    let inputs = Inputs {
        standards: vec![custom],
        workloads: (0..n)
            .map(|i| std::sync::Arc::new(workload_kept(i, true)))
            .collect(),
        namespaces: (0..NAMESPACES)
            .map(|i| {
                Namespace::new(
                    format!("team-{i}"),
                    BTreeMap::from([("env".into(), ["dev", "prod"][i % 2].into())]).into(),
                )
            })
            .collect(),
        ..Default::default()
    };
    group.throughput(Throughput::Elements((n * rules) as u64));
    group.bench_with_input(
        BenchmarkId::new(format!("{rules} CEL rules"), n),
        &inputs,
        |b, inputs| b.iter(|| evaluate(inputs, now)),
    );
    group.finish();
}

criterion_group!(benches, bench, incremental, cel);
criterion_main!(benches);
