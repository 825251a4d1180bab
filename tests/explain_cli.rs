//! `plumbline explain` against the real local API server, as the people
//! who run it: an administrator, a developer with only the standards
//! reader's rights and the right to read the workload, someone with no
//! rights, a missing workload, an unknown kind, an unreachable server, and a
//! manifest explained before it is applied.

mod common;

use std::{path::Path, process::Command, time::Duration};

const FIXTURE: &str = "tests/fixtures/explain/cluster.yaml";
const NS: &str = "explain-shop";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn explain_with(kubeconfig: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .arg("explain")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("plumbline runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// The fixture's objects, with the rights every case below needs.
async fn setup() -> std::path::PathBuf {
    let admin = common::client().await;
    common::install_crds(&admin).await;
    // Enforcing standards other tests left (and their generated policies)
    // would refuse the fixture's Deployment; no operator runs here to make
    // new ones. The API server's policy informer may take a moment.
    common::operator::remove_other_enforcement(&admin, "explain-test").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut apply = common::kubectl();
        apply.args(["apply", "--server-side", "--field-manager", common::MANAGER]);
        for f in ["deploy/user-roles.yaml", FIXTURE] {
            apply.arg("-f").arg(common::repo_root().join(f));
        }
        let out = apply.output().expect("kubectl runs");
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "applying {FIXTURE}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // carol: the standards reader's ClusterRole, and get on this one
    // Deployment's kind in this namespace; nothing else.
    let rbac = format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: explain-carol-standards-reader}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plumbline-standards-reader}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: read-deployments, namespace: {NS}}}
rules: [{{apiGroups: [apps], resources: [deployments], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: carol-read-deployments, namespace: {NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-deployments}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}}]
"#
    );
    let out = common::kubectl_with_input(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            common::MANAGER,
            "-f",
            "-",
        ],
        rbac.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::controlplane_dir().join("kubeconfig")
}

/// The standard this test owns, from an explanation's JSON.
fn ours(e: &serde_json::Value) -> Vec<&serde_json::Value> {
    e["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["standard"] == "explain-test-standard")
        .collect()
}

#[tokio::test]
async fn an_administrator_sees_every_deviation_admission_exceptions_and_owner() {
    let admin = setup().await;
    let run = explain_with(&admin, &["-n", NS, "deployment/web"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let text = &run.stdout;
    for expected in [
        "Deployment explain-shop/web: deviating",
        "explain-test-standard (Enforce): Deviating",
        "explain-test-standard/run-as-non-root [refused at admission]",
        "set securityContext.runAsNonRoot: true",
        "the rule: Containers run as a non-root user.",
        "explain-test-standard/disruption-budget [checked in the background only: it needs the namespace's PodDisruptionBudgets",
        "web-tags (Pending, standard explain-test-standard, rules pinned-tags; requested by alice)",
        "Once approved, these would cover:\n  web-tags (requested by alice, until 2099-01-31T00:00:00Z): explain-test-standard/pinned-tags",
        "web (team storefront)",
        "First line: service-desk (#help-storefront)",
        "runbook: https://wiki.example.com/storefront/runbook",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
    assert!(!text.contains("Not considered"), "{text}");

    let e = json(&explain_with(
        &admin,
        &["-n", NS, "deploy/web", "-o", "json"],
    ));
    let rules: Vec<&str> = ours(&e)
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["run-as-non-root", "pinned-tags", "disruption-budget"]
    );
    assert_eq!(e["admission"]["refused"], true);
    assert_eq!(e["owner"]["state"], "Owned");
    assert!(e.get("notRead").is_none(), "{e:#}");
    // The same verdict the audit gives the same objects.
    let audit = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(["audit", FIXTURE, "--format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let audited: Vec<&str> = audit["workloads"][0]["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    let mut sorted = rules.clone();
    sorted.sort();
    let mut audited_sorted = audited.clone();
    audited_sorted.sort();
    assert_eq!(sorted, audited_sorted);
}

#[tokio::test]
async fn a_manifest_is_explained_against_the_live_standards_before_it_is_applied() {
    let admin = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("web.yaml");
    // No namespace: -n places it, as kubectl apply -n would.
    std::fs::write(
        &fixed,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      securityContext: {runAsNonRoot: true}\n      containers: [{name: web, image: 'registry.example.com/storefront/web:2.4.1'}]\n",
    )
    .unwrap();
    let e = json(&explain_with(
        &admin,
        &["-n", NS, "-f", fixed.to_str().unwrap(), "-o", "json"],
    ));
    let e = &e.as_array().expect("-f gives one explanation per workload")[0];
    assert_eq!(e["namespace"], NS);
    let rules: Vec<&str> = ours(e)
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["disruption-budget"], "{e:#}");
    assert_eq!(e["admission"]["refused"], false, "{e:#}");
    // Nothing was applied: the cluster's web still runs `latest`.
    let live = json(&explain_with(
        &admin,
        &["-n", NS, "deployment/web", "-o", "json"],
    ));
    assert_eq!(ours(&live).len(), 3);
}

#[tokio::test]
async fn the_standards_readers_rights_and_the_workload_are_enough() {
    setup().await;
    let carol = common::kubeconfig_as("carol");
    // RBAC may take a moment to see the new bindings.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let run = loop {
        let run = explain_with(&carol, &["-n", NS, "deployment/web"]);
        if run.code == Some(0) || std::time::Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let text = &run.stdout;
    // The namespace's labels are read (the standard matches by them) ...
    assert!(
        text.contains("explain-test-standard (Enforce): Deviating"),
        "{text}"
    );
    assert!(text.contains("[refused at admission]"), "{text}");
    // ... and what carol may not read is named, not silently left out.
    for expected in [
        "Not considered (you may not read them):\n",
        "\n  the StandardExceptions of explain-shop, so no exception covers anything here\n",
        "\n  the ServiceOwnerships of explain-shop, so the owner is unknown",
        "\n  the PodDisruptionBudgets of explain-shop, so none is found to cover it\n",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    assert!(!text.contains("labels, so namespace selectors"), "{text}");
}

#[tokio::test]
async fn bad_requests_get_a_clear_message_and_exit_2() {
    let admin = setup().await;
    let no_trace = |run: &Run| {
        assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
            "{}",
            run.stderr
        );
        run.stderr.clone()
    };
    let unknown = no_trace(&explain_with(&admin, &["-n", NS, "service/web"]));
    assert!(
        unknown.contains("`service` is not a kind plumbline judges"),
        "{unknown}"
    );
    let missing = no_trace(&explain_with(&admin, &["-n", NS, "deployment/nope"]));
    assert!(
        missing.contains("Deployment explain-shop/nope was not found"),
        "{missing}"
    );
    // dave holds no rights at all.
    let dave = common::kubeconfig_as("dave");
    let forbidden = no_trace(&explain_with(&dave, &["-n", NS, "deployment/web"]));
    assert!(
        forbidden.contains("you may not read Deployment explain-shop/web"),
        "{forbidden}"
    );
    // A server nobody listens on.
    let text = std::fs::read_to_string(&admin).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("a server line");
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("kubeconfig");
    std::fs::write(&gone, text.replace(server, "https://127.0.0.1:1")).unwrap();
    let unreachable = no_trace(&explain_with(&gone, &["-n", NS, "deployment/web"]));
    assert!(
        unreachable.contains("cannot reach the cluster: https://127.0.0.1:1/")
            && unreachable.contains("Connection refused"),
        "{unreachable}"
    );
    // A kubeconfig that is not one.
    std::fs::write(&gone, "not: [a kubeconfig").unwrap();
    let broken = no_trace(&explain_with(&gone, &["-n", NS, "deployment/web"]));
    assert!(broken.contains("cannot reach the cluster"), "{broken}");
    // A manifest that is not YAML, and one without workloads.
    std::fs::write(dir.path().join("bad.yaml"), "kind: [unclosed\n").unwrap();
    let bad = no_trace(&explain_with(
        &admin,
        &["-f", dir.path().join("bad.yaml").to_str().unwrap()],
    ));
    assert!(bad.contains("bad.yaml:1"), "{bad}");
    std::fs::write(
        dir.path().join("svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
    )
    .unwrap();
    let none = no_trace(&explain_with(
        &admin,
        &["-f", dir.path().join("svc.yaml").to_str().unwrap()],
    ));
    assert!(
        none.contains("holds no workload plumbline judges"),
        "{none}"
    );
}

#[tokio::test]
async fn a_manifests_own_objects_count_and_names_land_where_kubectl_puts_them() {
    let admin = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("web.yaml");
    // The same web, with the PodDisruptionBudget the standard asks for, an
    // empty namespace (placed by -n, as kubectl does) and a standard that
    // explain does not apply.
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: '', labels: {app: web}}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: 'registry.example.com/storefront/web:latest'}]\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}\n---\napiVersion: plumbline.dev/v1alpha1\nkind: InfrastructureStandard\nmetadata: {name: not-applied}\nspec:\n  rules: [{id: r, severity: Low, description: d, probes: {liveness: true}}]\n",
    )
    .unwrap();
    let e = json(&explain_with(
        &admin,
        &["-n", NS, "-f", manifest.to_str().unwrap(), "-o", "json"],
    ));
    let e = &e[0];
    assert_eq!(e["namespace"], NS);
    let rules: Vec<&str> = ours(e)
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["run-as-non-root", "pinned-tags"],
        "the manifest's budget covers it: {e:#}"
    );
    let notes = e["notes"].as_array().expect("a note on the standard");
    assert!(
        notes[0].as_str().unwrap().contains("not applied"),
        "{notes:?}"
    );
    // kubectl's spellings with their group; a wrong group is no such kind.
    let run = explain_with(&admin, &["-n", NS, "deployments.apps/web", "-o", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let run = explain_with(&admin, &["-n", NS, "deployments.batch/web"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("is not a kind plumbline judges"),
        "{}",
        run.stderr
    );
    // The operator's own namespace is never judged at admission.
    let e = json(&explain_with(
        &admin,
        &[
            "-n",
            NS,
            "deployment/web",
            "-o",
            "json",
            "--operator-namespace",
            NS,
        ],
    ));
    assert_eq!(e["admission"]["refused"], false);
    assert!(
        e["admission"]["exempt"].as_str().unwrap().contains(NS),
        "{e:#}"
    );
}

#[tokio::test]
async fn a_pod_of_a_replicaset_of_a_deployment_points_at_the_deployment() {
    let kubeconfig = setup().await;
    let client = common::client().await;
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), NS);
    let web = deployments.get("web").await.unwrap();
    let _ = common::kubectl()
        .args(["-n", NS, "create", "serviceaccount", "default"])
        .output();
    let owned = |kind: &str, name: &str, uid: &str| serde_json::json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}]);
    let rs = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8f", "namespace": NS, "labels": {"app": "web"},
            "ownerReferences": owned("Deployment", "web", web.metadata.uid.as_deref().unwrap())},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example.com/storefront/web:latest"}]}}}
    });
    let sets: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        kube::Api::namespaced(client.clone(), NS);
    let pp = kube::api::PatchParams::apply(common::MANAGER).force();
    let rs = sets
        .patch("web-5d8f", &pp, &kube::api::Patch::Apply(&rs))
        .await
        .unwrap();
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-5d8f-x1", "namespace": NS, "labels": {"app": "web"},
            "ownerReferences": owned("ReplicaSet", "web-5d8f", rs.metadata.uid.as_deref().unwrap())},
        "spec": {"containers": [{"name": "web", "image": "registry.example.com/storefront/web:latest"}]}
    });
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), NS);
    pods.patch("web-5d8f-x1", &pp, &kube::api::Patch::Apply(&pod))
        .await
        .unwrap();
    for target in ["pod/web-5d8f-x1", "rs/web-5d8f"] {
        let run = explain_with(&kubeconfig, &["-n", NS, target]);
        assert_eq!(run.code, Some(2), "{target}: {}", run.stdout);
        assert!(
            run.stderr.contains("is not judged itself: Deployment/web is (plumbline explain -n explain-shop deployment/web)"),
            "{target}: {}",
            run.stderr
        );
    }
}
