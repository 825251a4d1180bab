//! Standard reviews and lifecycle on the real local API server, with the
//! operator running as the user `operator` and reviews recorded by the
//! server's real users: carol reviews (ClusterRole plumbline-reviewer), dave
//! applies reviews for GitOps (`review-on-behalf`), alice may create reviews
//! but holds no `review` verb. A review clears the alarm, a new exception
//! brings it back, review dates take effect at their second, Revise and
//! Retire wait for the standard to follow, a deprecated standard shows its
//! migration as `plumbline audit` does, and a retired one is gone from
//! admission and reports.
//!
//! The tests run one at a time: each operator evaluates every standard.

mod common;

use common::operator::*;

use std::time::{Duration, Instant};

use k8s_openapi::api::{
    admissionregistration::v1::ValidatingAdmissionPolicy, apps::v1::Deployment,
};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use plumbline::api::{ComplianceReport, InfrastructureStandard, StandardException, StandardReview};
use serde_json::{Value, json};

/// Whole seconds from now, as RFC 3339 (timestamps are stored to the second).
fn in_seconds(s: i64) -> jiff::Timestamp {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(s))
        .round(jiff::Unit::Second)
        .unwrap()
}

fn review(name: &str, standard: &str, reviewer: &str, outcome: &str, extra: Value) -> Value {
    let mut spec = json!({
        "standard": standard,
        "outcome": outcome,
        "reviewedBy": reviewer,
        "summary": "Reviewed with the teams that hold exceptions.",
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardReview",
        "metadata": {"name": name},
        "spec": spec,
    })
}

async fn create_review(client: &Client, body: Value) -> Result<StandardReview, kube::Error> {
    let api: Api<StandardReview> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(body).expect("a review"),
    )
    .await
}

fn exception(namespace: &str, name: &str, standard: &str, workload: &str) -> Value {
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "StandardException",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "target": {"standard": standard},
            "workloads": {"names": [{"kind": "Deployment", "name": workload}]},
            "justification": "Scaling up after the migration.",
            "requestedBy": "alice",
            "approvedBy": "bob",
            "expiresAt": in_seconds(30 * 24 * 3600).to_string(),
        },
    })
}

/// Installs the roles and the review policy, and binds carol as a reviewer,
/// dave as a GitOps identity that may create reviews, and alice to create
/// reviews without the `review` verb. Waits until the policy refuses alice.
async fn reviewers(admin: &Client) {
    common::kubectl_apply(&[
        "deploy/user-roles.yaml",
        "deploy/admission/standard-review.yaml",
    ]);
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(admin.clone());
    apply(
        &roles,
        "test-review-writer",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "test-review-writer"},
            "rules": [{"apiGroups": ["plumbline.dev"], "resources": ["standardreviews"], "verbs": ["create", "get"]}],
        }),
    )
    .await;
    for (name, role, user) in [
        ("test-carol-reviewer", "plumbline-reviewer", "carol"),
        ("test-dave-gitops", "plumbline-gitops", "dave"),
        ("test-dave-writer", "test-review-writer", "dave"),
        ("test-alice-writer", "test-review-writer", "alice"),
    ] {
        bind_cluster_role(admin, name, role, user).await;
    }
    // The policy and the bindings take a moment: wait until a dry run by
    // alice is refused by the policy and one by carol admitted.
    let alice = common::client_as("alice").await;
    let carol = common::client_as("carol").await;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body: StandardReview =
            serde_json::from_value(review("probe", "anything", "alice", "Keep", json!({})))
                .unwrap();
        let refused = matches!(
            Api::<StandardReview>::all(alice.clone()).create(&dry, &body).await,
            Err(kube::Error::Api(e)) if e.message.contains("plumbline-reviewer")
        );
        let mut as_carol = body.clone();
        as_carol.spec.reviewed_by = "carol".into();
        let admitted = Api::<StandardReview>::all(carol.clone())
            .create(&dry, &as_carol)
            .await
            .is_ok();
        if refused && admitted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the review policy and roles did not take effect within 30s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls (every 50 ms) until the standard's ReviewRequired condition has
/// this status and reason; returns the standard and how long it took.
async fn review_state(
    standards: &Api<InfrastructureStandard>,
    name: &str,
    status: &str,
    reason: &str,
    log: &std::path::Path,
) -> (InfrastructureStandard, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    loop {
        let s = standards.get(name).await.expect("reading a standard");
        let c = s
            .status
            .as_ref()
            .and_then(|st| condition(&st.conditions, "ReviewRequired"));
        if c.as_ref().is_some_and(|c| c.0 == status && c.1 == reason) {
            return (s, started.elapsed());
        }
        assert!(
            Instant::now() < deadline,
            "standard {name}: ReviewRequired={status} ({reason}) not within 30s; last seen {c:?} (operator log: {})",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn review_condition(s: &InfrastructureStandard) -> (String, String, String) {
    condition(&s.status.as_ref().unwrap().conditions, "ReviewRequired").unwrap()
}

/// The number of Events of this reason about the standard.
async fn standard_events(admin: &Client, reason: &str, standard: &str) -> i32 {
    total(&events_about(admin, "default", reason, standard).await)
}

async fn setup_namespace(admin: &Client, prefix: &str, workloads: &[&str]) -> String {
    let ns = unique(prefix);
    namespace(admin, &ns, json!({})).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    for w in workloads {
        apply(&deployments, w, workload(&ns, w, "nginx:1.27.0", 1)).await;
    }
    ns
}

/// What an operator test here starts from: a standard name of its own, a
/// namespace of its own with these one-replica workloads, and (with
/// `with_reviewers`) the review policy and roles.
struct Setup {
    admin: Client,
    standard: String,
    ns: String,
    standards: Api<InfrastructureStandard>,
}

async fn prepare(prefix: &str, workloads: &[&str], with_reviewers: bool) -> Setup {
    let admin = common::client().await;
    let standard = unique(prefix);
    setup(&admin, &standard).await;
    if with_reviewers {
        reviewers(&admin).await;
    }
    let ns = setup_namespace(&admin, &format!("{prefix}-test"), workloads).await;
    let standards = Api::all(admin.clone());
    Setup {
        admin,
        standard,
        ns,
        standards,
    }
}

/// Stops the operator as Kubernetes does and starts another, waits until it
/// is ready and 2 s more: whatever a restart would raise, it has by then.
async fn restart(operator: Operator, name: &str) -> Operator {
    operator.terminate();
    let operator = Operator::start(name, &[]);
    eventually(
        "the restarted operator is ready",
        &operator.log,
        || async { http_get(&operator.metrics_addr().await, "/readyz").0 },
        |code| *code == 200,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    operator
}

#[tokio::test]
async fn reviews_cannot_be_forged_edited_or_dated_in_the_past() {
    let _serial = one_at_a_time().await;
    let admin = common::client().await;
    common::install_crds(&admin).await;
    reviewers(&admin).await;
    let standard = unique("forgery");
    let alice = common::client_as("alice").await;
    let carol = common::client_as("carol").await;
    let dave = common::client_as("dave").await;

    // Without the verb `review`: refused, naming the role to ask for.
    let refused = create_review(
        &alice,
        review(
            &format!("{standard}-alice"),
            &standard,
            "alice",
            "Keep",
            json!({}),
        ),
    )
    .await
    .expect_err("alice holds no review verb");
    assert!(
        refused.to_string().contains("may not review")
            && refused.to_string().contains("plumbline-reviewer"),
        "{refused}"
    );

    // A reviewer writing someone else's name: refused.
    let forged = create_review(
        &carol,
        review(
            &format!("{standard}-forged"),
            &standard,
            "bob",
            "Keep",
            json!({}),
        ),
    )
    .await
    .expect_err("a forged reviewedBy");
    assert!(
        forged
            .to_string()
            .contains("your own user name (carol), not bob"),
        "{forged}"
    );

    // nextReviewBy already passed, by the API server's clock: refused.
    let past = create_review(
        &carol,
        review(
            &format!("{standard}-past"),
            &standard,
            "carol",
            "Keep",
            json!({"nextReviewBy": "2020-01-01T00:00:00Z"}),
        ),
    )
    .await
    .expect_err("a next review in the past");
    assert!(
        past.to_string().contains("spec.nextReviewBy")
            && past.to_string().contains("has already passed"),
        "{past}"
    );

    // The reviewer in their own name: admitted.
    let name = format!("{standard}-carol");
    create_review(
        &carol,
        review(
            &name,
            &standard,
            "carol",
            "Keep",
            json!({"nextReviewBy": in_seconds(3600).to_string(), "ticket": "ARCH-1"}),
        ),
    )
    .await
    .expect("carol reviews in her own name");

    // What a review recorded in its status stays as recorded, whoever
    // writes the status (here an admin; the operator never tries).
    let api: Api<StandardReview> = Api::all(admin.clone());
    let record = |n: i32, names: &[&str]| {
        let names: Vec<Value> = names
            .iter()
            .map(|n| json!({"name": n, "generation": 1}))
            .collect();
        json!({"status": {
            "exceptions": names,
            "atReview": {"activeExceptions": n, "matched": 10, "excepted": n, "exceptedPercent": n * 10, "standardGeneration": 1},
        }})
    };
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&record(1, &["a/e1"])),
    )
    .await
    .expect("the first record is written");
    for (what, patch) in [
        ("atReview", record(2, &["a/e1"])),
        ("exceptions", record(1, &["a/e1", "a/e2"])),
        ("exceptions", json!({"status": {"exceptions": null}})),
    ] {
        let refused = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect_err("a recorded review cannot be widened");
        assert!(
            refused.to_string().contains(&format!("status.{what}")),
            "{refused}"
        );
    }
    // No finalizer (a deleted review kept counting) and no owner (the
    // garbage collector deleting it for the reviewer).
    for (field, value) in [
        ("finalizers", json!(["example.com/keep"])),
        (
            "ownerReferences",
            json!([{"apiVersion": "v1", "kind": "Namespace", "name": "gone", "uid": "0b6e3c1a-0000-4000-8000-000000000000"}]),
        ),
    ] {
        let mut body = review(
            &format!("{standard}-meta"),
            &standard,
            "carol",
            "Keep",
            json!({}),
        );
        body["metadata"][field] = value;
        let refused = create_review(&carol, body)
            .await
            .expect_err("a review with finalizers or owners");
        assert!(
            refused
                .to_string()
                .contains("no finalizers and no ownerReferences"),
            "{refused}"
        );
    }
    // A record: nobody edits its spec, not even an admin.
    let edit = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"outcome": "Retire"}})),
        )
        .await
        .expect_err("a review's spec is immutable");
    assert!(
        edit.to_string().contains("cannot change"),
        "the refusal says why: {edit}"
    );
    let as_carol: Api<StandardReview> = Api::all(carol.clone());
    assert!(
        as_carol
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"summary": "Something else entirely."}})),
            )
            .await
            .is_err(),
        "nor does its reviewer"
    );

    // GitOps on behalf of the reviewer named in the repository: admitted.
    create_review(
        &dave,
        review(
            &format!("{standard}-gitops"),
            &standard,
            "erin",
            "Revise",
            json!({}),
        ),
    )
    .await
    .expect("dave applies a review on erin's behalf");

    for n in ["carol", "gitops"] {
        let _ = api
            .delete(&format!("{standard}-{n}"), &DeleteParams::default())
            .await;
    }
}

#[tokio::test]
async fn a_review_clears_the_alarm_until_a_new_exception_and_a_restart_raises_nothing() {
    let _serial = one_at_a_time().await;
    let Setup {
        admin,
        standard,
        ns,
        standards,
    } = prepare("reviewed", &["a", "b", "c"], true).await;
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    let exceptions: Api<StandardException> = Api::namespaced(admin.clone(), &ns);
    for w in ["a", "b"] {
        let name = format!("{w}-scale");
        apply(&exceptions, &name, exception(&ns, &name, &standard, w)).await;
    }
    let operator = Operator::start(&standard, &[]);
    let log = operator.log.clone();
    let (s, _) = review_state(
        &standards,
        &standard,
        "True",
        "ActiveExceptionsAtThreshold",
        &log,
    )
    .await;
    assert!(
        review_condition(&s).2.contains("StandardReview"),
        "the alarm says how to answer it"
    );
    eventually(
        "one StandardReviewRequired Event",
        &log,
        || standard_events(&admin, "StandardReviewRequired", &standard),
        |n| *n == 1,
    )
    .await;

    // carol records a review: the alarm clears within a second.
    let carol = common::client_as("carol").await;
    let first = format!("{standard}-1");
    create_review(
        &carol,
        review(&first, &standard, "carol", "Keep", json!({})),
    )
    .await
    .expect("carol reviews");
    let (s, took) = review_state(&standards, &standard, "False", "Reviewed", &log).await;
    assert!(took < Duration::from_secs(1), "cleared in {took:?}");
    let message = review_condition(&s).2;
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    for word in ["carol", today.as_str(), "Keep", "no next review date"] {
        assert!(message.contains(word), "{word} in {message}");
    }
    let summary = s
        .status
        .as_ref()
        .unwrap()
        .review
        .clone()
        .expect("status.review");
    assert_eq!(
        (summary.name.as_str(), summary.reviewed_by.as_str()),
        (first.as_str(), "carol")
    );
    eventually(
        "one StandardReviewed Event",
        &log,
        || standard_events(&admin, "StandardReviewed", &standard),
        |n| *n == 1,
    )
    .await;
    // The metrics say so (once the pass is done), labelled by standard only.
    let labelled = format!("{{standard=\"{standard}\"}}");
    let metrics = eventually(
        "the review metrics",
        &log,
        || async { http_get(&operator.metrics_addr().await, "/metrics").1 },
        |m| m.contains(&format!("plumbline_standard_days_since_review{labelled}")),
    )
    .await;
    assert!(
        metrics.contains(&format!("plumbline_review_required{labelled} 0")),
        "{metrics}"
    );
    assert!(
        operator
            .metric("plumbline_standards_by_review_state{state=\"reviewed\"}")
            .await
            >= 1.0
    );
    // The review records what it saw, once.
    let reviews: Api<StandardReview> = Api::all(admin.clone());
    let r = eventually(
        "the review is recorded",
        &log,
        || async { reviews.get(&first).await.expect("the review") },
        |r| r.status.as_ref().is_some_and(|s| s.at_review.is_some()),
    )
    .await;
    let st = r.status.unwrap();
    assert_eq!(st.current, Some(true));
    let recorded: Vec<(String, i64)> = st
        .exceptions
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.generation))
        .collect();
    assert_eq!(
        recorded,
        [(format!("{ns}/a-scale"), 1), (format!("{ns}/b-scale"), 1)]
    );
    let at = st.at_review.unwrap();
    assert_eq!((at.active_exceptions, at.matched, at.excepted), (2, 3, 2));
    assert_eq!(
        at.standard_uid, s.metadata.uid,
        "recorded for this standard"
    );

    // A new active exception the review did not consider: the alarm is back
    // within a second, with its own reason and one more Event.
    let started = Instant::now();
    apply(
        &exceptions,
        "c-scale",
        exception(&ns, "c-scale", &standard, "c"),
    )
    .await;
    let (s, _) = review_state(
        &standards,
        &standard,
        "True",
        "NewExceptionsSinceReview",
        &log,
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "back in {took:?}");
    assert!(review_condition(&s).2.contains(&format!("{ns}/c-scale")));
    eventually(
        "a second StandardReviewRequired Event",
        &log,
        || standard_events(&admin, "StandardReviewRequired", &standard),
        |n| *n == 2,
    )
    .await;
    let recorded = reviews.get(&first).await.unwrap().status.unwrap();
    assert_eq!(
        recorded.exceptions.as_ref().map(Vec::len),
        Some(2),
        "what a review recorded never changes"
    );

    // A restart raises nothing: the stored status already shows every transition.
    let operator = restart(operator, &format!("{standard}-restarted")).await;
    let log = operator.log.clone();
    assert_eq!(
        standard_events(&admin, "StandardReviewRequired", &standard).await,
        2
    );
    assert_eq!(
        standard_events(&admin, "StandardReviewed", &standard).await,
        1
    );

    // A second review covers all three; the first is no longer current.
    let second = format!("{standard}-2");
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later second
    create_review(
        &carol,
        review(&second, &standard, "carol", "Keep", json!({})),
    )
    .await
    .expect("carol reviews again");
    review_state(&standards, &standard, "False", "Reviewed", &log).await;
    eventually(
        "the first review is superseded",
        &log,
        || async { reviews.get(&first).await.unwrap().status.unwrap().current },
        |c| *c == Some(false),
    )
    .await;
    eventually(
        "two StandardReviewed Events",
        &log,
        || standard_events(&admin, "StandardReviewed", &standard),
        |n| *n == 2,
    )
    .await;

    // An exception the review covered, widened since (here its expiry
    // extended, and approved again): not covered any more.
    let mut extended = exception(&ns, "c-scale", &standard, "c");
    extended["spec"]["expiresAt"] = json!(in_seconds(60 * 24 * 3600).to_string());
    apply(&exceptions, "c-scale", extended).await;
    let (s, _) = review_state(
        &standards,
        &standard,
        "True",
        "NewExceptionsSinceReview",
        &log,
    )
    .await;
    assert!(
        review_condition(&s)
            .2
            .contains(&format!("(or changed since): {ns}/c-scale")),
        "{}",
        review_condition(&s).2
    );

    // Deleting the current review brings the first back: it is current
    // again, and it did not consider c-scale.
    reviews
        .delete(&second, &DeleteParams::default())
        .await
        .expect("delete the second review");
    review_state(
        &standards,
        &standard,
        "True",
        "NewExceptionsSinceReview",
        &log,
    )
    .await;
    eventually(
        "the first review is current again",
        &log,
        || async { reviews.get(&first).await.unwrap().status.unwrap().current },
        |c| *c == Some(true),
    )
    .await;
    drop(operator);
}

#[tokio::test]
async fn review_dates_take_effect_at_their_second() {
    let _serial = one_at_a_time().await;
    let Setup {
        admin,
        standard,
        ns,
        standards,
    } = prepare("dated", &["a"], true).await;
    let operator = Operator::start(&standard, &[]);
    let log = operator.log.clone();

    // A periodic review on a standard with no exceptions at all: due one
    // interval after its creation.
    let periodic = format!("{standard}-periodic");
    let mut body = replicas_standard(&periodic, &ns);
    body["spec"]["review"] = json!({"interval": "4s"});
    apply(&standards, &periodic, body).await;
    let (s, _) = review_state(&standards, &periodic, "True", "PeriodicReviewDue", &log).await;
    let created = s.metadata.creation_timestamp.clone().unwrap().0;
    let flipped = s
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "ReviewRequired")
        .unwrap()
        .last_transition_time
        .0;
    let after = flipped.duration_since(created);
    assert!(
        after >= jiff::SignedDuration::from_secs(4) && after < jiff::SignedDuration::from_secs(5),
        "due {after:?} after creation, not 4s"
    );
    eventually(
        "one StandardReviewDue Event",
        &log,
        || standard_events(&admin, "StandardReviewDue", &periodic),
        |n| *n == 1,
    )
    .await;

    // A review with nextReviewBy a few seconds ahead: reviewed, then due at
    // that second.
    let carol = common::client_as("carol").await;
    let dated = format!("{standard}-next");
    apply(&standards, &dated, replicas_standard(&dated, &ns)).await;
    review_state(&standards, &dated, "False", "BelowThreshold", &log).await;
    let by = in_seconds(4);
    create_review(
        &carol,
        review(
            &format!("{dated}-r"),
            &dated,
            "carol",
            "Keep",
            json!({"nextReviewBy": by.to_string()}),
        ),
    )
    .await
    .expect("carol reviews");
    let (s, _) = review_state(&standards, &dated, "False", "Reviewed", &log).await;
    assert!(
        review_condition(&s)
            .2
            .contains(&format!("next review due {by}")),
        "{}",
        review_condition(&s).2
    );
    let (s, _) = review_state(&standards, &dated, "True", "ReviewDue", &log).await;
    let now = jiff::Timestamp::now();
    assert!(
        now >= by && now.duration_since(by) < jiff::SignedDuration::from_millis(1500),
        "due at {by}, seen at {now}"
    );
    let at = s
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "ReviewRequired")
        .unwrap()
        .last_transition_time
        .0;
    assert_eq!(at, by, "the transition is stamped at that second");
    eventually(
        "one StandardReviewDue Event",
        &log,
        || standard_events(&admin, "StandardReviewDue", &dated),
        |n| *n == 1,
    )
    .await;
    drop(operator);
}

#[tokio::test]
async fn revise_waits_for_a_new_generation_and_bad_input_is_named() {
    let _serial = one_at_a_time().await;
    let Setup {
        admin,
        standard,
        ns,
        standards,
    } = prepare("revised", &["a"], true).await;
    let reviews: Api<StandardReview> = Api::all(admin.clone());
    let operator = Operator::start(&standard, &[]);
    let log = operator.log.clone();

    // A review of a standard that does not exist yet: Ready=False, and it
    // takes effect when the standard appears.
    let carol = common::client_as("carol").await;
    let name = format!("{standard}-r");
    create_review(
        &carol,
        review(&name, &standard, "carol", "Revise", json!({})),
    )
    .await
    .expect("carol reviews");
    let r = eventually(
        "the review waits for its standard",
        &log,
        || async { reviews.get(&name).await.unwrap() },
        |r| {
            r.status
                .as_ref()
                .and_then(|s| condition(&s.conditions, "Ready"))
                .is_some_and(|c| c.0 == "False" && c.1 == "UnknownStandard")
        },
    )
    .await;
    assert!(
        condition(&r.status.unwrap().conditions, "Ready")
            .unwrap()
            .2
            .contains(&standard)
    );
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    let (s, _) = review_state(&standards, &standard, "False", "RevisionPending", &log).await;
    assert!(review_condition(&s).2.contains("revision pending"));
    eventually(
        "the review is recorded once its standard exists",
        &log,
        || async { reviews.get(&name).await.unwrap() },
        |r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.current == Some(true) && s.at_review.is_some())
        },
    )
    .await;

    // Revising the spec: reviewed, revised in the new generation.
    standards
        .patch(
            &standard,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"description": "Two replicas, revised."}})),
        )
        .await
        .expect("revise the standard");
    let (s, _) = review_state(&standards, &standard, "False", "Reviewed", &log).await;
    assert!(
        review_condition(&s).2.contains("revised in generation 2"),
        "{}",
        review_condition(&s).2
    );

    // supersededBy naming a missing standard, then a cycle: Ready=False,
    // naming it; the standard is still evaluated.
    let other = format!("{standard}-other");
    apply(&standards, &other, replicas_standard(&other, &ns)).await;
    let lifecycle = |to: &str| json!({"spec": {"lifecycle": {"stage": "Deprecated", "supersededBy": to, "sunset": in_seconds(86400).to_string()}}});
    standards
        .patch(
            &standard,
            &PatchParams::default(),
            &Patch::Merge(&lifecycle("nowhere")),
        )
        .await
        .expect("a missing successor is not the schema's to refuse");
    let s = eventually(
        "a missing successor is named",
        &log,
        || async { standards.get(&standard).await.unwrap() },
        |s| {
            s.status
                .as_ref()
                .and_then(|st| condition(&st.conditions, "Ready"))
                .is_some_and(|c| c.1 == "InvalidSuccessor" && c.2.contains("nowhere"))
        },
    )
    .await;
    assert_eq!(s.status.as_ref().unwrap().matched, 1, "still evaluated");
    standards
        .patch(
            &standard,
            &PatchParams::default(),
            &Patch::Merge(&lifecycle(&other)),
        )
        .await
        .unwrap();
    standards
        .patch(
            &other,
            &PatchParams::default(),
            &Patch::Merge(&lifecycle(&standard)),
        )
        .await
        .unwrap();
    let cycle = format!("{standard} → {other} → {standard}");
    eventually(
        "the cycle is named",
        &log,
        || async { standards.get(&standard).await.unwrap() },
        |s| {
            s.status
                .as_ref()
                .and_then(|st| condition(&st.conditions, "Ready"))
                .is_some_and(|c| c.0 == "False" && c.2.contains(&cycle))
        },
    )
    .await;
    // Naming itself is the schema's to refuse.
    let own = standards
        .patch(
            &other,
            &PatchParams::default(),
            &Patch::Merge(&lifecycle(&other)),
        )
        .await
        .expect_err("a standard superseding itself");
    assert!(own.to_string().contains("cannot supersede itself"), "{own}");
    for s in [&standard, &other] {
        let _ = standards.delete(s, &DeleteParams::default()).await;
    }
    drop(operator);
}

/// The objects of a test namespace and its standards as one YAML stream,
/// as `kubectl get -o yaml` gives them: what `plumbline audit` reads.
fn dump(ns: &str, standards: &[&str]) -> std::path::PathBuf {
    let mut yaml = String::new();
    for what in ["namespace", "deployments", "infrastructurestandards"] {
        let mut cmd = common::kubectl();
        cmd.args(["get", what, "-o", "yaml"]);
        match what {
            "namespace" => cmd.arg(ns),
            "deployments" => cmd.args(["-n", ns]),
            _ => cmd.args(standards),
        };
        let out = cmd.output().expect("kubectl get");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        yaml.push_str("---\n");
        yaml.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let path = common::controlplane_dir().join(format!("{ns}-dump.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test]
async fn a_deprecated_standard_shows_its_migration_as_audit_does_and_its_sunset_once() {
    let _serial = one_at_a_time().await;
    let Setup {
        admin,
        standard,
        ns,
        standards,
    } = prepare("deprecated", &["a", "b"], false).await;
    // c already runs two replicas and has the successor's label.
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let mut c = workload(&ns, "c", "nginx:1.27.0", 2);
    c["metadata"]["labels"]["tier"] = json!("web");
    apply(&deployments, "c", c).await;
    let successor = format!("{standard}-next");
    let mut next = replicas_standard(&successor, &ns);
    next["spec"]["rules"].as_array_mut().unwrap().push(json!({
        "id": "tier-label", "severity": "Low", "description": "A tier label.",
        "requiredLabels": [{"key": "tier"}]
    }));
    apply(&standards, &successor, next).await;
    let sunset = in_seconds(6);
    let mut old = replicas_standard(&standard, &ns);
    old["spec"]["rules"] = json!([{"id": "image-tag", "severity": "Low", "description": "Tagged images.", "images": {"forbidLatestTag": true}}]);
    old["spec"]["lifecycle"] =
        json!({"stage": "Deprecated", "supersededBy": successor, "sunset": sunset.to_string()});
    apply(&standards, &standard, old).await;
    let operator = Operator::start(&standard, &[]);
    let log = operator.log.clone();

    let s = eventually(
        "the migration is shown",
        &log,
        || async { standards.get(&standard).await.unwrap() },
        |s| {
            s.status
                .as_ref()
                .and_then(|st| st.migration.as_ref())
                .is_some_and(|m| m.matched == 3)
        },
    )
    .await;
    let m = s.status.as_ref().unwrap().migration.clone().unwrap();
    assert_eq!((m.migrated, m.remaining, m.sunset_passed), (1, 2, false));
    let pending: Vec<(String, Vec<String>)> = m
        .pending
        .items
        .iter()
        .map(|p| (p.workload.name.clone(), p.open_rules.clone()))
        .collect();
    assert_eq!(
        pending,
        [
            (
                "a".to_string(),
                vec!["two-replicas".to_string(), "tier-label".to_string()]
            ),
            (
                "b".to_string(),
                vec!["two-replicas".to_string(), "tier-label".to_string()]
            )
        ]
    );
    assert_eq!(
        s.status.as_ref().unwrap().stage,
        Some(plumbline::api::standard::Stage::Deprecated)
    );
    let remaining =
        format!("plumbline_standard_migration_remaining_workloads{{standard=\"{standard}\"}}");
    // `series`, not `metric`: the family is served only once the pass that
    // counts the migration has set it, which may follow the status write;
    // a renamed metric still never reaches 2.
    eventually(
        "the migration metric",
        &log,
        || operator.series(&remaining),
        |n| *n == Some(2.0),
    )
    .await;

    // plumbline audit on the same objects counts the same.
    let dumped = dump(&ns, &[&standard, &successor]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(["audit", "--format", "json"])
        .arg(&dumped)
        .output()
        .expect("plumbline audit");
    // 0 or 1 (deviations at the --fail-on level), never an error.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let audited = report["standards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == standard.as_str())
        .expect("the standard in the audit")["migration"]
        .clone();
    assert_eq!(
        (
            &audited["matched"],
            &audited["migrated"],
            &audited["remaining"]
        ),
        (&json!(3), &json!(1), &json!(2)),
        "{audited}"
    );

    // Each report says it runs on a deprecated standard.
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    let supported = |r: &ComplianceReport| {
        r.status
            .as_ref()
            .and_then(|s| condition(&s.conditions, "StandardsSupported"))
    };
    let a = eventually(
        "a's report names the deprecation",
        &log,
        || async { reports.get_opt("deployment-a").await.unwrap() },
        |r| {
            r.as_ref()
                .and_then(supported)
                .is_some_and(|c| c.0 == "True")
        },
    )
    .await
    .unwrap();
    let (_, reason, message) = supported(&a).unwrap();
    assert_eq!(reason, "DeprecatedStandard");
    assert!(
        message.contains(&successor) && message.contains(&sunset.to_string()),
        "{message}"
    );

    // Past the sunset: one Event with the count not migrated, and the
    // reports' condition turns False.
    eventually(
        "a's report is past the sunset",
        &log,
        || async { reports.get_opt("deployment-a").await.unwrap() },
        |r| {
            r.as_ref()
                .and_then(supported)
                .is_some_and(|c| c.0 == "False" && c.1 == "SunsetPassed")
        },
    )
    .await;
    let events = eventually(
        "one StandardSunsetPassed Event",
        &log,
        || events_about(&admin, "default", "StandardSunsetPassed", &standard),
        |e| total(e) == 1,
    )
    .await;
    assert!(events[0].0.contains("2 of 3"), "{events:?}");
    let operator = restart(operator, &format!("{standard}-restarted")).await;
    assert_eq!(
        standard_events(&admin, "StandardSunsetPassed", &standard).await,
        1
    );
    for s in [&standard, &successor] {
        let _ = standards.delete(s, &DeleteParams::default()).await;
    }
    drop(operator);
}

#[tokio::test]
async fn a_retired_standard_leaves_admission_and_reports() {
    let _serial = one_at_a_time().await;
    let Setup {
        admin,
        standard,
        ns,
        standards,
    } = prepare("retired", &["a"], false).await;
    let mut body = replicas_standard(&standard, &ns);
    body["spec"]["enforcement"] = json!("Warn");
    apply(&standards, &standard, body).await;
    let operator = Operator::start(&standard, &[]);
    let log = operator.log.clone();
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(admin.clone());
    let generated = || async {
        policies
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("plumbline.dev/standard"))
                    == Some(&standard)
            })
            .count()
    };
    eventually("a policy is generated", &log, generated, |n| *n > 0).await;
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    let lists = |r: &Option<ComplianceReport>| {
        r.as_ref()
            .and_then(|r| r.status.as_ref())
            .is_some_and(|s| s.deviations.iter().any(|d| d.standard == standard))
    };
    eventually(
        "a's report lists the standard",
        &log,
        || async { reports.get_opt("deployment-a").await.unwrap() },
        lists,
    )
    .await;

    standards
        .patch(
            &standard,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"lifecycle": {"stage": "Retired"}}})),
        )
        .await
        .expect("retire the standard");
    eventually("its policies are deleted", &log, generated, |n| *n == 0).await;
    eventually(
        "a's report no longer lists it",
        &log,
        || async { reports.get_opt("deployment-a").await.unwrap() },
        |r| r.is_some() && !lists(r),
    )
    .await;
    let s = eventually(
        "the standard shows it is retired",
        &log,
        || async { standards.get(&standard).await.unwrap() },
        |s| {
            s.status.as_ref().and_then(|st| st.stage)
                == Some(plumbline::api::standard::Stage::Retired)
        },
    )
    .await;
    let st = s.status.unwrap();
    assert_eq!(
        condition(&st.conditions, "Ready").map(|c| c.1),
        Some("Retired".into())
    );
    assert_eq!(
        condition(&st.conditions, "Enforced").map(|c| (c.0, c.1)),
        Some(("False".into(), "Retired".into()))
    );
    assert_eq!(st.matched, 0);
    // kubectl get shows the stage.
    let out = common::kubectl()
        .args(["get", "infrastructurestandard", &standard])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("STAGE") && table.contains("Retired"),
        "{table}"
    );
    let _ = standards.delete(&standard, &DeleteParams::default()).await;
    drop(operator);
}

#[tokio::test]
async fn thousands_of_reviews_leave_one_current_and_a_bounded_status() {
    let _serial = one_at_a_time().await;
    let Setup {
        admin,
        standard,
        ns,
        standards,
    } = prepare("history", &["a"], true).await;
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    let reviews: Api<StandardReview> = Api::all(admin.clone());
    // 1,000 reviews, 50 at a time, in admin's name on carol's behalf.
    let names: Vec<String> = (0..1000).map(|i| format!("{standard}-{i:04}")).collect();
    for chunk in names.chunks(50) {
        futures::future::join_all(chunk.iter().map(|n| {
            let admin = admin.clone();
            let n = n.clone();
            let standard = standard.clone();
            async move {
                create_review(&admin, review(&n, &standard, "carol", "Keep", json!({})))
                    .await
                    .expect("a review");
            }
        }))
        .await;
    }
    let operator = Operator::start(&standard, &[]);
    let log = operator.log.clone();
    // The latest: by creation time, then name.
    let all = reviews.list(&Default::default()).await.unwrap().items;
    let latest = all
        .iter()
        .filter(|r| r.spec.standard == standard)
        .max_by_key(|r| {
            (
                r.metadata.creation_timestamp.clone().unwrap().0,
                r.metadata.name.clone(),
            )
        })
        .unwrap()
        .metadata
        .name
        .clone()
        .unwrap();
    let s = eventually(
        "the standard names the latest review",
        &log,
        || async { standards.get(&standard).await.unwrap() },
        |s| {
            s.status
                .as_ref()
                .and_then(|st| st.review.as_ref())
                .is_some_and(|r| r.name == latest)
        },
    )
    .await;
    let size = serde_json::to_string(&s.status).unwrap().len();
    assert!(
        size < 8 * 1024,
        "the standard's status stays small: {size} bytes"
    );
    let current = eventually(
        "exactly one review is current",
        &log,
        || async {
            reviews
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|r| r.spec.standard == standard)
                .map(|r| r.status.and_then(|s| s.current))
                .collect::<Vec<_>>()
        },
        |c| c.iter().all(Option::is_some) && c.iter().filter(|c| **c == Some(true)).count() == 1,
    )
    .await;
    assert_eq!(current.len(), 1000);
    let _ = standards.delete(&standard, &DeleteParams::default()).await;
    let params = DeleteParams::default();
    for chunk in names.chunks(100) {
        futures::future::join_all(chunk.iter().map(|n| reviews.delete(n, &params))).await;
    }
    drop(operator);
}
