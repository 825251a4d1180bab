//! CEL rules on the real API server. The parity corpus
//! (tests/fixtures/cel: 36 rules over every library plumbline implements,
//! a good workload of every kind and one breaking each rule) is dry-run
//! under an Enforce standard holding the rules: the rules refused and their
//! messages are exactly what `plumbline audit` reports. A rule the API
//! server refuses is reported in the standard's status and the rest stays
//! enforced; a rule that does not compile is InvalidRule with its position
//! while the other rules keep evaluating; a constant `false` is flagged; a
//! CEL rule added while the operator runs makes it load the workloads'
//! objects and judge them.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::operator::*;
use kube::{Api, Client, api::DeleteParams};
use plumbline::api::{ComplianceReport, InfrastructureStandard};
use serde_json::{Value, json};

/// One test at a time: each runs an operator, which judges every standard.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The prefix of this file's standards (`setup` keeps those enforcing).
const PREFIX: &str = "cel-";

fn fixture(name: &str) -> Vec<Value> {
    common::documents(&common::repo_root().join("tests/fixtures/cel").join(name))
}

/// The parity standard, named `name`, judging only namespace `ns`.
fn parity_standard(name: &str, ns: &str) -> Value {
    let mut s = fixture("standard.yaml").remove(0);
    s["metadata"]["name"] = json!(name);
    s["spec"]["match"] = json!({"namespaceSelector": {"matchLabels": {"plumbline-test": ns}}});
    s
}

fn corpus(ns: &str) -> Vec<Value> {
    let docs = fixture("corpus.yaml");
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

/// `kubectl create --dry-run=server`: `Ok` when admitted, `Err(stderr)`.
fn create(doc: &Value) -> Result<(), String> {
    let out = common::kubectl_with_input(
        &["create", "--dry-run=server", "-o", "name", "-f", "-"],
        doc.to_string().as_bytes(),
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The rules a refusal by `standard` names, with their messages (anything
/// else, an evaluation error, as one entry that no audit gives).
fn refused_rules(standard: &str, message: &str) -> BTreeMap<String, String> {
    common::verdicts::refused_rules(standard, message).unwrap_or_else(|| {
        BTreeMap::from([("<not a refusal>".to_string(), message.trim().to_string())])
    })
}

/// What `plumbline audit` reports under `standard`: workload → rule →
/// message, and the whole JSON report.
fn audit(
    ns: &str,
    docs: &[Value],
    standard: &Value,
) -> (BTreeMap<String, BTreeMap<String, String>>, Value) {
    let (_, report) = common::verdicts::audit_report(ns, docs, standard);
    let name = standard["metadata"]["name"].as_str().unwrap_or_default();
    (common::verdicts::deviations(&report, name, &[]), report)
}

async fn apply_standard(admin: &Client, body: &Value) {
    let api: Api<InfrastructureStandard> = Api::all(admin.clone());
    let name = body["metadata"]["name"].as_str().expect("a name");
    apply(&api, name, body.clone()).await;
}

async fn delete_standard(admin: &Client, name: &str) {
    let api: Api<InfrastructureStandard> = Api::all(admin.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// Polls `check` until it holds, for at most `limit`.
async fn within(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deployment(ns: &str, name: &str, replicas: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "w"}},
                 "template": {"metadata": {"labels": {"app": "w"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}})
}

#[tokio::test]
async fn admission_and_audit_give_every_cel_rule_the_same_verdict_and_message() {
    let _serial = SERIAL.lock().await;
    let admin = common::client().await;
    setup(&admin, PREFIX).await;
    let ns = unique("cel-parity");
    namespace(&admin, &ns, json!({})).await;
    let name = "cel-parity";
    let standard = parity_standard(name, &ns);
    apply_standard(&admin, &standard).await;
    let operator = Operator::start("cel-parity", &[]);
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());

    // Every rule is checked at admission: none was refused by the API server.
    let s = standard_condition(&standards, name, "Enforced", "True", &operator.log).await;
    let conditions = &s.status.as_ref().expect("a status").conditions;
    let enforced = condition(conditions, "Enforced").expect("Enforced");
    assert_eq!(enforced.1, "AllRules", "{}", enforced.2);
    let ready = condition(conditions, "Ready").expect("Ready");
    assert_eq!(
        (ready.0.as_str(), ready.1.as_str()),
        ("True", "Valid"),
        "{}",
        ready.2
    );

    let docs = corpus(&ns);
    let bad = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "bad-several")
        .expect("bad-several");
    within("the policy takes effect", Duration::from_secs(30), || {
        create(bad).is_err()
    })
    .await;
    let (expected, _) = audit(&ns, &docs, &standard);
    let mut mismatches = Vec::new();
    for d in &docs {
        let workload = d["metadata"]["name"].as_str().unwrap_or_default();
        let admitted = match create(d) {
            Ok(()) => BTreeMap::new(),
            Err(message) => refused_rules(name, &message),
        };
        let audited = expected.get(workload).cloned().unwrap_or_default();
        if admitted != audited {
            mismatches.push(format!(
                "{workload}:\n  admission: {admitted:?}\n  audit:     {audited:?}"
            ));
        }
        // The corpus means what its names say.
        if workload.starts_with("good-") {
            assert!(audited.is_empty(), "{workload}: {audited:?}");
        } else if let Some(rule) = workload.strip_prefix("bad-")
            && workload != "bad-several"
        {
            assert_eq!(
                audited.keys().collect::<Vec<_>>(),
                [rule],
                "{workload} breaks its rule only"
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "admission and audit disagree:\n{}",
        mismatches.join("\n")
    );
    operator.terminate();
    delete_standard(&admin, name).await;
}

#[tokio::test]
async fn refused_broken_and_constant_rules_are_reported_and_the_rest_is_enforced() {
    let _serial = SERIAL.lock().await;
    let admin = common::client().await;
    setup(&admin, PREFIX).await;
    let ns = unique("cel-bad");
    namespace(&admin, &ns, json!({})).await;
    // The constant-false standard judges a namespace of its own: the API
    // server answers with the first policy that denies.
    let ns_constant = unique("cel-constant");
    namespace(&admin, &ns_constant, json!({})).await;
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    let rule = |id: &str, expression: &str| {
        json!({"id": id, "severity": "High", "description": format!("rule {id}"),
               "cel": {"expression": expression, "message": format!("{id} fails")}})
    };
    let std_in = |name: &str, ns: &str, rules: Value| {
        json!({"apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
               "metadata": {"name": name},
               "spec": {"enforcement": "Enforce", "rules": rules,
                        "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": ns}}}}})
    };
    // The API server's type checker knows that `indexOf` gives an int and
    // refuses `int + string`; plumbline's check types fields and literals,
    // not what every function returns, so the engine accepts the rule (and
    // finds that it cannot be evaluated).
    let refused = std_in(
        "cel-refused",
        &ns,
        json!([
            rule(
                "two-replicas",
                "!has(object.spec.replicas) || object.spec.replicas >= 2"
            ),
            rule("typed", "'replicas'.indexOf('r') + 'x' == '0x'"),
        ]),
    );
    let broken = std_in(
        "cel-broken",
        &ns,
        json!([
            rule("named-web", "object.metadata.name.startsWith('web')"),
            rule(
                "broken",
                "object.metadata.name.startsWith('x') &&\n  object.spec.replicas >"
            ),
            rule("mistyped", "object.spec.replicas + 'x' == '1x'"),
        ]),
    );
    let constant = std_in(
        "cel-constant",
        &ns_constant,
        json!([rule("never", "false")]),
    );
    for s in [&refused, &broken, &constant] {
        apply_standard(&admin, s).await;
    }
    let operator = Operator::start("cel-bad", &[]);

    // Refused by the API server: said in Enforced, the rest still enforced.
    let s = standard_condition(&standards, "cel-refused", "Enforced", "True", &operator.log).await;
    let enforced =
        condition(&s.status.as_ref().expect("a status").conditions, "Enforced").expect("Enforced");
    assert_eq!(enforced.1, "SomeRules", "{}", enforced.2);
    assert!(
        enforced.2.contains("rules two-replicas;")
            && enforced.2.contains("typed (the API server refused it: "),
        "{}",
        enforced.2
    );
    let one_replica = deployment(&ns, "web-one", 1);
    within(
        "the rest of the standard is enforced",
        Duration::from_secs(30),
        || create(&one_replica).is_err_and(|m| m.contains("two-replicas: two-replicas fails")),
    )
    .await;

    // Does not compile: InvalidRule with the position; the other rule evaluates.
    let s = standard_condition(&standards, "cel-broken", "Ready", "False", &operator.log).await;
    let conditions = &s.status.as_ref().expect("a status").conditions;
    let ready = condition(conditions, "Ready").expect("Ready");
    assert_eq!(ready.1, "InvalidRule", "{}", ready.2);
    assert!(
        ready
            .2
            .contains("spec.rules[1].cel.expression: syntax error at line 2, column"),
        "{}",
        ready.2
    );
    // A type error is found from the workload kinds' schemas, once, in the
    // status: not a finding on every workload.
    assert!(
        ready.2.contains(
            "spec.rules[2].cel.expression: line 1, column 13: no matching overload for '+' applied to (int, string)"
        ),
        "{}",
        ready.2
    );
    assert_eq!(condition(conditions, "Stalled").expect("Stalled").0, "True");
    let api_two = deployment(&ns, "api-two", 2);
    within(
        "the valid rule is enforced",
        Duration::from_secs(30),
        || create(&api_two).is_err_and(|m| m.contains("named-web: named-web fails")),
    )
    .await;

    // A constant false: flagged, still Ready, and it refuses everything.
    let s = standard_condition(&standards, "cel-constant", "Ready", "True", &operator.log).await;
    let ready =
        condition(&s.status.as_ref().expect("a status").conditions, "Ready").expect("Ready");
    assert_eq!(ready.1, "RuleAlwaysFails", "{}", ready.2);
    let anything = deployment(&ns_constant, "web-three", 3);
    within("the constant rule refuses", Duration::from_secs(30), || {
        create(&anything).is_err_and(|m| m.contains("never: never fails"))
    })
    .await;

    // The same judgements offline: audit reports the rule that does not
    // compile, with its position, and exits 2.
    let (verdicts, report) = audit(&ns, std::slice::from_ref(&api_two), &broken);
    assert!(
        report["standards"][0]["ruleErrors"][0]
            .as_str()
            .is_some_and(|e| e.contains("line 2, column")),
        "{report:#}"
    );
    assert_eq!(
        verdicts["api-two"].keys().collect::<Vec<_>>(),
        ["named-web"]
    );
    operator.terminate();
    for name in ["cel-refused", "cel-broken", "cel-constant"] {
        delete_standard(&admin, name).await;
    }
}

#[tokio::test]
async fn a_cel_rule_added_while_running_is_judged_on_objects_loaded_for_it() {
    let _serial = SERIAL.lock().await;
    let admin = common::client().await;
    setup(&admin, PREFIX).await;
    let ns = unique("cel-late");
    namespace(&admin, &ns, json!({})).await;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(admin.clone(), &ns);
    let mut web = deployment(&ns, "web", 1);
    web["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
    apply(&deployments, "web", web).await;
    let operator = Operator::start("cel-late", &[]);
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    eventually(
        "a report without CEL rules",
        &operator.log,
        || async {
            reports
                .get_opt("deployment-web")
                .await
                .expect("reading reports")
        },
        |r| r.as_ref().is_some_and(|r| r.status.is_some()),
    )
    .await;
    let name = "cel-late";
    apply_standard(
        &admin,
        &json!({"apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
            "metadata": {"name": name},
            "spec": {"enforcement": "Audit",
                     "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": ns}}},
                     "rules": [{"id": "no-pull-never", "severity": "High",
                                "description": "No imagePullPolicy: Never.",
                                "cel": {"expression": "variables.containers.all(c, c.?imagePullPolicy.orValue('') != 'Never')",
                                        "messageExpression": "'container ' + variables.containers[0].name + ' never pulls'"}}]}}),
    )
    .await;
    eventually(
        "the CEL rule's deviation in the report",
        &operator.log,
        || async {
            reports
                .get_opt("deployment-web")
                .await
                .expect("reading reports")
        },
        |r| {
            serde_json::to_string(r)
                .unwrap_or_default()
                .contains("container app never pulls")
        },
    )
    .await;
    operator.terminate();
    delete_standard(&admin, name).await;
}
