//! The Helm chart and the kustomizations, with the real tools: helm built
//! from its Go module (tests/helm/build.sh), kubectl's kustomize, and the
//! local API server's server-side dry run.

mod common;

use std::process::Command;

use common::helm::{documents, helm, template, template_with, text};
use serde_json::Value;

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

#[test]
fn helm_lint_passes_with_the_defaults_and_every_option() {
    let out = helm(&["lint", "--strict", "charts/plumbline"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = helm(&[
        "lint",
        "--strict",
        "charts/plumbline",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "operator.namespaces={team-a,team-b}",
        "--set",
        "operator.kubeApiQps=20",
        "--set",
        "operator.replicas=1",
        "--set",
        "operator.leaderElect=false",
        "--set",
        "dashboard.enabled=true",
        "--set",
        "alerts.enabled=true",
        "--set",
        "grafanaDashboard.enabled=true",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_default_render_is_deploy_operator_yaml() {
    // The chart and the plain manifests must not drift apart.
    let out = template(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let rendered = documents(&String::from_utf8_lossy(&out.stdout));
    let plain = common::documents(&common::repo_root().join("deploy/operator.yaml"));
    for doc in &plain {
        let kind = doc["kind"].as_str().unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap();
        let mut chart = find(&rendered, kind, name).clone();
        // Helm's own labels are the only difference.
        if let Some(labels) = chart["metadata"]["labels"].as_object_mut() {
            labels.remove("app.kubernetes.io/instance");
            labels.remove("app.kubernetes.io/version");
        }
        let mut doc = doc.clone();
        // The plain manifest pins the image the chart takes from appVersion.
        let image = "/spec/template/spec/containers/0/image";
        if let (Some(a), Some(b)) = (chart.pointer(image), doc.pointer(image)) {
            assert_eq!(a, b, "image of {kind} {name}");
            *doc.pointer_mut(image).unwrap() = Value::Null;
            *chart.pointer_mut(image).unwrap() = Value::Null;
        }
        assert_eq!(
            chart, doc,
            "{kind} {name}: the chart's default render differs from deploy/operator.yaml"
        );
    }
}

#[test]
fn values_reach_the_operator() {
    let out = template(&[
        "operator.namespaces={team-a,team-b}",
        "operator.kubeApiQps=20",
        "operator.logFormat=text",
        "operator.logLevel=plumbline=debug",
        "operator.replicas=1",
        "operator.leaderElect=false",
        "metrics.port=9090",
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prometheus",
        "dashboard.enabled=true",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let docs = documents(&String::from_utf8_lossy(&out.stdout));
    let deployment = find(&docs, "Deployment", "plumbline");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for want in [
        "--namespaces=team-a,team-b",
        "--kube-api-qps=20",
        "--log-format=text",
        "--metrics-addr=0.0.0.0:9090",
        // The dashboard on the Pod's loopback only, and no Service for it.
        "--dashboard-addr=127.0.0.1:8081",
    ] {
        assert!(args.contains(&want), "{want} not in {args:?}");
    }
    assert!(!args.contains(&"--leader-elect"), "{args:?}");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(container["ports"][0]["containerPort"], 9090);
    let env = container["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "PLUMBLINE_LOG" && e["value"] == "plumbline=debug"),
        "{env:?}"
    );
    let monitor = find(&docs, "ServiceMonitor", "plumbline");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    // One replica: no PodDisruptionBudget that would block every drain.
    assert!(
        !docs.iter().any(|d| d["kind"] == "PodDisruptionBudget"),
        "a PodDisruptionBudget for one replica"
    );
}

/// An IPv6 loopback is written with brackets, as a socket address needs.
#[test]
fn the_dashboard_listens_where_the_values_say() {
    for (listen, want) in [
        ("127.0.0.1", "--dashboard-addr=127.0.0.1:8081"),
        ("::1", "--dashboard-addr=[::1]:8081"),
        ("0.0.0.0", "--dashboard-addr=0.0.0.0:8081"),
    ] {
        let set = format!("dashboard.listen={listen}");
        let out = template(&["dashboard.enabled=true", &set]);
        assert!(out.status.success(), "{}", text(&out));
        let docs = documents(&String::from_utf8_lossy(&out.stdout));
        let args = find(&docs, "Deployment", "plumbline")["spec"]["template"]["spec"]["containers"]
            [0]["args"]
            .clone();
        assert!(
            args.as_array().unwrap().iter().any(|a| a == want),
            "{listen}: {args}"
        );
        // No Service exposes it.
        let services: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Service").collect();
        for s in services {
            assert!(
                s["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p["port"] != 8081),
                "{s}"
            );
        }
    }
}

#[test]
fn wrong_values_are_refused_with_what_to_fix() {
    for (set, expect) in [
        ("operator.logFormat=xml", vec!["logFormat", "text", "json"]),
        ("operator.replica=3", vec!["replica"]),
        ("operator.resync=ten minutes", vec!["resync"]),
        ("metrics.port=0", vec!["port"]),
        (
            "operator.maxConcurrentWrites=0",
            vec!["maxConcurrentWrites"],
        ),
        ("operator.image.pullPolicy=Sometimes", vec!["pullPolicy"]),
        ("operator.namespaces={Team_A}", vec!["namespaces"]),
        ("metrics.serviceMonitor.enable=true", vec!["enable"]),
        ("dashboard.listen=10.0.0.1", vec!["listen"]),
        ("dashboard.port=0", vec!["port"]),
    ] {
        let out = template(&[set]);
        let message = text(&out);
        assert!(!out.status.success(), "{set} was accepted");
        for word in expect {
            assert!(message.contains(word), "{set}: {message}");
        }
    }
    // Several replicas without leader election would all write.
    let out = template(&["operator.leaderElect=false"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("needs operator.leaderElect: true"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn the_api_server_accepts_the_chart_and_the_kustomizations() {
    let client = common::client().await;
    common::install_crds(&client).await;
    common::kubectl_apply(&["deploy/namespace.yaml"]);

    // The chart, CRDs included, with the defaults.
    let out = template_with(&[], &["--include-crds"]);
    assert!(out.status.success(), "{}", text(&out));
    let applied = common::server_dry_run(&out.stdout);
    assert!(applied.status.success(), "{}", text(&applied));
    let kinds = String::from_utf8_lossy(&applied.stdout);
    for want in [
        "customresourcedefinition.apiextensions.k8s.io/infrastructurestandards.plumbline.dev",
        "deployment.apps/plumbline",
        "validatingadmissionpolicy.admissionregistration.k8s.io/",
        "clusterrole.rbac.authorization.k8s.io/plumbline-operator",
    ] {
        assert!(kinds.contains(want), "{want} not applied: {kinds}");
    }

    // kustomize: deploy/ as kubectl builds it, and the Argo CD checks into
    // an argocd namespace.
    for (dir, namespace) in [("deploy", None), ("deploy/argocd", Some("argocd"))] {
        if let Some(ns) = namespace {
            let _ = common::kubectl()
                .args(["create", "namespace", ns])
                .output()
                .unwrap();
        }
        let applied = common::server_dry_run(&common::kustomize(dir));
        assert!(applied.status.success(), "{dir}: {}", text(&applied));
    }
}

#[tokio::test]
async fn the_argocd_value_installs_checks_that_argo_cd_reads_and_merges_into_its_configmap() {
    // Rendered by the chart...
    let out = template_with(
        &[
            "argocd.healthChecks.enabled=true",
            "argocd.namespace=gitops-tools",
        ],
        &["--show-only", "templates/argocd-health.yaml"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rendered = common::repo_root().join("target/argocd-cm-from-chart.yaml");
    std::fs::write(&rendered, &out.stdout).unwrap();
    let cm = &documents(&String::from_utf8_lossy(&out.stdout))[0];
    assert_eq!(cm["metadata"]["namespace"], "gitops-tools");
    assert_eq!(
        cm["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
        "helm uninstall must not delete Argo CD's argocd-cm"
    );
    // ...read by Argo CD's settings code, every fixture passes.
    let health = common::go_tool("health");
    let run = Command::new(&health)
        .args(["argocd-tests", "-configmap"])
        .arg(&rendered)
        .arg(common::repo_root().join("deploy/argocd"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));

    // Server-side apply merges the keys into an existing argocd-cm and
    // leaves Argo CD's own settings alone.
    let _client = common::client().await;
    let _ = common::kubectl()
        .args(["create", "namespace", "gitops-tools"])
        .output()
        .unwrap();
    let existing = r#"{"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "gitops-tools",
                     "labels": {"app.kubernetes.io/part-of": "argocd"}},
        "data": {"url": "https://argocd.example.com", "timeout.reconciliation": "180s"}}"#;
    let created = common::kubectl_with_input(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "argocd-install",
            "-f",
            "-",
        ],
        existing.as_bytes(),
    );
    assert!(created.status.success(), "{}", text(&created));
    let merged = common::kubectl()
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            "plumbline",
            "-f",
        ])
        .arg(&rendered)
        .output()
        .unwrap();
    assert!(merged.status.success(), "{}", text(&merged));
    let live = common::kubectl()
        .args([
            "get",
            "configmap",
            "argocd-cm",
            "-n",
            "gitops-tools",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let live: Value = serde_json::from_slice(&live.stdout).unwrap();
    let data = live["data"].as_object().unwrap();
    assert_eq!(data["url"], "https://argocd.example.com", "{data:?}");
    assert_eq!(data["timeout.reconciliation"], "180s");
    for (kind, _) in plumbline::api::crds() {
        assert!(
            data.contains_key(&format!(
                "resource.customizations.health.plumbline.dev_{kind}"
            )),
            "{kind} missing from the merged argocd-cm"
        );
    }
}
