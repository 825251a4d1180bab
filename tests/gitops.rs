//! GitOps tools read plumbline's health right, with their own code: kstatus
//! (`sigs.k8s.io/cli-utils`, what Flux waits with) and Argo CD's Lua health
//! runner (`argo-cd/v3/util/lua`, with the checks as Argo CD's settings code
//! reads them from deploy/argocd/argocd-cm.yaml), both built from their Go
//! modules by tests/health/build.sh. The mapping they are held to is the one
//! docs/operator.md ("Health") promises.

mod common;

use std::process::Command;

use common::operator::*;
use kube::{
    Api,
    api::{DynamicObject, GroupVersionKind},
    discovery::ApiResource,
};
use plumbline::api::{InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException};
use serde_json::{Value, json};

fn health_program() -> std::path::PathBuf {
    common::go_tool("health")
}

/// The names of plumbline's kinds.
fn kinds() -> Vec<&'static str> {
    plumbline::api::crds()
        .into_iter()
        .map(|(kind, _)| kind)
        .collect()
}

/// Runs the health program on objects; (status, message) per object.
fn health(command: &str, objects: &[Value]) -> Vec<(String, String)> {
    let mut args = vec![command.to_string()];
    if command == "argocd" {
        args.push("-configmap".into());
        args.push(
            common::repo_root()
                .join("deploy/argocd/argocd-cm.yaml")
                .display()
                .to_string(),
        );
    }
    let mut program = Command::new(health_program());
    program.args(&args);
    let out = common::run_with_input(program, serde_json::to_string(objects).unwrap().as_bytes());
    assert!(
        out.status.success(),
        "health {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap().to_string(),
                r["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn argo_cd_runs_every_health_check_against_its_fixtures() {
    // Argo CD's convention: deploy/argocd/<group>/<Kind>/health_test.yaml
    // with testdata/, run through Argo CD's own code with the libraries it
    // opens in production (no `string` library without useOpenLibs).
    let root = common::repo_root();
    let out = Command::new(health_program())
        .args(["argocd-tests", "-configmap"])
        .arg(root.join("deploy/argocd/argocd-cm.yaml"))
        .arg(root.join("deploy/argocd"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every kind has its checks, each state its fixture.
    for kind in kinds() {
        assert!(
            stdout.contains(&format!("plumbline.dev/{kind}/testdata/")),
            "no fixture ran for {kind}: {stdout}"
        );
    }
    for state in [
        "StandardException/testdata/pending.yaml: Progressing",
        "StandardException/testdata/active.yaml: Healthy",
        "StandardException/testdata/stale.yaml: Healthy",
        "StandardException/testdata/expiring-soon.yaml: Healthy",
        "StandardException/testdata/expired.yaml: Degraded",
        "StandardException/testdata/invalid.yaml: Degraded",
        "InfrastructureStandard/testdata/review-required.yaml: Healthy",
        "InfrastructureStandard/testdata/invalid.yaml: Degraded",
        "InfrastructureStandard/testdata/review-due.yaml: Healthy",
        "InfrastructureStandard/testdata/retired.yaml: Healthy",
        "InfrastructureStandard/testdata/invalid-successor.yaml: Degraded",
        "StandardReview/testdata/current.yaml: Healthy",
        "StandardReview/testdata/unknown-standard.yaml: Progressing",
        "ComplianceReport/testdata/deviating.yaml: Degraded",
        "ServiceOwnership/testdata/incomplete.yaml: Degraded",
    ] {
        assert!(stdout.contains(state), "{state} not checked: {stdout}");
    }
}

#[test]
fn the_argocd_configmap_is_generated_from_the_lua_files() {
    let out = Command::new("python3")
        .arg(common::repo_root().join("scripts/argocd-cm.py"))
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every object, as the API server serves it now (untyped: what the tools
/// read is the JSON itself).
async fn live(admin: &kube::Client, refs: &[(&str, Option<&str>, &str)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (kind, namespace, name) in refs {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("plumbline.dev", "v1alpha1", kind),
            &format!("{}s", kind.to_ascii_lowercase()),
        );
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(admin.clone(), ns, &resource),
            None => Api::all_with(admin.clone(), &resource),
        };
        let object = api
            .get(name)
            .await
            .unwrap_or_else(|err| panic!("{kind} {name}: {err}"));
        out.push(serde_json::to_value(object).unwrap());
    }
    out
}

#[tokio::test]
async fn every_kind_reads_right_to_kstatus_and_argo_cd_on_the_live_api_server() {
    let admin = common::client().await;
    setup(&admin, "gitops").await;
    let ns = unique("gitops");
    namespace(&admin, &ns, json!({"env": "prod"})).await;
    let standard = format!("{ns}-replicas");
    let broken = format!("{ns}-broken");
    let baseline = format!("{ns}-images");

    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    let baselines: Api<PatchBaseline> = Api::all(admin.clone());
    let ownerships: Api<ServiceOwnership> = Api::namespaced(admin.clone(), &ns);
    let exceptions: Api<StandardException> = Api::namespaced(admin.clone(), &ns);

    // Applied before the operator runs, as a GitOps sync does on a cluster
    // where plumbline has not looked yet.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(admin.clone(), &ns);
    apply(&deployments, "web", workload(&ns, "web", "nginx:1.27.3", 1)).await;
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    apply(&standards, &broken, broken_standard(&broken, &ns)).await;
    apply(
        &baselines,
        &baseline,
        json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "PatchBaseline",
            "metadata": {"name": baseline},
            "spec": {
                "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": ns}}},
                "images": [{"repository": "nginx", "minimumVersion": "1.27.3",
                            "effectiveFrom": "2026-01-01T00:00:00Z"}],
            }
        }),
    )
    .await;
    apply(
        &ownerships,
        "web",
        json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "ServiceOwnership",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "team": "web",
                     "maintainers": [{"name": "Lee Wong"}]}
        }),
    )
    .await;
    let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 60))
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string();
    for (name, approved) in [("pending", false), ("approved", true)] {
        let mut spec = json!({
            "target": {"standard": standard},
            "workloads": {"names": [{"kind": "Deployment", "name": "web"}]},
            "justification": "One replica until the migration.",
            "requestedBy": "alice",
            "expiresAt": expires,
        });
        if approved {
            spec["approvedBy"] = json!("bob");
        }
        apply(
            &exceptions,
            name,
            json!({"apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardException",
                   "metadata": {"name": name, "namespace": ns}, "spec": spec}),
        )
        .await;
    }
    let review = format!("{ns}-review");
    let reviews: Api<plumbline::api::StandardReview> = Api::all(admin.clone());
    apply(
        &reviews,
        &review,
        json!({"apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardReview",
               "metadata": {"name": review},
               "spec": {"standard": standard, "outcome": "Keep", "reviewedBy": "carol",
                        "summary": "Reviewed in the repository."}}),
    )
    .await;
    let objects: Vec<(&str, Option<&str>, &str)> = vec![
        ("InfrastructureStandard", None, &standard),
        ("InfrastructureStandard", None, &broken),
        ("PatchBaseline", None, &baseline),
        ("ServiceOwnership", Some(&ns), "web"),
        ("StandardException", Some(&ns), "pending"),
        ("StandardException", Some(&ns), "approved"),
        ("StandardReview", None, &review),
    ];

    // Not evaluated yet: in progress to both (the CRDs default
    // status.observedGeneration to 0; without it kstatus says Current).
    let before = live(&admin, &objects).await;
    for ((kind, _, name), (k, a)) in objects.iter().zip(
        health("kstatus", &before)
            .into_iter()
            .zip(health("argocd", &before)),
    ) {
        assert_eq!(k.0, "InProgress", "kstatus, {kind} {name}: {k:?}");
        assert_eq!(a.0, "Progressing", "Argo CD, {kind} {name}: {a:?}");
    }

    // Evaluated: what docs/operator.md promises, per object.
    let operator = Operator::start("gitops", &[]);
    let log = operator.log.clone();
    let evaluated = eventually(
        "every object evaluated",
        &log,
        || live(&admin, &objects),
        |all| {
            all.iter().all(|o| {
                o["status"]["observedGeneration"] == o["metadata"]["generation"]
                    && o["status"]["conditions"]
                        .as_array()
                        .is_some_and(|c| !c.is_empty())
            })
        },
    )
    .await;
    let kstatus = health("kstatus", &evaluated);
    let argocd = health("argocd", &evaluated);
    let expected = [
        ("Current", "Healthy"),
        ("Failed", "Degraded"),
        ("Current", "Healthy"),
        // Incomplete (one maintainer, no support lines...): a steady state
        // for Flux, something for the team to fix for Argo CD.
        ("Current", "Degraded"),
        // Awaiting approval holds no Flux wait; Argo CD shows it in progress.
        ("Current", "Progressing"),
        ("Current", "Healthy"),
        // A review is Healthy once recorded.
        ("Current", "Healthy"),
    ];
    for (((kind, _, name), want), (k, a)) in objects
        .iter()
        .zip(expected)
        .zip(kstatus.iter().zip(&argocd))
    {
        assert_eq!(
            (k.0.as_str(), a.0.as_str()),
            want,
            "{kind} {name}: kstatus {k:?}, Argo CD {a:?}"
        );
    }
    // Failed says what to fix.
    assert!(kstatus[1].1.contains("valuePattern"), "{:?}", kstatus[1]);
    assert!(argocd[1].1.contains("valuePattern"), "{:?}", argocd[1]);
    assert!(
        argocd[4].1.starts_with("Awaiting approval"),
        "{:?}",
        argocd[4]
    );

    // The workload's report: Current to kstatus (nothing to wait for); to
    // Argo CD Healthy exactly when it complies (or is excepted), is owned
    // and no image is overdue. (Standards of other tests' or the examples'
    // may apply to this namespace too, so the expectation is read off the
    // report's own conditions.)
    let report = eventually(
        "the report is written",
        &log,
        || async { live(&admin, &[("ComplianceReport", Some(&ns), "deployment-web")]).await },
        |r| r[0]["status"]["conditions"].is_array(),
    )
    .await;
    assert_eq!(health("kstatus", &report)[0].0, "Current");
    let of = |t: &str| {
        report[0]["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no {t} condition: {report:#?}"))
    };
    let healthy = of("Compliant")["status"] == "True"
        && of("Owned")["status"] == "True"
        && of("PatchCurrent")["reason"] != "Overdue";
    let report_health = &health("argocd", &report)[0];
    assert_eq!(
        report_health.0,
        if healthy { "Healthy" } else { "Degraded" },
        "{report_health:?} for {report:#?}"
    );
    // The approved exception covers this test's rule.
    let excepted = report[0]["status"]["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["standard"] == standard.as_str())
        .unwrap_or_else(|| panic!("no deviation from {standard}: {report:#?}"));
    assert_eq!(excepted["excepted"][0]["exception"], "approved");

    // A new generation the operator has not seen: in progress again.
    operator.terminate();
    let mut changed = replicas_standard(&standard, &ns);
    changed["spec"]["rules"][0]["description"] = json!("Two replicas, at least.");
    apply(&standards, &standard, changed).await;
    let lagging = live(&admin, &objects[..1]).await;
    assert_eq!(health("kstatus", &lagging)[0].0, "InProgress");
    assert_eq!(health("argocd", &lagging)[0].0, "Progressing");

    for name in [&standard, &broken] {
        let _ = standards.delete(name, &Default::default()).await;
    }
    let _ = baselines.delete(&baseline, &Default::default()).await;
}

/// `plumbline audit` on one team's folder with the platform's standards, as
/// examples/gitops/ci runs it: exit code and the JSON report.
fn audit_team(team: &str) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(["audit"])
        .arg(format!("examples/gitops/teams/{team}"))
        .args([
            "--standards",
            "examples/gitops/platform",
            "--fail-on",
            "high",
            "--format",
            "json",
            "--at",
            "2026-11-24T12:00:00Z",
        ])
        .current_dir(common::repo_root())
        .output()
        .expect("plumbline runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "audit of {team}: {err}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// The open (not excepted) deviations of a workload in an audit report, as
/// `standard/rule` with their severity.
fn open_deviations(report: &Value, workload: &str) -> Vec<(String, String)> {
    let w = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == workload)
        .unwrap_or_else(|| panic!("{workload} not audited: {report:#}"));
    w["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d.get("exception").is_none())
        .map(|d| {
            (
                format!(
                    "{}/{}",
                    d["standard"].as_str().unwrap(),
                    d["rule"].as_str().unwrap()
                ),
                d["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_platform_repository_audits_as_its_readme_says() {
    // payments passes --fail-on high: its ledger's one replica is excepted.
    let (code, payments) = audit_team("payments");
    assert_eq!(code, Some(0), "{payments:#}");
    assert!(open_deviations(&payments, "payments-api").is_empty());
    assert!(open_deviations(&payments, "payments-ledger").is_empty());
    let ledger = payments["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "payments-ledger")
        .unwrap();
    assert!(
        ledger["deviations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["rule"] == "min-replicas" && d["exception"] == "ledger-single-replica"),
        "{ledger:#}"
    );
    assert_eq!(ledger["patch"]["state"], "Behind");

    // search fails it: 9 open deviations, 3 High; its probes are excepted.
    let (code, search) = audit_team("search");
    assert_eq!(code, Some(1), "{search:#}");
    let open = open_deviations(&search, "search-frontend");
    assert_eq!(open.len(), 9, "{open:?}");
    let mut high: Vec<&str> = open
        .iter()
        .filter(|(_, s)| s == "High")
        .map(|(r, _)| r.as_str())
        .collect();
    high.sort_unstable();
    assert_eq!(
        high,
        [
            "baseline-security/no-privilege-escalation",
            "baseline-security/run-as-non-root",
            "ownership/owned"
        ]
    );
    assert!(!open.iter().any(|(r, _)| r == "production-readiness/probes"));
}

#[test]
fn the_platform_repository_points_its_gitops_objects_at_folders_that_exist() {
    let root = common::repo_root();
    let clusters = root.join("examples/gitops/clusters/production");
    let mut paths = Vec::new();
    for file in common::yaml_files(&clusters) {
        for doc in common::documents(&file) {
            // Argo CD Application, Flux Kustomization.
            for pointer in ["/spec/source/path", "/spec/path"] {
                if let Some(p) = doc.pointer(pointer).and_then(Value::as_str) {
                    paths.push(p.trim_start_matches("./").to_string());
                }
            }
            // The ApplicationSet's git directory generator.
            if let Some(dirs) = doc.pointer("/spec/generators/0/git/directories") {
                for d in dirs.as_array().unwrap() {
                    let pattern = d["path"].as_str().unwrap();
                    let parent = pattern.trim_end_matches("/*");
                    assert!(
                        root.join(parent).is_dir(),
                        "{}: {pattern} matches nothing",
                        file.display()
                    );
                    paths.push(parent.to_string());
                }
            }
        }
    }
    for expected in [
        "examples/gitops/platform",
        "examples/gitops/platform/exceptions",
        "examples/gitops/platform/reviews",
        "examples/gitops/teams/payments",
        "examples/gitops/teams/search",
        "examples/gitops/teams",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "nothing applies {expected}: {paths:?}"
        );
    }
    for p in &paths {
        assert!(root.join(p).is_dir(), "{p} does not exist");
    }
    // Approvals come from the platform's path, never from a team's own folder.
    for file in common::yaml_files(&root.join("examples/gitops/teams")) {
        for doc in common::documents(&file) {
            assert!(
                doc.pointer("/spec/approvedBy").is_none(),
                "{}: a team's folder must not approve its own exceptions",
                file.display()
            );
        }
    }
    // The CI examples run the audit the README describes.
    for (file, format) in [
        ("examples/gitops/ci/github-actions.yaml", "sarif"),
        ("examples/gitops/ci/gitlab-ci.yml", "junit"),
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let _: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        for want in [
            "--standards examples/gitops/platform",
            "--fail-on high",
            &format!("--format {format}"),
        ] {
            assert!(text.contains(want), "{file} lacks {want}");
        }
    }
}

#[tokio::test]
async fn the_platform_repository_applies_to_the_api_server() {
    let client = common::client().await;
    common::install_crds(&client).await;
    // The teams' namespaces exist first, as their Applications create them.
    for team in ["payments", "search"] {
        common::kubectl_apply(&[&format!("examples/gitops/teams/{team}/namespace.yaml")]);
    }
    for dir in [
        "examples/gitops/platform",
        "examples/gitops/platform/exceptions",
        "examples/gitops/platform/reviews",
        "examples/gitops/teams/payments",
        "examples/gitops/teams/search",
    ] {
        let applied = common::server_dry_run(&common::kustomize(dir));
        assert!(
            applied.status.success(),
            "{dir} was refused: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }
}

#[test]
fn kstatus_reads_every_fixture_as_documented() {
    // docs/operator.md ("Health"): what Flux's kstatus makes of each state,
    // on the same fixtures Argo CD's checks are tested with.
    let expected: &[(&str, &[(&str, &str)])] = &[
        (
            "InfrastructureStandard",
            &[
                ("not-evaluated", "InProgress"),
                ("generation-lags", "InProgress"),
                ("healthy", "Current"),
                ("invalid", "Failed"),
                ("review-required", "Current"),
                ("policy-refused", "Current"),
                ("reviewed", "Current"),
                // A review due is the platform team's to act on: no Flux
                // wait fails or hangs on it.
                ("review-due", "Current"),
                ("deprecated", "Current"),
                ("retired", "Current"),
                ("invalid-successor", "Failed"),
            ],
        ),
        (
            "StandardReview",
            &[
                ("not-evaluated", "InProgress"),
                ("current", "Current"),
                ("superseded", "Current"),
                // The standard may be on its way: a wait goes on.
                ("unknown-standard", "InProgress"),
            ],
        ),
        (
            "StandardException",
            &[
                ("not-evaluated", "InProgress"),
                ("generation-lags", "InProgress"),
                ("pending", "Current"),
                ("active", "Current"),
                ("expiring-soon", "Current"),
                ("stale", "Current"),
                ("expired", "Current"),
                ("invalid", "Failed"),
                // The workload may be on its way: a wait goes on.
                ("selects-nothing", "InProgress"),
            ],
        ),
        (
            "PatchBaseline",
            &[
                ("not-evaluated", "InProgress"),
                ("generation-lags", "InProgress"),
                ("healthy", "Current"),
                ("overdue", "Current"),
                ("invalid", "Failed"),
            ],
        ),
        (
            "ServiceOwnership",
            &[
                ("not-evaluated", "InProgress"),
                ("generation-lags", "InProgress"),
                ("complete", "Current"),
                ("incomplete", "Current"),
                ("conflict", "Current"),
                ("invalid", "Failed"),
            ],
        ),
        (
            "ComplianceReport",
            &[
                ("compliant", "Current"),
                ("excepted", "Current"),
                ("deviating", "Current"),
                ("overdue", "Current"),
                ("behind", "Current"),
                ("orphan", "Current"),
            ],
        ),
    ];
    let dir = common::repo_root().join("deploy/argocd/plumbline.dev");
    for (kind, states) in expected {
        let objects: Vec<Value> = states
            .iter()
            .map(|(state, _)| {
                let path = dir.join(format!("{kind}/testdata/{state}.yaml"));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .collect();
        for ((state, want), (got, message)) in states.iter().zip(health("kstatus", &objects)) {
            assert_eq!(&got, want, "{kind} {state}: kstatus says {got}: {message}");
        }
    }
}
