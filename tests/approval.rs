//! The shipped admission policy (deploy/admission/exception-approval.yaml)
//! makes the API server enforce who requests and who may approve a
//! StandardException, tried with real users: alice requests, bob approves,
//! carol may not; nobody writes someone else's name as the requester (unless
//! granted `request-on-behalf`), and the requester never changes.

mod common;

use std::time::Duration;

use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use plumbline::api::StandardException;
use serde_json::json;

const NS: &str = "approval-test";

fn exception(name: &str, approved_by: Option<&str>) -> StandardException {
    exception_by(name, "alice", approved_by)
}

fn exception_by(name: &str, requester: &str, approved_by: Option<&str>) -> StandardException {
    let mut spec = json!({
        "target": {"standard": "baseline-security", "rules": ["run-as-non-root"]},
        "workloads": {"names": [{"kind": "Deployment", "name": "cart"}]},
        "justification": "The vendor image runs as root until its next release.",
        "requestedBy": requester,
        "expiresAt": "2027-01-31T00:00:00Z",
    });
    if let Some(approver) = approved_by {
        spec["approvedBy"] = json!(approver);
    }
    serde_json::from_value(json!({
        "apiVersion": "plumbline.dev/v1alpha1",
        "kind": "StandardException",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }))
    .expect("a valid exception")
}

/// The API server's refusal message, or a panic when the write went through.
fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) -> String {
    match result {
        Ok(obj) => panic!("{what}: accepted, but should be refused: {obj:?}"),
        Err(kube::Error::Api(status)) => status.message,
        Err(err) => panic!("{what}: failed for another reason: {err}"),
    }
}

async fn set_approver(
    client: &Client,
    name: &str,
    approver: &str,
) -> Result<StandardException, kube::Error> {
    let api: Api<StandardException> = Api::namespaced(client.clone(), NS);
    let patch = json!({"spec": {"approvedBy": approver}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

#[tokio::test]
async fn only_approvers_approve_and_only_in_their_own_name() {
    let admin = common::client().await;
    common::install_crds(&admin).await;
    common::kubectl_apply(&[
        "deploy/user-roles.yaml",
        "deploy/admission/exception-approval.yaml",
    ]);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    namespaces
        .patch(NS, &PatchParams::apply(common::MANAGER), &Patch::Apply(&ns))
        .await
        .expect("namespace");
    // alice and carol edit the namespace (the built-in role, which aggregates
    // plumbline-edit); bob also approves.
    let rbac: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(admin.clone(), NS);
    for (name, role, user) in [
        ("alice-edit", "edit", "alice"),
        ("bob-edit", "edit", "bob"),
        ("carol-edit", "edit", "carol"),
        ("bob-approve", "plumbline-approver", "bob"),
        ("carol-on-behalf", "plumbline-gitops", "carol"),
    ] {
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": NS},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        });
        rbac.patch(
            name,
            &PatchParams::apply(common::MANAGER),
            &Patch::Apply(&binding),
        )
        .await
        .expect("role binding");
    }
    let alice = common::client_as("alice").await;
    let bob = common::client_as("bob").await;
    let carol = common::client_as("carol").await;
    let as_alice: Api<StandardException> = Api::namespaced(alice.clone(), NS);
    let as_bob: Api<StandardException> = Api::namespaced(bob.clone(), NS);
    for name in ["pending", "approved", "forged", "own", "for-dave"] {
        let _ = Api::<StandardException>::namespaced(admin.clone(), NS)
            .delete(name, &DeleteParams::default())
            .await;
    }

    // Role aggregation and the policy take a moment to become active: wait
    // until alice may create exceptions and the policy refuses her approving one.
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let message = loop {
        match as_alice
            .create(&dry_run, &exception("probe", Some("bob")))
            .await
        {
            Err(kube::Error::Api(status)) if status.message.contains("may not approve") => {
                break status.message;
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the approval policy did not take effect within 60s; last answer: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    assert!(
        message.contains("alice may not approve standardexceptions in namespace approval-test"),
        "{message}"
    );

    // alice requests without approval: allowed.
    as_alice
        .create(&PostParams::default(), &exception("pending", None))
        .await
        .expect("alice may request an exception");

    // alice cannot approve her own request, in any spelling (the schema's CEL rule).
    let message = refusal(
        set_approver(&alice, "pending", "Alice").await,
        "alice approving her own exception",
    );
    assert!(
        message.contains("approvedBy must differ from requestedBy"),
        "{message}"
    );

    // carol, who may edit but not approve, cannot approve it.
    let message = refusal(
        set_approver(&carol, "pending", "carol").await,
        "carol approving",
    );
    assert!(message.contains("carol may not approve"), "{message}");

    // bob may approve, but only in his own name.
    let message = refusal(
        set_approver(&bob, "pending", "dave").await,
        "bob approving as dave",
    );
    assert!(
        message.contains("approve with your own user name (bob), not dave"),
        "{message}"
    );
    let approved = set_approver(&bob, "pending", "bob")
        .await
        .expect("bob approves as bob");
    assert_eq!(approved.spec.approved_by.as_deref(), Some("bob"));

    // Once approved, alice cannot quietly extend it...
    let extend = json!({"spec": {"expiresAt": "2030-01-01T00:00:00Z"}});
    let message = refusal(
        as_alice
            .patch("pending", &PatchParams::default(), &Patch::Merge(&extend))
            .await,
        "alice extending an approved exception",
    );
    assert!(message.contains("this exception is approved"), "{message}");
    // ...but she may withdraw the approval and change it, which needs approval again.
    let reopen = json!({"spec": {"approvedBy": null, "expiresAt": "2030-01-01T00:00:00Z"}});
    let reopened = as_alice
        .patch("pending", &PatchParams::default(), &Patch::Merge(&reopen))
        .await
        .expect("alice may withdraw the approval to change her exception");
    assert_eq!(reopened.spec.approved_by, None);

    // The requester never changes, whoever asks.
    let rename = json!({"spec": {"requestedBy": "carol"}});
    let message = refusal(
        as_alice
            .patch("pending", &PatchParams::default(), &Patch::Merge(&rename))
            .await,
        "alice changing the requester",
    );
    assert!(
        message.contains("spec.requestedBy cannot be changed (it is alice)"),
        "{message}"
    );
    let message = refusal(
        as_bob
            .patch("pending", &PatchParams::default(), &Patch::Merge(&rename))
            .await,
        "an approver changing the requester",
    );
    assert!(
        message.contains("spec.requestedBy cannot be changed"),
        "{message}"
    );

    // An approver cannot approve his own request by writing another name as requester...
    let message = refusal(
        as_bob
            .create(
                &PostParams::default(),
                &exception_by("forged", "dave", Some("bob")),
            )
            .await,
        "bob creating an exception requested by 'dave' and approved by himself",
    );
    assert!(
        message.contains("request exceptions in your own user name (bob), not dave"),
        "{message}"
    );
    // ...nor approve one he requested in his own name (the schema refuses it).
    as_bob
        .create(&PostParams::default(), &exception_by("own", "bob", None))
        .await
        .expect("bob may request an exception in his own name");
    let message = refusal(
        set_approver(&bob, "own", "bob").await,
        "bob approving his own request",
    );
    assert!(
        message.contains("approvedBy must differ from requestedBy"),
        "{message}"
    );

    // Nobody requests exceptions in a namespace they cannot edit.
    let elsewhere: Api<StandardException> = Api::namespaced(alice.clone(), "default");
    let mut other = exception_by("elsewhere", "alice", None);
    other.metadata.namespace = Some("default".into());
    let message = refusal(
        elsewhere.create(&PostParams::default(), &other).await,
        "alice requesting an exception in another team's namespace",
    );
    assert!(message.contains("forbidden"), "{message}");

    // A GitOps identity granted request-on-behalf applies requests written by
    // others, but approving them still takes an approver.
    let as_carol: Api<StandardException> = Api::namespaced(carol.clone(), NS);
    as_carol
        .create(
            &PostParams::default(),
            &exception_by("for-dave", "dave", None),
        )
        .await
        .expect("carol (request-on-behalf) applies dave's request");
    let message = refusal(
        set_approver(&carol, "for-dave", "carol").await,
        "the GitOps identity approving",
    );
    assert!(message.contains("carol may not approve"), "{message}");
    set_approver(&bob, "for-dave", "bob")
        .await
        .expect("an approver approves someone else's request");

    // bob may change an approved exception.
    set_approver(&bob, "pending", "bob")
        .await
        .expect("bob approves alice's changed request");
    let shorten = json!({"spec": {"expiresAt": "2026-12-31T00:00:00Z"}});
    as_bob
        .patch("pending", &PatchParams::default(), &Patch::Merge(&shorten))
        .await
        .expect("an approver may change an approved exception");
}
