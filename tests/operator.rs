//! `plumbline run` against the real local API server, with exactly the
//! rights deploy/rbac.yaml grants it: reports appear, flip when workloads
//! are fixed, honour exceptions until the instant they expire, disappear with
//! their workload, and a quiet cluster causes no writes.

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams},
};
use plumbline::api::{ComplianceReport, InfrastructureStandard, StandardException};
use serde_json::json;

/// A namespace of its own per run, so that a control plane left running by
/// an earlier run (its Events, its reports) cannot affect this one.
fn ns() -> &'static str {
    static NS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NS.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("operator-test-{}", nanos % 1_000_000_007)
    })
}

/// The operator process, stopped when the test ends however it ends.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_operator() -> Operator {
    let kubeconfig = common::kubeconfig_as("operator");
    let log = std::fs::File::create(common::controlplane_dir().join("logs/operator-test.log"))
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args([
            "run",
            "--resync",
            "10m",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("PLUMBLINE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("plumbline run starts");
    Operator(child)
}

/// Waits for a report condition, failing with what was last seen.
async fn wait_for(
    reports: &Api<ComplianceReport>,
    name: &str,
    what: &str,
    pred: impl Fn(Option<&ComplianceReport>) -> bool,
) -> tokio::time::Instant {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let current = reports.get_opt(name).await.expect("reading reports");
        if pred(current.as_ref()) {
            return tokio::time::Instant::now();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 30s; the report is {current:#?} (operator log: {})",
            common::controlplane_dir()
                .join("logs/operator-test.log")
                .display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The report's deviation from this test's standard, if any: `Some(exception)`.
/// Other tests' standards may apply to the same workload, so only this one's
/// rule is looked at.
fn our_deviation(r: Option<&ComplianceReport>) -> Option<Option<String>> {
    r?.status
        .as_ref()?
        .deviations
        .iter()
        .find(|d| d.standard == "operator-test-replicas" && d.rule == "two-replicas")
        .map(|d| d.exception.clone())
}

fn has_status(r: Option<&ComplianceReport>) -> bool {
    r.and_then(|r| r.status.as_ref())
        .is_some_and(|s| !s.conditions.is_empty())
}

async fn apply<
    K: serde::Serialize
        + kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
>(
    api: &Api<K>,
    name: &str,
    body: serde_json::Value,
) {
    api.patch(
        name,
        &PatchParams::apply(common::MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap_or_else(|err| panic!("applying {name}: {err}"));
}

fn deployment(replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns(), "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27.3"}]}}
        }
    })
}

/// How many times Events of this reason, about Deployment `web` and naming
/// the test's rule, were raised (a series counts each occurrence).
async fn events(admin: &Client, reason: &str) -> i32 {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), ns());
    api.list(&Default::default())
        .await
        .expect("listing events")
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web"))
        .filter(|e| {
            e.note
                .as_deref()
                .is_some_and(|n| n.contains("two-replicas"))
        })
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

async fn wait_for_events(admin: &Client, reason: &str, count: i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = events(admin, reason).await;
        if n == count {
            return;
        }
        assert!(
            n < count && tokio::time::Instant::now() < deadline,
            "expected {count} {reason} Event(s) about web, found {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The address the operator serves metrics on, read from its JSON log.
async fn metrics_addr() -> String {
    let log = common::controlplane_dir().join("logs/operator-test.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v["fields"]["addr"].as_str().map(String::from))
        {
            return addr;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no metrics address in {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A plain HTTP GET: the status code and the body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the metrics server");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Writes by the operator recorded in the API server's audit log.
fn operator_writes() -> usize {
    let log = std::fs::read_to_string(common::controlplane_dir().join("logs/audit.log"))
        .unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("\"username\":\"operator\""))
        .filter(|l| {
            [
                "\"verb\":\"patch\"",
                "\"verb\":\"create\"",
                "\"verb\":\"update\"",
            ]
            .iter()
            .any(|v| l.contains(v))
        })
        .count()
}

#[tokio::test]
async fn reports_follow_workloads_exceptions_and_time() {
    let admin: Client = common::client().await;
    common::install_crds(&admin).await;
    common::kubectl_apply(&["deploy/namespace.yaml"]);
    common::kubectl_apply(&["deploy/rbac.yaml"]);
    // The operator runs as the user `operator` with deploy/rbac.yaml's ClusterRole.
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(admin.clone());
    apply(
        &bindings,
        "plumbline-operator-test-user",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "plumbline-operator-test-user"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "plumbline-operator"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "operator"}],
        }),
    )
    .await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    apply(
        &namespaces,
        ns(),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns(), "labels": {"plumbline-test": "operator"}}}),
    )
    .await;
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(
        &standards,
        "operator-test-replicas",
        json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
            "metadata": {"name": "operator-test-replicas"},
            "spec": {
                "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": "operator"}}},
                "rules": [{"id": "two-replicas", "severity": "High", "description": "Two replicas.", "replicas": {"minimum": 2}}]
            }
        }),
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns());
    apply(&deployments, "web", deployment(1)).await;

    let operator = start_operator();
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), ns());

    // A deviating Deployment gets a report naming the rule.
    wait_for(
        &reports,
        "deployment-web",
        "an open deviation from two-replicas",
        |r| our_deviation(r) == Some(None),
    )
    .await;
    wait_for_events(&admin, "DeviationFound", 1).await;
    let report = reports.get("deployment-web").await.unwrap();
    let status = report.status.as_ref().unwrap();
    let compliant = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Compliant")
        .expect("a Compliant condition");
    assert_eq!(
        (compliant.status.as_str(), compliant.reason.as_str()),
        ("False", "Deviating")
    );
    let owner = &report
        .metadata
        .owner_references
        .as_ref()
        .expect("owned by its workload")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );

    // Operations endpoints: health, readiness once written, metrics without per-object labels.
    let addr = metrics_addr().await;
    assert_eq!(http_get(&addr, "/healthz").0, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while http_get(&addr, "/readyz").0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready within 30s of writing reports"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, body) = http_get(&addr, "/metrics");
    assert_eq!(code, 200);
    assert!(
        body.lines().any(|l| l.starts_with(
            "plumbline_deviations{standard=\"operator-test-replicas\",rule=\"two-replicas\",severity=\"High\"}"
        )),
        "{body}"
    );
    assert!(
        body.contains("plumbline_workloads{state=\"deviating\"}"),
        "{body}"
    );
    assert!(body.contains("plumbline_evaluations_total"), "{body}");
    assert!(!body.contains("name=\"web\""), "no per-object labels");

    // Fixing it flips the report.
    apply(&deployments, "web", deployment(2)).await;
    wait_for(
        &reports,
        "deployment-web",
        "no deviation from two-replicas once fixed",
        |r| has_status(r) && our_deviation(r).is_none(),
    )
    .await;

    wait_for_events(&admin, "DeviationResolved", 1).await;

    // An approved exception makes it compliant as Excepted, until the instant it expires.
    apply(&deployments, "web", deployment(1)).await;
    wait_for(
        &reports,
        "deployment-web",
        "an open deviation again at one replica",
        |r| our_deviation(r) == Some(None),
    )
    .await;
    wait_for_events(&admin, "DeviationFound", 2).await;
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(8);
    let exceptions: Api<StandardException> = Api::namespaced(admin.clone(), ns());
    apply(
        &exceptions,
        "web-single",
        json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardException",
            "metadata": {"name": "web-single", "namespace": ns()},
            "spec": {
                "target": {"standard": "operator-test-replicas"},
                "workloads": {"names": [{"kind": "Deployment", "name": "web"}]},
                "justification": "One replica while the test runs.",
                "requestedBy": "alice", "approvedBy": "bob",
                "expiresAt": expires.to_string(),
            }
        }),
    )
    .await;
    wait_for(
        &reports,
        "deployment-web",
        "the deviation covered by web-single",
        |r| our_deviation(r) == Some(Some("web-single".into())),
    )
    .await;
    wait_for(
        &reports,
        "deployment-web",
        "the deviation open again after expiry",
        |r| our_deviation(r) == Some(None),
    )
    .await;
    let late = jiff::Timestamp::now().duration_since(expires);
    assert!(
        late < jiff::SignedDuration::from_millis(1500),
        "the report flipped {late:?} after the exception expired"
    );

    wait_for_events(&admin, "DeviationResolved", 2).await;
    wait_for_events(&admin, "DeviationFound", 3).await;

    // A restarted operator in a quiet cluster writes nothing and repeats no Event.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = operator_writes();
    drop(operator);
    let _operator = start_operator();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let after = operator_writes();
    assert_eq!(
        after,
        before,
        "the operator wrote {} times in a quiet cluster",
        after - before
    );
    assert_eq!(
        events(&admin, "DeviationFound").await,
        3,
        "Events repeated after a restart"
    );
    assert_eq!(
        events(&admin, "DeviationResolved").await,
        2,
        "Events repeated after a restart"
    );

    // A deleted workload's report goes with it.
    deployments
        .delete("web", &DeleteParams::foreground())
        .await
        .expect("delete the deployment");
    wait_for(
        &reports,
        "deployment-web",
        "the report deleted with its workload",
        |r| r.is_none(),
    )
    .await;
    let _ = exceptions
        .delete("web-single", &DeleteParams::default())
        .await;
    let _ = namespaces.delete(ns(), &DeleteParams::default()).await;
    let _ = standards
        .delete("operator-test-replicas", &DeleteParams::default())
        .await;
}
