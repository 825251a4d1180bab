//! Admission on the real API server: an InfrastructureStandard marked
//! Enforce or Warn becomes ValidatingAdmissionPolicies that `plumbline run`
//! (as the user `operator`, with deploy/rbac.yaml's rights) keeps in step.
//! The parity corpus (tests/fixtures/admission) gets exactly the verdict of
//! `plumbline audit`; exceptions let it through until the second they
//! expire (CREATE even with the operator stopped; UPDATE within a second
//! with it running); Warn warns, Audit generates nothing; hand edits are
//! undone; running workloads keep running; a 200-rule standard stays inside
//! the CEL cost limits.

mod common;

use std::{collections::BTreeMap, process::Command, time::Duration};

use common::operator::*;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use plumbline::api::InfrastructureStandard;
use serde_json::{Value, json};

/// One test at a time: each runs an operator, which judges every standard.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const STANDARD: &str = "admission-test";
/// Rules that need other objects: never checked at admission.
const BACKGROUND: [&str; 2] = ["budget", "owned"];

/// The corpus, each object placed in `ns`.
fn corpus(ns: &str) -> Vec<Value> {
    let path = common::repo_root().join("tests/fixtures/admission/corpus.yaml");
    let docs = common::documents(&path);
    assert!(
        docs.len() >= 40,
        "the corpus must hold at least 40 workloads"
    );
    docs.into_iter()
        .map(|mut d| {
            d["metadata"]["namespace"] = json!(ns);
            d
        })
        .collect()
}

/// The fixture standard, judging only namespace `ns`, with this enforcement.
fn standard(ns: &str, enforcement: &str) -> Value {
    let path = common::repo_root().join("tests/fixtures/admission/standard.yaml");
    let mut s = common::documents(&path).remove(0);
    s["metadata"]["name"] = json!(STANDARD);
    s["spec"]["enforcement"] = json!(enforcement);
    s["spec"]["match"] = json!({"namespaceSelector": {"matchLabels": {"plumbline-test": ns}}});
    s
}

/// `kubectl <verb> --dry-run=server` of `doc` (as `user` when given):
/// `Ok(warnings)` when admitted, `Err(message)` when refused.
fn kubectl_dry_run(verb: &[&str], doc: &Value, user: Option<&str>) -> Result<Vec<String>, String> {
    let mut args: Vec<&str> = verb.to_vec();
    args.extend(["--dry-run=server", "-o", "name", "-f", "-"]);
    if let Some(user) = user {
        args.extend(["--as", user]);
    }
    kubectl_doc(&args, doc).map(|stderr| {
        stderr
            .lines()
            .filter(|l| l.starts_with("Warning:"))
            .map(String::from)
            .collect()
    })
}

/// kubectl with `doc` on its standard input: `Ok(stderr)` when the API
/// server accepts, `Err(stderr)` when it refuses.
fn kubectl_doc(args: &[&str], doc: &Value) -> Result<String, String> {
    let out = common::kubectl_with_input(args, doc.to_string().as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        Ok(stderr)
    } else {
        Err(stderr)
    }
}

fn create(doc: &Value) -> Result<Vec<String>, String> {
    kubectl_dry_run(&["create"], doc, None)
}

/// The rules a refusal names, with their findings: "[Sev] id: findings | ...".
fn refused_rules(message: &str) -> BTreeMap<String, String> {
    common::verdicts::refused_rules(STANDARD, message)
        .unwrap_or_else(|| panic!("not a refusal by the test's standard: {message}"))
}

/// What `plumbline audit` reports for each workload of the corpus under the
/// standard: rule → findings, object-local rules only.
fn audit(ns: &str, docs: &[Value], standard: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let (code, report) = common::verdicts::audit_report(ns, docs, standard);
    assert!(code.is_some_and(|c| c <= 1), "audit failed: {report}");
    common::verdicts::deviations(&report, STANDARD, &BACKGROUND)
}

/// Every corpus object through dry-run: name → refused rules and findings.
fn verdicts(docs: &[Value]) -> BTreeMap<String, BTreeMap<String, String>> {
    docs.iter()
        .map(|d| {
            let name = d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let rules = match create(d) {
                Ok(_) => BTreeMap::new(),
                Err(message) => refused_rules(&message),
            };
            (name, rules)
        })
        .collect()
}

async fn apply_standard(admin: &Client, body: Value) {
    let api: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&api, STANDARD, body).await;
}

/// Polls `check` every 50 ms until it holds; returns how long it took.
async fn within(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = std::time::Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn binding_actions(name: &str) -> Option<String> {
    let out = common::kubectl()
        .args([
            "get",
            "validatingadmissionpolicybinding",
            name,
            "-o",
            "jsonpath={.spec.validationActions}",
        ])
        .output()
        .expect("kubectl runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

fn in_seconds(seconds: i64) -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second() + seconds).expect("a time")
}

fn exception(ns: &str, name: &str, workloads: Value, expires: jiff::Timestamp) -> Value {
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardException",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "target": {"standard": STANDARD},
            "workloads": workloads,
            "justification": "Tried by the admission test, on purpose.",
            "requestedBy": "alice",
            "approvedBy": "bob",
            "expiresAt": expires.to_string(),
        }
    })
}

/// The standard's `Enforced` condition, once the operator has written it.
async fn enforced_condition(
    standards: &Api<InfrastructureStandard>,
    name: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = standards.get(name).await.expect("the standard");
        if let Some(c) = s
            .status
            .as_ref()
            .and_then(|st| st.conditions.iter().find(|c| c.type_ == "Enforced"))
        {
            return c.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Enforced condition on {name} within 30s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sleep_until(t: jiff::Timestamp) {
    let wait = jiff::Timestamp::now().duration_until(t);
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
}

#[tokio::test]
async fn enforce_matches_audit_honours_exceptions_to_the_second_and_keeps_workloads_running() {
    let _serial = SERIAL.lock().await;
    let admin = common::client().await;
    setup(&admin, STANDARD).await;
    let ns = unique("admission-test");
    namespace(&admin, &ns, json!({})).await;
    let body = standard(&ns, "Enforce");
    apply_standard(&admin, body.clone()).await;
    let operator = Operator::start("admission-test", &[]);
    let policy = format!("plumbline-{STANDARD}");
    within("the policy is generated", Duration::from_secs(30), || {
        binding_actions(&policy).as_deref() == Some("[\"Deny\"]")
    })
    .await;

    // The standard says what admission checks, and what it leaves to the background.
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    let enforced = enforced_condition(&standards, STANDARD).await;
    assert_eq!(
        (enforced.status.as_str(), enforced.reason.as_str()),
        ("True", "SomeRules")
    );
    assert!(
        enforced
            .message
            .contains("budget (it needs the namespace's PodDisruptionBudgets"),
        "{}",
        enforced.message
    );
    assert!(
        enforced
            .message
            .contains("owned (it needs the namespace's ServiceOwnerships"),
        "{}",
        enforced.message
    );

    // One verdict: admission refuses exactly the object-local rules audit reports, with the same findings.
    let docs = corpus(&ns);
    // The API server loads a new policy a moment after it is stored.
    let everything_wrong = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "pod-everything-wrong")
        .cloned()
        .expect("pod");
    within("the policy takes effect", Duration::from_secs(10), || {
        create(&everything_wrong).is_err()
    })
    .await;
    let expected = audit(&ns, &docs, &body);
    let refused = verdicts(&docs);
    let mut mismatches = Vec::new();
    for (name, rules) in &refused {
        let wanted = expected.get(name).cloned().unwrap_or_default();
        if &wanted != rules {
            mismatches.push(format!(
                "{name}:\n  admission: {rules:?}\n  audit:     {wanted:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "admission and audit disagree:\n{}",
        mismatches.join("\n")
    );
    let refusing = refused.values().filter(|r| !r.is_empty()).count();
    assert!(
        refusing >= 30 && refusing < docs.len(),
        "{refusing} of {} refused",
        docs.len()
    );
    let message = create(&docs[docs.len() - 2]).expect_err("the Pod that breaks every rule");
    assert!(
        message.contains("kubectl explain standardexception"),
        "{message}"
    );

    // Pods made by the ReplicaSet controller were judged through their Deployment;
    // the same ownerReference written by anyone else gets nothing through.
    let mut owned = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "pod-everything-wrong")
        .cloned()
        .expect("pod");
    owned["metadata"]["name"] = json!("web-7d9f8-x2x4z");
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "web-7d9f8", "uid": "6f1d2c3b-0000-4000-8000-000000000001", "controller": true}]);
    kubectl_dry_run(
        &["create"],
        &owned,
        Some("system:serviceaccount:kube-system:replicaset-controller"),
    )
    .expect("a Pod the ReplicaSet controller creates is not judged again");
    create(&owned).expect_err("a forged ownerReference is judged");

    // An approved exception lets every one of them through...
    let expires = in_seconds(25);
    let exceptions: Api<plumbline::api::StandardException> = Api::namespaced(admin.clone(), &ns);
    apply(
        &exceptions,
        "everything",
        exception(
            &ns,
            "everything",
            json!({"selector": {"matchExpressions": [{"key": "plumbline-test-unset", "operator": "DoesNotExist"}]}}),
            expires,
        ),
    )
    .await;
    within(
        "the exception takes effect",
        Duration::from_secs(10),
        || create(&everything_wrong).is_ok(),
    )
    .await;
    for d in &docs {
        create(d)
            .unwrap_or_else(|e| panic!("{} is excepted but refused: {e}", d["metadata"]["name"]));
    }
    // One of them is created for real while excepted.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(admin.clone(), &ns);
    let mut kept = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "privileged")
        .cloned()
        .expect("doc");
    kept["metadata"]["name"] = json!("kept");
    apply(&deployments, "kept", kept).await;
    // ...until the second it expires, by the API server's clock, with the
    // operator stopped: CREATE, and UPDATE of a pod template.
    operator.terminate();
    sleep_until(expires).await;
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"restartedAt": "after-expiry"}}}}});
    let dry_run = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let message = deployments
        .patch("kept", &dry_run, &Patch::Merge(&restart))
        .await
        .expect_err("with the operator stopped, a template UPDATE after expiry is refused");
    assert!(
        message
            .to_string()
            .contains("violates InfrastructureStandard"),
        "{message}"
    );
    // Also when the client resets the managed fields, which leaves no time
    // to compare: an expired exception is never taken for one in force.
    let reset = json!({"metadata": {"managedFields": [{}]},
        "spec": {"template": {"metadata": {"annotations": {"restartedAt": "after-expiry-reset"}}}}});
    deployments
        .patch("kept", &dry_run, &Patch::Merge(&reset))
        .await
        .expect_err("an UPDATE that resets managedFields after expiry is refused");
    let after = verdicts(&docs);
    let names = |v: &BTreeMap<String, BTreeMap<String, String>>| -> Vec<String> {
        v.iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    };
    assert_eq!(
        names(&after),
        names(&refused),
        "after expiry, with the operator stopped, CREATE is refused again"
    );

    // With the operator running, an UPDATE is refused within a second of expiry;
    // scaling, relabelling and deleting a non-compliant workload stay admitted.
    let operator = Operator::start("admission-test-2", &[]);
    let expires = in_seconds(15);
    let mut legacy = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "no-requests")
        .cloned()
        .expect("doc");
    legacy["metadata"]["name"] = json!("legacy");
    apply(
        &exceptions,
        "legacy",
        exception(
            &ns,
            "legacy",
            json!({"names": [{"kind": "Deployment", "name": "legacy"}]}),
            expires,
        ),
    )
    .await;
    within(
        "the legacy exception takes effect",
        Duration::from_secs(10),
        || create(&legacy).is_ok(),
    )
    .await;
    apply(&deployments, "legacy", legacy.clone()).await;
    sleep_until(expires).await;
    let change =
        json!({"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}});
    let started = std::time::Instant::now();
    loop {
        if deployments
            .patch("legacy", &dry_run, &Patch::Merge(&change))
            .await
            .is_err()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "an UPDATE of the pod template is still admitted after expiry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(1),
        "refused {took:?} after expiry"
    );
    deployments
        .patch_scale(
            "legacy",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("a non-compliant Deployment can still be scaled");
    deployments
        .patch(
            "legacy",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "old"}}})),
        )
        .await
        .expect("a non-compliant Deployment can still be relabelled");

    // Warn admits, with one warning per failed rule; editing the standard
    // updates its policy within a second.
    apply_standard(&admin, standard(&ns, "Warn")).await;
    let took = within("the binding turns to Warn", Duration::from_secs(5), || {
        binding_actions(&policy).as_deref() == Some("[\"Warn\"]")
    })
    .await;
    assert!(
        took <= Duration::from_secs(1),
        "the policy followed the edit after {took:?}"
    );
    // The API server's admission plugin loads a changed policy a moment after it is stored.
    within("Warn admits", Duration::from_secs(10), || {
        create(&everything_wrong).is_ok()
    })
    .await;
    let warnings = create(&everything_wrong).expect("Warn admits");
    let rules = &refused["pod-everything-wrong"];
    assert_eq!(warnings.len(), rules.len(), "{warnings:#?}");
    for rule in rules.keys() {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("] {rule} ({STANDARD}): "))),
            "no warning for {rule}: {warnings:#?}"
        );
    }

    // A hand-edited binding is put back.
    apply_standard(&admin, standard(&ns, "Enforce")).await;
    within("back to Deny", Duration::from_secs(5), || {
        binding_actions(&policy).as_deref() == Some("[\"Deny\"]")
    })
    .await;
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(admin.clone());
    bindings
        .patch(
            &policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"validationActions": ["Audit"]}})),
        )
        .await
        .expect("an administrator edits the binding");
    let took = within("the edit is undone", Duration::from_secs(5), || {
        binding_actions(&policy).as_deref() == Some("[\"Deny\"]")
    })
    .await;
    assert!(took <= Duration::from_secs(1), "restored after {took:?}");
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(admin.clone());
    policies
        .delete(&policy, &Default::default())
        .await
        .expect("an administrator deletes the policy");
    let started = std::time::Instant::now();
    loop {
        let restored = policies.get_opt(&policy).await.expect("read");
        if restored.is_some_and(|p| p.metadata.deletion_timestamp.is_none()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the deleted policy was not put back within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Audit generates nothing; deleting the standard removes its policies.
    apply_standard(&admin, standard(&ns, "Audit")).await;
    within("Audit removes the policy", Duration::from_secs(5), || {
        binding_actions(&policy).is_none()
    })
    .await;
    within("Audit admits", Duration::from_secs(10), || {
        create(&everything_wrong).is_ok()
    })
    .await;
    apply_standard(&admin, standard(&ns, "Enforce")).await;
    within("Enforce again", Duration::from_secs(5), || {
        binding_actions(&policy).is_some()
    })
    .await;
    standards
        .delete(STANDARD, &Default::default())
        .await
        .expect("delete the standard");
    within(
        "deleting the standard removes its policies",
        Duration::from_secs(30),
        || binding_actions(&policy).is_none(),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while policies.get_opt(&policy).await.expect("read").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the policy outlived its standard"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    deployments
        .delete("legacy", &Default::default())
        .await
        .expect("a non-compliant Deployment can be deleted");
    drop(operator);
}

/// 200 rules (the most a standard may have) of the costliest checks, one of
/// them with a pattern only Rust's regex reads, against 30 containers.
fn large_standard(ns: &str) -> Value {
    let mut rules = vec![json!({"id": "rust-only-pattern", "severity": "Low",
        "description": "A class set operation RE2 lacks.",
        "requiredLabels": [{"key": "team", "valuePattern": "^[a-z&&[^x]]+$"}]})];
    for i in 0..199 {
        let check = match i % 6 {
            0 => {
                json!({"images": {"allowedRegistries": ["registry.example.com", "docker.io/library", "ghcr.io/acme"],
                                   "forbidLatestTag": true, "requireDigest": true,
                                   "forbidden": [".*/debug-tools(:.*)?$", "^docker.io/library/busybox", ".*:.*-rc[0-9]+$"]}})
            }
            1 => json!({"securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                "disallowPrivilegeEscalation": true, "disallowPrivileged": true,
                "dropCapabilities": ["NET_RAW", "SYS_ADMIN", "CAP_SYS_PTRACE"], "requireSeccompProfile": true}}),
            2 => {
                json!({"resources": {"requests": ["cpu", "memory", "ephemeral-storage"], "limits": ["memory", "cpu"]}})
            }
            3 => json!({"probes": {"liveness": true, "readiness": true, "startup": true}}),
            4 => {
                json!({"requiredLabels": [{"key": "team", "valuePattern": "^[a-z]+$"}, {"key": "app"}, {"key": format!("label-{i}")}]})
            }
            _ => {
                json!({"hostAccess": {"forbidHostNamespaces": true, "forbidHostPath": true, "forbidHostPorts": true}})
            }
        };
        let mut rule = json!({"id": format!("rule-{i:03}"), "severity": "Medium", "description": "One of many."});
        for (k, v) in check.as_object().expect("a check") {
            rule[k] = v.clone();
        }
        rules.push(rule);
    }
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
        "metadata": {"name": "admission-test-large"},
        "spec": {"enforcement": "Enforce", "rules": rules,
                 "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": ns}}}}
    })
}

fn many_containers(ns: &str, name: &str, compliant: bool) -> Value {
    let containers: Vec<Value> = (0..30)
        .map(|i| {
            if compliant {
                json!({"name": format!("c{i}"),
                       "image": format!("registry.example.com/platform/very/long/path/to/component-{i}:1.2.{i}@sha256:{}", "b".repeat(64)),
                       "resources": {"requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "1Mi"},
                                     "limits": {"cpu": "20m", "memory": "32Mi"}},
                       "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                           "allowPrivilegeEscalation": false, "privileged": false,
                           "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
                       "livenessProbe": {"tcpSocket": {"port": 8080}},
                       "readinessProbe": {"tcpSocket": {"port": 8080}},
                       "startupProbe": {"tcpSocket": {"port": 8080}}})
            } else {
                json!({"name": format!("c{i}"), "image": format!("evil.example.org/miner-{i}:latest"),
                       "ports": [{"containerPort": 9000 + i, "hostPort": 9000 + i}],
                       "securityContext": {"privileged": true, "runAsUser": 0}})
            }
        })
        .collect();
    let mut labels = json!({"team": "payments", "app": name});
    for i in (4..199).step_by(6) {
        labels[format!("label-{i}")] = json!("x");
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"hostNetwork": !compliant, "containers": containers}}}
    })
}

#[tokio::test]
async fn hundreds_of_rules_stay_inside_the_cost_limits_and_inexpressible_rules_stay_in_the_background()
 {
    let _serial = SERIAL.lock().await;
    let admin = common::client().await;
    setup(&admin, STANDARD).await;
    let ns = unique("admission-large");
    namespace(&admin, &ns, json!({})).await;
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&standards, "admission-test-large", large_standard(&ns)).await;
    let _operator = Operator::start("admission-test-large", &[]);
    // 199 expressible rules, 50 to a policy.
    let parts = [
        "plumbline-admission-test-large",
        "plumbline-admission-test-large-2",
        "plumbline-admission-test-large-3",
        "plumbline-admission-test-large-4",
    ];
    within(
        "four policies are generated",
        Duration::from_secs(30),
        || parts.iter().all(|p| binding_actions(p).is_some()),
    )
    .await;
    assert!(binding_actions("plumbline-admission-test-large-5").is_none());

    let enforced = enforced_condition(&standards, "admission-test-large").await;
    assert_eq!(enforced.reason, "SomeRules", "{}", enforced.message);
    assert!(
        enforced.message.contains(
            "rust-only-pattern (valuePattern of label 0 `^[a-z&&[^x]]+$`: a class set operation"
        ),
        "{}",
        enforced.message
    );
    assert!(
        enforced.message.contains("rule-198"),
        "{}",
        enforced.message
    );

    // Neither verdict is a cost error: the compliant workload is admitted,
    // the other refused with the rules of the first part that fails.
    let good = many_containers(&ns, "good", true);
    within("the policies take effect", Duration::from_secs(10), || {
        create(&many_containers(&ns, "bad", false)).is_err()
    })
    .await;
    create(&good).unwrap_or_else(|e| panic!("a compliant 30-container workload is refused: {e}"));
    let message = create(&many_containers(&ns, "bad", false)).expect_err("refused");
    assert!(
        message.contains("violates InfrastructureStandard admission-test-large: [Medium] rule-"),
        "{message}"
    );
    assert!(!message.to_lowercase().contains("cost"), "{message}");
    // The message stays under the API server's limit, cut where it must be.
    assert!(message.len() < 5 * 1024 + 512, "{} bytes", message.len());
    standards
        .delete("admission-test-large", &Default::default())
        .await
        .expect("delete");
}

/// Grants `user` a ClusterRole in `ns` (and waits until the API server's
/// authorizer says so).
async fn grant(admin: &Client, ns: &str, user: &str, role: &str) {
    let rbac: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(admin.clone(), ns);
    let name = format!("{user}-{role}");
    apply(
        &rbac,
        &name,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }),
    )
    .await;
}

/// A corpus document by name, placed in `ns`.
fn doc(docs: &[Value], name: &str) -> Value {
    docs.iter()
        .find(|d| d["metadata"]["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in the corpus"))
}

/// `kubectl create` for real, as `user`: the API server's answer.
fn create_as(user: &str, doc: &Value) -> Result<(), String> {
    kubectl_create(Some(user), doc)
}

/// `kubectl create` for real (as the administrator unless `user` is given).
fn kubectl_create(user: Option<&str>, doc: &Value) -> Result<(), String> {
    let mut args = vec!["create", "-o", "name", "-f", "-"];
    if let Some(user) = user {
        args.extend(["--as", user]);
    }
    kubectl_doc(&args, doc).map(drop)
}

/// A server-side dry-run CREATE as `user`, lent every right through the
/// `system:masters` group: only admission can refuse it, not RBAC.
fn dry_run_with_every_right(user: &str, doc: &Value) -> Result<(), String> {
    let args = [
        "create",
        "--dry-run=server",
        "-o",
        "name",
        "-f",
        "-",
        "--as",
        user,
    ];
    kubectl_doc(
        &[&args[..], &["--as-group", "system:masters"]].concat(),
        doc,
    )
    .map(drop)
}

fn owned_by(mut doc: Value, api_version: &str, kind: &str, name: &str) -> Value {
    doc["metadata"]["ownerReferences"] = json!([{"apiVersion": api_version, "kind": kind,
        "name": "owner", "uid": "6f1d2c3b-0000-4000-8000-00000000000a", "controller": true}]);
    doc["metadata"]["name"] = json!(name);
    doc
}

/// Every way around Enforce that was found by trying as an attacker, with a
/// plain `edit` user (alice), each refused; and each legitimate neighbour
/// still admitted.
#[tokio::test]
async fn no_way_around_enforce_through_other_kinds_owners_debug_sessions_or_labels() {
    let _serial = SERIAL.lock().await;
    let admin = common::client().await;
    setup(&admin, STANDARD).await;
    let ns = unique("admission-attack");
    namespace(&admin, &ns, json!({})).await;
    grant(&admin, &ns, "alice", "edit").await;
    let docs = corpus(&ns);
    let body = standard(&ns, "Enforce");
    apply_standard(&admin, body).await;
    let operator = Operator::start("admission-attack", &[]);
    let hostile = doc(&docs, "pod-everything-wrong");
    within("the policy takes effect", Duration::from_secs(30), || {
        create(&hostile).is_err()
    })
    .await;
    within(
        "alice may create workloads",
        Duration::from_secs(30),
        || create_as("alice", &doc(&docs, "good-pod")).is_ok(),
    )
    .await;

    // 1. ReplicaSets and ReplicationControllers are judged; compliant ones pass.
    for name in ["hostile-replicaset", "hostile-replicationcontroller"] {
        let message = create_as("alice", &doc(&docs, name))
            .expect_err("a hostile template under another kind is refused");
        assert!(message.contains("not-privileged"), "{name}: {message}");
        assert!(message.contains("no-host"), "{name}: {message}");
    }
    create_as("alice", &doc(&docs, "good-replicaset")).expect("a compliant ReplicaSet");
    create_as("alice", &doc(&docs, "good-replicationcontroller"))
        .expect("a compliant ReplicationController");

    // 2. Only the controller that makes a product, for its own owner kind, is believed.
    let pod = |owner_api: &str, owner: &str, name: &str| {
        owned_by(hostile.clone(), owner_api, owner, name)
    };
    let deployment_rs = owned_by(
        doc(&docs, "hostile-replicaset"),
        "apps/v1",
        "Deployment",
        "web-5d8c7",
    );
    let trusted = [
        (
            pod("apps/v1", "ReplicaSet", "rs-pod"),
            "replicaset-controller",
        ),
        (
            pod("v1", "ReplicationController", "rc-pod"),
            "replication-controller",
        ),
        (
            pod("apps/v1", "StatefulSet", "sts-pod-0"),
            "statefulset-controller",
        ),
        (
            pod("apps/v1", "DaemonSet", "ds-pod"),
            "daemon-set-controller",
        ),
        (pod("batch/v1", "Job", "job-pod"), "job-controller"),
        (deployment_rs.clone(), "deployment-controller"),
    ];
    for (object, controller) in &trusted {
        kubectl_dry_run(
            &["create"],
            object,
            Some(&format!("system:serviceaccount:kube-system:{controller}")),
        )
        .unwrap_or_else(|e| panic!("{controller} making its own product is not judged again: {e}"));
    }
    // The manager with its own credentials.
    dry_run_with_every_right(
        "system:kube-controller-manager",
        &pod("apps/v1", "ReplicaSet", "rs-pod"),
    )
    .expect("the controller manager with its own credentials");
    for (object, user, why) in [
        (
            pod("v1", "ConfigMap", "cm-pod"),
            "system:serviceaccount:kube-system:job-controller",
            "a ConfigMap owner, created as the job controller",
        ),
        (
            pod("batch/v1", "Job", "job-pod"),
            "system:serviceaccount:kube-system:replicaset-controller",
            "a Job's Pod created by the ReplicaSet controller",
        ),
        (
            pod("example.com/v1", "ReplicaSet", "fake-rs-pod"),
            "system:serviceaccount:kube-system:replicaset-controller",
            "a ReplicaSet of another API group",
        ),
        (
            pod("apps/v1", "ReplicaSet", "rs-pod"),
            "system:serviceaccount:kube-system:generic-garbage-collector",
            "another kube-system service account",
        ),
        (
            pod("apps/v1", "ReplicaSet", "rs-pod"),
            "alice",
            "a forged ownerReference",
        ),
        (deployment_rs.clone(), "alice", "a forged Deployment owner"),
    ] {
        let answer = if user == "alice" {
            kubectl_dry_run(&["create"], &object, Some(user)).map(drop)
        } else {
            dry_run_with_every_right(user, &object)
        };
        let message = answer.expect_err(&format!("{why}: must be judged"));
        assert!(
            message.contains("violates InfrastructureStandard"),
            "{why}: {message}"
        );
    }

    // 3. A debug session adds only compliant containers.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin.clone(), &ns);
    let alice = common::client_as("alice").await;
    let debug_role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "plumbline-test-debugger"},
        "rules": [{"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["get", "update", "patch"]}],
    });
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(admin.clone());
    apply(&roles, "plumbline-test-debugger", debug_role).await;
    grant(&admin, &ns, "alice", "plumbline-test-debugger").await;
    let alice_pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(alice.clone(), &ns);
    let debug = |container: Value| {
        let alice_pods = alice_pods.clone();
        async move {
            alice_pods
                .patch_subresource(
                    "ephemeralcontainers",
                    "good-pod",
                    &PatchParams::default(),
                    &Patch::Strategic(json!({"spec": {"ephemeralContainers": [container]}})),
                )
                .await
        }
    };
    let hostile_debugger = json!({"name": "miner", "image": "evil.io/miner:latest",
        "securityContext": {"privileged": true, "runAsUser": 0}});
    let message = loop {
        match debug(hostile_debugger.clone()).await {
            Err(kube::Error::Api(s)) if s.message.contains("violates") => break s.message,
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("cannot") => {
                tokio::time::sleep(Duration::from_millis(200)).await; // RBAC not yet in effect
            }
            other => panic!("a privileged root debug container must be refused: {other:?}"),
        }
    };
    assert!(
        message.contains("ephemeral container `miner` is privileged"),
        "{message}"
    );
    assert!(
        !message.contains("team-label") && !message.contains("no-token"),
        "only what the debug session adds is judged: {message}"
    );
    // The same findings as `plumbline audit` gives the Pod with that container.
    let mut debugged_pod = doc(&docs, "good-pod");
    debugged_pod["spec"]["ephemeralContainers"] = json!([hostile_debugger.clone()]);
    let body = standard(&ns, "Enforce");
    assert_eq!(
        refused_rules(&message),
        audit(&ns, &[debugged_pod], &body)["good-pod"],
        "a debug container: admission and audit disagree"
    );
    let compliant_debugger = json!({"name": "debugger",
        "image": "registry.example.com/tools/debug:1.0.0@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                            "capabilities": {"drop": ["NET_RAW", "SYS_ADMIN"]}}});
    debug(compliant_debugger)
        .await
        .expect("a compliant debug container is admitted");
    let debugged = pods.get("good-pod").await.expect("the pod");
    let names: Vec<String> = debugged
        .spec
        .and_then(|s| s.ephemeral_containers)
        .into_iter()
        .flatten()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["debugger"]);

    // 4. Metadata edits that change the verdict are refused; those that do not are admitted.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(alice.clone(), &ns);
    create_as("alice", &doc(&docs, "good-deployment")).expect("a compliant Deployment");
    let merge = |patch: Value| {
        let deployments = deployments.clone();
        async move {
            deployments
                .patch(
                    "good-deployment",
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await
        }
    };
    let message = merge(json!({"metadata": {"labels": {"team": null}}}))
        .await
        .expect_err("removing a required label is refused")
        .to_string();
    let mut unlabelled = doc(&docs, "good-deployment");
    unlabelled["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("team");
    assert_eq!(
        refused_rules(&message),
        audit(&ns, &[unlabelled], &standard(&ns, "Enforce"))["good-deployment"],
        "a label edit: admission and audit disagree"
    );
    merge(json!({"metadata": {"labels": {"team": "Payments"}}}))
        .await
        .expect_err("a required label's value that breaks its pattern is refused");
    merge(json!({"metadata": {"labels": {"release": "2027-01"}, "annotations": {"note": "ok"}}}))
        .await
        .expect("relabelling that keeps it compliant is admitted");
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(alice.clone(), &ns)
        .patch_scale(
            "good-deployment",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("scaling is admitted");

    // The background reports ReplicaSets, ReplicationControllers and Pods of
    // other owners, with audit's verdict; a Deployment's ReplicaSet is not a
    // workload of its own.
    apply_standard(&admin, standard(&ns, "Audit")).await;
    within("Audit admits", Duration::from_secs(30), || {
        create(&hostile).is_ok()
    })
    .await;
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(admin.clone(), &ns);
    apply(
        &configmaps,
        "owner",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": ns}}),
    )
    .await;
    let uid = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.uid.clone().expect("a uid")
    };
    let cm_uid = uid(&configmaps.get("owner").await.expect("configmap").metadata);
    let mut foreign = owned_by(hostile.clone(), "v1", "ConfigMap", "configmap-pod");
    foreign["metadata"]["ownerReferences"][0]["name"] = json!("owner");
    foreign["metadata"]["ownerReferences"][0]["uid"] = json!(cm_uid);
    let dep_uid = uid(&Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(
        admin.clone(),
        &ns,
    )
    .get("good-deployment")
    .await
    .expect("deployment")
    .metadata);
    let mut product = owned_by(
        doc(&docs, "good-replicaset"),
        "apps/v1",
        "Deployment",
        "good-deployment-5d8c7",
    );
    product["metadata"]["ownerReferences"][0]["name"] = json!("good-deployment");
    product["metadata"]["ownerReferences"][0]["uid"] = json!(dep_uid);
    let background = [
        doc(&docs, "hostile-replicaset"),
        doc(&docs, "hostile-replicationcontroller"),
        foreign.clone(),
    ];
    for d in background.iter().chain([&product]) {
        kubectl_create(None, d).unwrap_or_else(|e| panic!("{}: {e}", d["metadata"]["name"]));
    }
    let expected = audit(&ns, &background, &standard(&ns, "Audit"));
    let reports: Api<plumbline::api::ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    for d in &background {
        let name = d["metadata"]["name"].as_str().expect("a name");
        let kind = d["kind"].as_str().expect("a kind");
        let report_name = format!("{}-{name}", kind.to_ascii_lowercase());
        let report = eventually(
            &format!("the report of {kind} {name}"),
            &operator.log,
            || reports.get_opt(&report_name),
            |r| r.as_ref().is_ok_and(|r| r.is_some()),
        )
        .await
        .expect("read")
        .expect("a report");
        let open: BTreeMap<String, String> = report
            .status
            .iter()
            .flat_map(|s| &s.deviations)
            .filter(|d| d.standard == STANDARD)
            .flat_map(|d| d.open())
            .filter(|r| !BACKGROUND.contains(r))
            .map(|r| (r.to_string(), String::new()))
            .collect();
        let wanted: BTreeMap<String, String> = expected[name]
            .keys()
            .map(|r| (r.clone(), String::new()))
            .collect();
        assert_eq!(open, wanted, "{kind} {name}: the report and audit disagree");
        assert!(!open.is_empty(), "{kind} {name} deviates");
    }
    assert!(
        reports
            .get_opt("replicaset-good-deployment-5d8c7")
            .await
            .expect("read")
            .is_none(),
        "a Deployment's ReplicaSet is judged through the Deployment, not reported"
    );

    // Before anyone approves, a request shows what it covers: in its status
    // and in `plumbline exceptions list`.
    let request = json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardException",
        "metadata": {"name": "payments-wide", "namespace": ns},
        "spec": {"target": {"standard": STANDARD},
                 "workloads": {"selector": {"matchLabels": {"team": "payments"}}},
                 "justification": "Asked for by the attack test, never approved.",
                 "requestedBy": "alice", "expiresAt": "2027-01-31T00:00:00Z"}
    });
    let exceptions: Api<plumbline::api::StandardException> = Api::namespaced(admin.clone(), &ns);
    apply(&exceptions, "payments-wide", request).await;
    let pending = eventually(
        "the pending request lists what it covers",
        &operator.log,
        || exceptions.get("payments-wide"),
        |e| {
            e.as_ref()
                .is_ok_and(|e| e.status.as_ref().is_some_and(|s| s.covered > 0))
        },
    )
    .await
    .expect("the exception");
    let status = pending.status.expect("a status");
    assert_eq!(status.state, Some(plumbline::api::ExceptionState::Pending));
    let covered: Vec<String> = status
        .workloads
        .items
        .iter()
        .map(|w| format!("{}/{}", w.kind, w.name))
        .collect();
    assert!(
        covered.contains(&"Deployment/good-deployment".to_string())
            && covered.contains(&"ReplicaSet/good-replicaset".to_string()),
        "{covered:?}"
    );
    // `edit` aggregates plumbline-view once deploy/user-roles.yaml is in.
    common::kubectl_apply(&["deploy/user-roles.yaml"]);
    let list = || {
        Command::new(env!("CARGO_BIN_EXE_plumbline"))
            .args(["exceptions", "list", "-n", &ns, "--pending", "--kubeconfig"])
            .arg(common::kubeconfig_as("alice"))
            .output()
            .expect("plumbline runs")
    };
    let mut out = list();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !out.status.success() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await; // role aggregation catching up
        out = list();
    }
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && listed.contains(&format!("covers now:  {} workloads: ", status.covered)),
        "{listed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(operator);

    // A standard with a selector judges an object entering it as new.
    let selective_ns = unique("admission-selector");
    namespace(&admin, &selective_ns, json!({"plumbline-selective": "yes"})).await;
    grant(&admin, &selective_ns, "alice", "edit").await;
    let selective = json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
        "metadata": {"name": format!("{STANDARD}-selector")},
        "spec": {"enforcement": "Enforce",
                 "match": {"namespaceSelector": {"matchLabels": {"plumbline-selective": "yes"}},
                           "selector": {"matchLabels": {"tier": "prod"}}},
                 "rules": [{"id": "no-host", "severity": "Critical", "description": "No host access.",
                            "hostAccess": {"forbidHostNamespaces": true}}]}
    });
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&standards, &format!("{STANDARD}-selector"), selective).await;
    let operator = Operator::start("admission-attack-selector", &[]);
    let mut host = doc(&docs, "host-network");
    host["metadata"]["namespace"] = json!(selective_ns);
    host["metadata"]["labels"]["tier"] = json!("prod");
    within(
        "the selector standard takes effect",
        Duration::from_secs(30),
        || kubectl_dry_run(&["create"], &host, Some("alice")).is_err(),
    )
    .await;
    host["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("tier");
    create_as("alice", &host).expect("outside the selector, admitted");
    let selective_deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(alice.clone(), &selective_ns);
    let message = selective_deployments
        .patch(
            "host-network",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "prod"}}})),
        )
        .await
        .expect_err("entering the selector is judged as new");
    assert!(message.to_string().contains("no-host"), "{message}");
    selective_deployments
        .patch(
            "host-network",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "dev"}}})),
        )
        .await
        .expect("a label change that stays outside the selector is admitted");
    standards
        .delete(&format!("{STANDARD}-selector"), &Default::default())
        .await
        .expect("delete the selector standard");
    drop(operator);
}

/// The operator never takes over or deletes an admission policy it did not
/// generate: a standard named after the shipped approval policy leaves that
/// policy alone (and says so), and a hand-made policy that carries the
/// managed-by label is not deleted.
#[tokio::test]
async fn the_operator_touches_only_the_policies_it_generated() {
    let _serial = SERIAL.lock().await;
    let admin = common::client().await;
    setup(&admin, "exception-approval").await;
    common::kubectl_apply(&["deploy/admission/exception-approval.yaml"]);
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(admin.clone());
    let shipped = policies
        .get("plumbline-exception-approval")
        .await
        .expect("the shipped approval policy");
    let hand_made = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "plumbline-test-hand-made",
                     "labels": {"app.kubernetes.io/managed-by": "plumbline"}},
        "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                 "operations": ["CREATE"], "resources": ["configmaps"]}]},
                 "validations": [{"expression": "true"}]}
    });
    apply(&policies, "plumbline-test-hand-made", hand_made).await;
    let ns = unique("admission-names");
    namespace(&admin, &ns, json!({})).await;
    let mut body = standard(&ns, "Enforce");
    body["metadata"]["name"] = json!("exception-approval");
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&standards, "exception-approval", body).await;
    let operator = Operator::start("admission-names", &[]);
    let enforced = eventually(
        "the standard says its policy name is taken",
        &operator.log,
        || enforced_condition(&standards, "exception-approval"),
        |c| c.reason == "PolicyRefused",
    )
    .await;
    assert_eq!(enforced.status, "False");
    assert!(
        enforced.message.contains(
            "plumbline-exception-approval already exists and plumbline did not generate it"
        ),
        "{}",
        enforced.message
    );
    let after = policies
        .get("plumbline-exception-approval")
        .await
        .expect("the shipped approval policy is still there");
    assert_eq!(
        after.spec, shipped.spec,
        "the approval policy was not taken over"
    );
    assert!(
        policies
            .get_opt("plumbline-test-hand-made")
            .await
            .expect("read")
            .is_some(),
        "a policy no standard generated is not deleted, whatever its labels"
    );
    standards
        .delete("exception-approval", &Default::default())
        .await
        .expect("delete");
    policies
        .delete("plumbline-test-hand-made", &Default::default())
        .await
        .expect("delete");
    drop(operator);
}
