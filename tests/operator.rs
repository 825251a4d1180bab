//! `plumbline run` against the real local API server, with exactly the
//! rights deploy/rbac.yaml grants it: reports appear, flip when workloads
//! are fixed, honour exceptions until the instant they expire, disappear with
//! their workload; review thresholds, patch rings, ownership and invalid
//! standards show in statuses and Events; a quiet cluster causes no writes;
//! with leader election only the leader writes, and a standby takes over.
//!
//! Each test has its own namespace and standards, and the tests run one at a
//! time: every operator evaluates cluster-scoped standards, so two running
//! at once would disagree about their status.

mod common;

use common::operator::*;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams},
};
use plumbline::api::{
    ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException,
    report::StandardDeviations,
};
use serde_json::json;

/// The first test's namespace.
fn ns() -> &'static str {
    static NS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NS.get_or_init(|| unique("operator-test"))
}

/// One test at a time (see the module comment).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for a condition on the first test's report.
async fn wait_for(
    reports: &Api<ComplianceReport>,
    name: &str,
    what: &str,
    pred: impl Fn(Option<&ComplianceReport>) -> bool,
) {
    let log = common::controlplane_dir().join("logs/operator-test.log");
    let get = || async { reports.get_opt(name).await.expect("reading reports") };
    eventually(what, &log, get, |r| pred(r.as_ref())).await;
}

/// The report's deviation from this test's standard, if any: `Some(exception)`.
/// Other tests' standards may apply to the same workload, so only this one's
/// rule is looked at.
fn our_deviation(r: Option<&ComplianceReport>) -> Option<Option<String>> {
    r?.status
        .as_ref()?
        .deviations
        .iter()
        .find(|d| d.standard == "operator-test-replicas")
        .and_then(|d| deviation_of(d, "two-replicas"))
}

/// A rule's deviation in a report's standard: `Some(exception)` when there is one.
fn deviation_of(d: &StandardDeviations, rule: &str) -> Option<Option<String>> {
    if d.open().any(|r| r == rule) {
        return Some(None);
    }
    d.excepted
        .iter()
        .find(|e| e.rule == rule)
        .map(|e| Some(e.exception.clone()))
}

fn has_status(r: Option<&ComplianceReport>) -> bool {
    r.and_then(|r| r.status.as_ref())
        .is_some_and(|s| !s.conditions.is_empty())
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
    let mut about_web = events_about(admin, ns(), reason, "web").await;
    about_web.retain(|(note, _)| note.contains("two-replicas"));
    total(&about_web)
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

/// Writes by the operator recorded in the API server's audit log.
fn operator_writes() -> usize {
    // An empty log would make "writes nothing" pass whatever the operator
    // did; every caller counts after the operator has written reports.
    let writes = common::operator::operator_writes();
    assert!(
        writes > 0,
        "the audit log records no write of the operator: the audit policy must log writes"
    );
    writes
}

#[tokio::test]
async fn reports_follow_workloads_exceptions_and_time() {
    let _alone = one_at_a_time().await;
    let _serial = SERIAL.lock().await;
    let admin: Client = common::client().await;
    setup(&admin, "operator-test").await;
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

    let operator = Operator::start("operator-test", &[]);
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
    let addr = operator.metrics_addr().await;
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
    for kind in ["ComplianceReport", "InfrastructureStandard"] {
        assert!(
            body.contains(&format!("plumbline_reconciles_total{{kind=\"{kind}\"}}")),
            "reconciles by kind: {body}"
        );
        assert!(
            body.contains(&format!(
                "plumbline_reconcile_duration_seconds_count{{kind=\"{kind}\"}}"
            )),
            "reconcile durations by kind: {body}"
        );
    }
    assert!(
        body.contains("plumbline_workload_evaluations_total{result=\"evaluated\"}"),
        "{body}"
    );
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
    // Eight seconds from expiry is inside the default 7-day warning window: warned once.
    eventually(
        "one ExceptionExpiringSoon Event",
        &common::controlplane_dir().join("logs/operator-test.log"),
        || events_about(&admin, ns(), "ExceptionExpiringSoon", "web-single"),
        |e| total(e) == 1,
    )
    .await;
    wait_for(
        &reports,
        "deployment-web",
        "the deviation open again after expiry",
        |r| our_deviation(r) == Some(None),
    )
    .await;
    // How soon after the instant it flips is measured by `make bench-scale`
    // and tested to the second with a fake clock in tests/plan.rs; here, it
    // must not flip before.
    assert!(
        jiff::Timestamp::now() >= expires,
        "the report flipped before the exception expired at {expires}"
    );

    wait_for_events(&admin, "DeviationResolved", 2).await;
    wait_for_events(&admin, "DeviationFound", 3).await;

    // A restarted operator in a quiet cluster writes nothing and repeats no
    // Event: counted from when the first one stopped until the second has
    // written its first full evaluation (it is ready only then).
    drop(operator);
    let before = operator_writes();
    let restarted = Operator::start("operator-test-restarted", &[]);
    let addr = restarted.metrics_addr().await;
    eventually(
        "the restarted operator's first pass",
        &restarted.log,
        || async { http_get(&addr, "/readyz").0 },
        |c| *c == 200,
    )
    .await;
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

fn exception(
    namespace: &str,
    name: &str,
    standard: &str,
    workload: &str,
    approved: bool,
) -> serde_json::Value {
    let mut spec = json!({
        "target": {"standard": standard},
        "workloads": {"names": [{"kind": "Deployment", "name": workload}]},
        "justification": "Scaling up after the migration.",
        "requestedBy": "alice",
        "expiresAt": (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).round(jiff::Unit::Second).unwrap().to_string(),
    });
    if approved {
        spec["approvedBy"] = json!("bob");
    }
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardException",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// The report's deviation from `standard`: `Some(exception)` when there is one.
fn deviation_from(r: &Option<ComplianceReport>, standard: &str) -> Option<Option<String>> {
    r.as_ref()?
        .status
        .as_ref()?
        .deviations
        .iter()
        .find(|d| d.standard == standard)
        .and_then(|d| match d.open().next() {
            Some(_) => Some(None),
            None => d.excepted.first().map(|e| Some(e.exception.clone())),
        })
}

/// The report's patch state against `baseline`, and its due time.
fn patch_state(r: &Option<ComplianceReport>, baseline: &str) -> Option<(String, bool)> {
    let image = r
        .as_ref()?
        .status
        .as_ref()?
        .patch
        .as_ref()?
        .images
        .iter()
        .find(|p| p.baseline == baseline)?;
    Some((format!("{:?}", image.state), image.due.is_some()))
}

fn report_condition(r: &Option<ComplianceReport>, type_: &str) -> Option<(String, String, String)> {
    condition(&r.as_ref()?.status.as_ref()?.conditions, type_)
}

#[tokio::test]
async fn review_thresholds_rings_ownership_and_invalid_standards() {
    let _alone = one_at_a_time().await;
    let _serial = SERIAL.lock().await;
    let admin: Client = common::client().await;
    setup(&admin, "operator-test").await;
    let ns = unique("operator-review");
    namespace(&admin, &ns, json!({})).await;
    let standard = format!("{ns}-replicas");
    let broken = format!("{ns}-broken");
    let baseline = format!("{ns}-base");
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    // Only this test's standards may judge its workloads, so that `Excepted`
    // can be seen: other test binaries leave examples/' standards behind.
    for s in standards.list(&Default::default()).await.unwrap().items {
        let name = s.metadata.name.unwrap_or_default();
        if !name.starts_with("operator-") {
            let _ = standards.delete(&name, &DeleteParams::default()).await;
        }
    }
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    apply(&standards, &broken, broken_standard(&broken, &ns)).await;
    // nginx below 1.27.3 from now, with a 15-second deadline in this namespace's ring.
    // Whole seconds, rounded down: effective already when the operator starts.
    let effective = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap();
    let baselines: Api<PatchBaseline> = Api::all(admin.clone());
    apply(
        &baselines,
        &baseline,
        json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "PatchBaseline",
            "metadata": {"name": baseline},
            "spec": {
                "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": ns}}},
                "images": [{"repository": "nginx", "minimumVersion": "1.27.3", "effectiveFrom": effective.to_string()}],
                "rings": [{"name": "test", "namespaceSelector": {"matchLabels": {"plumbline-test": ns}}, "deadline": "15s"}]
            }
        }),
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    for name in ["a", "b"] {
        apply(&deployments, name, workload(&ns, name, "nginx:1.25.0", 1)).await;
    }

    let operator = Operator::start(&ns, &["--namespaces", &ns, "--expiry-warning", "1h"]);
    let log = operator.log.clone();
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    let report = |name: &'static str| {
        let reports = reports.clone();
        move || {
            let reports = reports.clone();
            async move { reports.get_opt(name).await.expect("reading reports") }
        }
    };

    // Both deviate, are orphans, and run an image Behind with a due date.
    let a = eventually("a deviates", &log, report("deployment-a"), |r| {
        deviation_from(r, &standard) == Some(None)
    })
    .await;
    assert_eq!(
        report_condition(&a, "Owned").map(|c| (c.0, c.1)),
        Some(("False".into(), "Orphan".into()))
    );
    let a = eventually("a has a patch state", &log, report("deployment-a"), |r| {
        patch_state(r, &baseline).is_some()
    })
    .await;
    assert_eq!(
        patch_state(&a, &baseline),
        Some(("Behind".into(), true)),
        "nginx:1.25.0 is Behind, with a due date, inside the deadline"
    );

    // An invalid standard says what to fix, and the valid one keeps working.
    let s = standard_condition(&standards, &broken, "Ready", "False", &log).await;
    let ready = condition(&s.status.unwrap().conditions, "Ready").unwrap();
    assert_eq!(ready.1, "InvalidSpec");
    assert!(
        ready.2.contains("valuePattern") && ready.2.contains("^(unclosed"),
        "{}",
        ready.2
    );
    let s = standard_condition(&standards, &standard, "Ready", "True", &log).await;
    assert_eq!(s.status.as_ref().unwrap().deviating, 2);

    // A pending exception changes nothing.
    let exceptions: Api<StandardException> = Api::namespaced(admin.clone(), &ns);
    apply(
        &exceptions,
        "b-scale",
        exception(&ns, "b-scale", &standard, "b", false),
    )
    .await;
    let get_exception = |name: &'static str| {
        let exceptions = exceptions.clone();
        move || {
            let exceptions = exceptions.clone();
            async move { exceptions.get(name).await.expect("reading an exception") }
        }
    };
    eventually("b-scale is Pending", &log, get_exception("b-scale"), |e| {
        e.status.as_ref().and_then(|s| s.state) == Some(plumbline::api::ExceptionState::Pending)
    })
    .await;
    let b = reports.get_opt("deployment-b").await.unwrap();
    assert_eq!(
        deviation_from(&b, &standard),
        Some(None),
        "a pending exception covers nothing"
    );

    // Two approved exceptions reach the threshold of two: ReviewRequired, one Event.
    apply(
        &exceptions,
        "a-scale",
        exception(&ns, "a-scale", &standard, "a", true),
    )
    .await;
    eventually("a is excepted", &log, report("deployment-a"), |r| {
        deviation_from(r, &standard) == Some(Some("a-scale".into()))
            && report_condition(r, "Compliant").is_some_and(|c| c.0 == "True" && c.1 == "Excepted")
    })
    .await;
    let e = eventually("a-scale is Active", &log, get_exception("a-scale"), |e| {
        e.status.as_ref().and_then(|s| s.state) == Some(plumbline::api::ExceptionState::Active)
    })
    .await;
    assert_eq!(
        condition(&e.status.unwrap().conditions, "ExpiringSoon").map(|c| c.0),
        Some("False".into()),
        "30 days from expiry, outside a 1h warning window"
    );
    apply(
        &exceptions,
        "b-scale",
        exception(&ns, "b-scale", &standard, "b", true),
    )
    .await;
    let s = standard_condition(&standards, &standard, "ReviewRequired", "True", &log).await;
    let review = condition(&s.status.unwrap().conditions, "ReviewRequired").unwrap();
    assert_eq!(review.1, "ActiveExceptionsAtThreshold");
    let raised = eventually(
        "one StandardReviewRequired Event",
        &log,
        || events_about(&admin, "default", "StandardReviewRequired", &standard),
        |e| total(e) >= 1,
    )
    .await;
    assert_eq!(total(&raised), 1, "{raised:?}");
    let note = &raised[0].0;
    assert!(
        note.contains("2 active exceptions") && note.contains("threshold of 2"),
        "the Event gives the count and the threshold: {note}"
    );

    // The deadline passes: Behind becomes Overdue, with an Event.
    let a = eventually("a is Overdue", &log, report("deployment-a"), |r| {
        patch_state(r, &baseline).is_some_and(|(s, _)| s == "Overdue")
    })
    .await;
    assert_eq!(
        report_condition(&a, "PatchCurrent").map(|c| c.0),
        Some("False".into())
    );
    eventually(
        "a PatchOverdue Event",
        &log,
        || events_about(&admin, &ns, "PatchOverdue", "a"),
        |e| total(e) == 1,
    )
    .await;
    let late = jiff::Timestamp::now().duration_since(effective);
    assert!(
        late >= jiff::SignedDuration::from_secs(15),
        "Overdue before the deadline"
    );

    // An orphan is owned once a ServiceOwnership selects it.
    let ownerships: Api<ServiceOwnership> = Api::namespaced(admin.clone(), &ns);
    apply(
        &ownerships,
        "team-a",
        json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "ServiceOwnership",
            "metadata": {"name": "team-a", "namespace": ns},
            "spec": {
                "team": "team-a",
                "selector": {"matchLabels": {"app": "a"}},
                "maintainers": [{"name": "Ann Lee", "email": "ann@example.com"}],
                "supportTiers": [{"tier": "First", "team": "team-a", "contact": "#team-a"}],
                "runbook": "https://runbooks.example.com/a"
            }
        }),
    )
    .await;
    eventually("a is owned", &log, report("deployment-a"), |r| {
        report_condition(r, "Owned").is_some_and(|c| c.0 == "True")
    })
    .await;
    let b = reports.get_opt("deployment-b").await.unwrap();
    assert_eq!(
        report_condition(&b, "Owned").map(|c| c.1),
        Some("Orphan".into())
    );

    // Deleting an exception falls below the threshold: cleared, with no new required Event.
    exceptions
        .delete("a-scale", &DeleteParams::default())
        .await
        .expect("delete a-scale");
    standard_condition(&standards, &standard, "ReviewRequired", "False", &log).await;
    eventually(
        "a StandardReviewCleared Event",
        &log,
        || events_about(&admin, "default", "StandardReviewCleared", &standard),
        |e| total(e) == 1,
    )
    .await;
    assert_eq!(
        total(&events_about(&admin, "default", "StandardReviewRequired", &standard).await),
        1
    );
    // a's deviation is open again: an Event of its own, naming the rule.
    let rule = format!("{standard}/two-replicas");
    // Counted as Event objects, not occurrences: a series would keep one note.
    let naming = |e: &[(String, i32)]| e.iter().filter(|(n, _)| n.contains(&rule)).count();
    let found = eventually(
        "a second DeviationFound about a naming the rule",
        &log,
        || events_about(&admin, &ns, "DeviationFound", "a"),
        |e| naming(e) >= 2,
    )
    .await;
    assert_eq!(naming(&found), 2, "{found:#?}");
    drop(operator);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    for name in [&standard, &broken] {
        let _ = standards.delete(name, &DeleteParams::default()).await;
    }
    let _ = baselines.delete(&baseline, &DeleteParams::default()).await;
}

#[tokio::test]
async fn only_the_leader_writes_and_a_standby_takes_over() {
    let _alone = one_at_a_time().await;
    let _serial = SERIAL.lock().await;
    let admin: Client = common::client().await;
    setup(&admin, "operator-test").await;
    let ns = unique("operator-leader");
    namespace(&admin, &ns, json!({})).await;
    let standard = format!("{ns}-replicas");
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    apply(&deployments, "web", workload(&ns, "web", "nginx:1.27.3", 1)).await;

    let args = [
        "--leader-elect",
        "--leader-elect-namespace",
        "plumbline-system",
        "--leader-elect-lease",
        &ns,
        "--namespaces",
        &ns,
    ];
    let first = Operator::start(&format!("{ns}-first"), &args);
    let log = first.log.clone();
    eventually(
        "the first operator leads",
        &log,
        || first.metric("plumbline_leader"),
        |v| *v == 1.0,
    )
    .await;
    let second = Operator::start(&format!("{ns}-second"), &args);
    let addr = second.metrics_addr().await;
    eventually(
        "the standby is ready",
        &second.log,
        || async { http_get(&addr, "/readyz").0 },
        |code| *code == 200,
    )
    .await;

    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    let get = || {
        let reports = reports.clone();
        async move {
            reports
                .get_opt("deployment-web")
                .await
                .expect("reading reports")
        }
    };
    eventually("web deviates", &log, get, |r| {
        deviation_from(r, &standard) == Some(None)
    })
    .await;
    eventually(
        "one DeviationFound Event",
        &log,
        || events_about(&admin, &ns, "DeviationFound", "web"),
        |e| total(e) == 1,
    )
    .await;
    assert!(first.metric("plumbline_writes_total").await > 0.0);
    assert_eq!(second.metric("plumbline_leader").await, 0.0, "two leaders");
    assert_eq!(
        second.metric("plumbline_writes_total").await,
        0.0,
        "the standby wrote"
    );

    // The leader stops; the standby takes over and acts on the next change.
    first.terminate();
    eventually(
        "the standby leads",
        &second.log,
        || second.metric("plumbline_leader"),
        |v| *v == 1.0,
    )
    .await;
    apply(&deployments, "web", workload(&ns, "web", "nginx:1.27.3", 2)).await;
    eventually("web is fixed", &second.log, get, |r| {
        r.as_ref().and_then(|r| r.status.as_ref()).is_some()
            && deviation_from(r, &standard).is_none()
    })
    .await;
    eventually(
        "one DeviationResolved Event",
        &second.log,
        || events_about(&admin, &ns, "DeviationResolved", "web"),
        |e| total(e) == 1,
    )
    .await;
    assert_eq!(
        total(&events_about(&admin, &ns, "DeviationFound", "web").await),
        1,
        "an Event raised twice"
    );

    // That a workload's status alone (rollout progress) starts no pass is
    // tested in-process: tests/plan.rs, `status_changes_of_workloads_signal_nothing`.
    drop(second);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    let _ = standards.delete(&standard, &DeleteParams::default()).await;
}

/// How many times Events of this reason were raised in `namespace`, about anything.
async fn events_in(admin: &Client, namespace: &str, reason: &str) -> i32 {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), namespace);
    let list = api.list(&Default::default()).await.expect("listing events");
    list.items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.map_or(1, |s| s.count))
        .sum()
}

#[tokio::test]
async fn a_first_sync_over_many_deviating_workloads_raises_one_event_per_standard() {
    let _alone = one_at_a_time().await;
    let _serial = SERIAL.lock().await;
    let admin: Client = common::client().await;
    setup(&admin, "operator-test").await;
    let ns = unique("operator-bulk");
    namespace(&admin, &ns, json!({})).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let many = 30;
    for i in 0..many {
        let name = format!("w{i}");
        apply(&deployments, &name, workload(&ns, &name, "nginx:1.27.3", 1)).await;
    }
    let standard = unique("operator-test-bulk");
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;

    // The operator arrives on a cluster where they all deviate already.
    let operator = Operator::start("operator-bulk", &[]);
    let summary = || async { events_about(&admin, "default", "DeviationsFound", &standard).await };
    let log = operator.log.clone();
    let found = eventually("one summary Event on the standard", &log, summary, |e| {
        !e.is_empty()
    })
    .await;
    assert_eq!(total(&found), 1, "{found:?}");
    assert!(
        found[0].0.starts_with(&format!(
            "{many} workloads started deviating in one evaluation (most: two-replicas on {many})"
        )),
        "{found:?}"
    );
    assert_eq!(
        events_in(&admin, &ns, "DeviationFound").await,
        0,
        "no Event per workload"
    );

    // A workload created afterwards gets its own, exactly one.
    apply(
        &deployments,
        "late",
        workload(&ns, "late", "nginx:1.27.3", 1),
    )
    .await;
    let late = || async { events_about(&admin, &ns, "DeviationFound", "late").await };
    let events = eventually("the late workload's Event", &log, late, |e| !e.is_empty()).await;
    assert_eq!(total(&events), 1, "{events:?}");

    // A restart repeats none of them.
    operator.terminate();
    let operator = Operator::start("operator-bulk-2", &[]);
    let addr = operator.metrics_addr().await;
    let ready = || async { http_get(&addr, "/readyz").0 };
    eventually(
        "the restarted operator is ready",
        &operator.log,
        ready,
        |c| *c == 200,
    )
    .await;
    // Ready means its first evaluation is written, Events included.
    assert_eq!(total(&summary().await), 1, "the summary is not repeated");
    assert_eq!(
        events_in(&admin, &ns, "DeviationFound").await,
        1,
        "no Event per workload after a restart"
    );
    standards
        .delete(&standard, &Default::default())
        .await
        .expect("delete the standard");
}

#[tokio::test]
async fn its_own_objects_are_put_back() {
    let _alone = one_at_a_time().await;
    let _serial = SERIAL.lock().await;
    let admin: Client = common::client().await;
    setup(&admin, "operator-test").await;
    let ns = unique("operator-restore");
    namespace(&admin, &ns, json!({})).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    apply(&deployments, "web", workload(&ns, "web", "nginx:1.27.3", 1)).await;
    let standard = unique("operator-test-restore");
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    let operator = Operator::start("operator-restore", &[]);
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    let report = || async { reports.get_opt("deployment-web").await.expect("read") };
    eventually("the report", &operator.log, report, |r| {
        has_status(r.as_ref())
    })
    .await;
    let matched = || async {
        standards
            .get(&standard)
            .await
            .expect("read")
            .status
            .map(|s| s.matched)
    };
    eventually("the standard's status", &operator.log, matched, |m| {
        *m == Some(1)
    })
    .await;

    // A report deleted by someone else, once all is quiet, comes back within a second...
    tokio::time::sleep(Duration::from_secs(2)).await;
    reports
        .delete("deployment-web", &Default::default())
        .await
        .expect("delete the report");
    eventually("the report is recreated", &operator.log, report, |r| {
        r.as_ref()
            .is_some_and(|r| r.metadata.deletion_timestamp.is_none())
            && has_status(r.as_ref())
    })
    .await;

    // ...and so does a report someone else edited (a report has no status
    // subresource: its status is edited through the report itself)...
    let written = report().await.and_then(|r| r.status).expect("a status");
    tokio::time::sleep(Duration::from_secs(2)).await;
    reports
        .patch(
            "deployment-web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"deviationCount": 999, "deviations": []}})),
        )
        .await
        .expect("an administrator edits the report");
    eventually("the report is put back", &operator.log, report, |r| {
        r.as_ref().and_then(|r| r.status.as_ref()) == Some(&written)
    })
    .await;

    // ...and so does a status someone else wrote, once all is quiet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    standards
        .patch_status(
            &standard,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"matched": 999}})),
        )
        .await
        .expect("an administrator edits the status");
    eventually("the status is put back", &operator.log, matched, |m| {
        *m == Some(1)
    })
    .await;
    standards
        .delete(&standard, &Default::default())
        .await
        .expect("delete the standard");
}
