//! The operator as the integration tests run it: `plumbline run` started
//! as the user `operator` with exactly deploy/rbac.yaml's rights, and the
//! helpers that set that up and wait for what it writes.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

/// A name of its own per run, so that a control plane left running by an
/// earlier run (its Events, its reports) cannot affect this one.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}", nanos % 1_000_000_007)
}

/// Held for the whole of a test that runs an operator: such tests of one
/// binary run one at a time. Each operator watches the whole cluster, so a
/// test running beside another sees the other's objects start passes and
/// writes (a count of passes, or of Events, would depend on the timing).
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The operator process, stopped when the test ends however it ends.
pub struct Operator {
    /// The process.
    pub child: Child,
    /// Its log file.
    pub log: PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    /// Starts `plumbline run` as the user `operator`, logging JSON to
    /// logs/NAME.log in the control plane's directory.
    pub fn start(name: &str, extra: &[&str]) -> Self {
        let kubeconfig = super::kubeconfig_as("operator");
        let log = super::controlplane_dir().join(format!("logs/{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
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
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("PLUMBLINE_LOG", "info")
            .env_remove("PLUMBLINE_NAMESPACES")
            .env_remove("PLUMBLINE_LEADER_ELECT")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("plumbline run starts");
        Self { child, log }
    }

    /// Asks it to stop as Kubernetes does (SIGTERM) and waits until it has.
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting") {
                // A clean stop is a success; only a lost lease exits non-zero.
                assert!(
                    status.success(),
                    "the operator stopped with {status} on SIGTERM (log: {})",
                    self.log.display()
                );
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the operator did not stop within 15s of SIGTERM (log: {})",
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address it serves metrics on, read from its JSON log.
    pub async fn metrics_addr(&self) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
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
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One sample of its metrics (0 when absent).
    ///
    /// One series' value, or none when the operator serves no such series
    /// (a labelled family serves only the series something touched).
    pub async fn series(&self, line_start: &str) -> Option<f64> {
        let (_, body) = http_get(&self.metrics_addr().await, "/metrics");
        body.lines()
            .find(|l| l.starts_with(line_start) && l[line_start.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// A metric the operator does not declare at all (a `# TYPE` line) is a
    /// failure, so that a renamed metric cannot pass a `== 0` check; a
    /// declared one without this series (a counter family no label set has
    /// touched yet) is 0.
    pub async fn metric(&self, line_start: &str) -> f64 {
        let (_, body) = http_get(&self.metrics_addr().await, "/metrics");
        let name = line_start.split('{').next().unwrap_or(line_start);
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(
            body.lines()
                .any(|l| l.starts_with(&format!("# TYPE {family} "))),
            "the operator declares no metric {family}; it serves:\n{}",
            body.lines()
                .filter(|l| l.starts_with("# TYPE"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        body.lines()
            .find(|l| l.starts_with(line_start) && l[line_start.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("metric {line_start} has the value {v:?}"))
            })
            .unwrap_or(0.0)
    }
}

/// Installs the CRDs, deploy/'s namespace and RBAC, and lets the user
/// `operator` act with the operator's ClusterRole and leader-election Role.
/// Enforcing standards whose names do not start with `keep` are removed
/// first (see `remove_other_enforcement`).
pub async fn setup(admin: &Client, keep: &str) {
    super::install_crds(admin).await;
    remove_other_enforcement(admin, keep).await;
    super::kubectl_apply(&["deploy/namespace.yaml"]);
    super::kubectl_apply(&["deploy/rbac.yaml"]);
    bind_cluster_role(
        admin,
        "plumbline-operator-test-user",
        "plumbline-operator",
        "operator",
    )
    .await;
    let role_bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(admin.clone(), "plumbline-system");
    apply(
        &role_bindings,
        "plumbline-leader-election-test-user",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "plumbline-leader-election-test-user", "namespace": "plumbline-system"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "plumbline-leader-election"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "operator"}],
        }),
    )
    .await;
}

/// Binds a ClusterRole to one of the local server's users, cluster-wide.
pub async fn bind_cluster_role(admin: &Client, name: &str, role: &str, user: &str) {
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(admin.clone());
    apply(
        &bindings,
        name,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }),
    )
    .await;
}

/// Creates a namespace labelled `plumbline-test: <its name>`.
pub async fn namespace(admin: &Client, name: &str, labels: serde_json::Value) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    let mut all = json!({"plumbline-test": name});
    for (k, v) in labels.as_object().into_iter().flatten() {
        all[k] = v.clone();
    }
    apply(
        &namespaces,
        name,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": all}}),
    )
    .await;
}

/// Polls `get` until `pred` holds, failing after 30 s with what was last seen.
pub async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    log: &std::path::Path,
    mut get: impl FnMut() -> F,
    pred: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let current = get().await;
        if pred(&current) {
            return current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 30s; last seen {current:#?} (operator log: {})",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The condition of this type, as (status, reason, message).
pub fn condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub async fn apply<
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
        &PatchParams::apply(super::MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap_or_else(|err| panic!("applying {name}: {err}"));
}

/// A plain HTTP GET: the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let (code, _, body) = http_request(addr, "GET", path);
    (code, body)
}

/// One HTTP request with no body: the status code, the headers (lower-cased)
/// and the body.
pub fn http_request(addr: &str, method: &str, path: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the server");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (code, head.to_lowercase(), body.to_string())
}

/// Deletes every enforcing (Enforce or Warn) InfrastructureStandard whose
/// name does not start with `keep`, and the admission policies generated
/// from them, so that only the running test's standards judge what it
/// creates (the examples' `baseline-security` would refuse its workloads).
pub async fn remove_other_enforcement(admin: &Client, keep: &str) {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    use plumbline::api::{InfrastructureStandard, standard::Enforcement};
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    for s in standards
        .list(&Default::default())
        .await
        .expect("standards")
        .items
    {
        let name = kube::ResourceExt::name_any(&s);
        if s.spec.enforcement != Enforcement::Audit && !name.starts_with(keep) {
            let _ = standards.delete(&name, &Default::default()).await;
        }
    }
    let selector =
        kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=plumbline");
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(admin.clone());
    for b in bindings.list(&selector).await.expect("bindings").items {
        let name = kube::ResourceExt::name_any(&b);
        if !name.starts_with(&format!("plumbline-{keep}")) {
            let _ = bindings.delete(&name, &Default::default()).await;
        }
    }
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(admin.clone());
    for p in policies.list(&selector).await.expect("policies").items {
        let name = kube::ResourceExt::name_any(&p);
        if !name.starts_with(&format!("plumbline-{keep}")) {
            let _ = policies.delete(&name, &Default::default()).await;
        }
    }
}

/// A Deployment of one nginx container at this version and replica count.
pub fn workload(namespace: &str, name: &str, image: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": image}]}}
        }
    })
}

/// A standard requiring two replicas in one test namespace, with a review
/// threshold of two active exceptions.
pub fn replicas_standard(name: &str, namespace: &str) -> serde_json::Value {
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
        "metadata": {"name": name},
        "spec": {
            "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": namespace}}},
            "rules": [{"id": "two-replicas", "severity": "High", "description": "Two replicas.", "replicas": {"minimum": 2}}],
            "review": {"maxActiveExceptions": 2}
        }
    })
}

/// A standard the operator cannot evaluate (a pattern that does not
/// compile, which the API server cannot check), in one test namespace.
pub fn broken_standard(name: &str, namespace: &str) -> serde_json::Value {
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
        "metadata": {"name": name},
        "spec": {
            "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": namespace}}},
            "rules": [{"id": "team-label", "severity": "Low", "description": "A team label.",
                       "requiredLabels": [{"key": "team", "valuePattern": "^(unclosed"}]}]
        }
    })
}

/// Events in `namespace` of this reason about the object named `regarding`:
/// each Event's note and how many times it occurred (its series count).
pub async fn events_about(
    admin: &Client,
    namespace: &str,
    reason: &str,
    regarding: &str,
) -> Vec<(String, i32)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), namespace);
    let list = api.list(&Default::default()).await.expect("listing events");
    list.items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding))
        .map(|e| (e.note.unwrap_or_default(), e.series.map_or(1, |s| s.count)))
        .collect()
}

/// How many times the Events of `events_about` occurred.
pub fn total(events: &[(String, i32)]) -> i32 {
    events.iter().map(|(_, n)| n).sum()
}

/// Waits until a standard's condition has this status; returns the standard.
pub async fn standard_condition(
    standards: &Api<plumbline::api::InfrastructureStandard>,
    name: &str,
    type_: &str,
    status: &str,
    log: &std::path::Path,
) -> plumbline::api::InfrastructureStandard {
    eventually(
        &format!("standard {name}: {type_}={status}"),
        log,
        || async { standards.get(name).await.expect("reading a standard") },
        |s| {
            s.status
                .as_ref()
                .and_then(|st| condition(&st.conditions, type_))
                .is_some_and(|c| c.0 == status)
        },
    )
    .await
}

/// Writes (create, update, patch, delete) by the user `operator` in the API
/// server's audit log, which logs every write (tests/controlplane/up.sh).
/// A missing log is a failure, never zero writes.
pub fn operator_writes() -> usize {
    let path = super::controlplane_dir().join("logs/audit.log");
    let log = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the API server's audit log {}: {e}", path.display()));
    log.lines()
        .filter(|l| l.contains("\"username\":\"operator\""))
        .filter(|l| {
            ["patch", "create", "update", "delete"]
                .iter()
                .any(|v| l.contains(&format!("\"verb\":\"{v}\"")))
        })
        .count()
}
