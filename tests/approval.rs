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

/// Approves as `approver` what the exception says now: its generation, as
/// `plumbline approve` does.
async fn set_approver(
    client: &Client,
    name: &str,
    approver: &str,
) -> Result<StandardException, kube::Error> {
    set_approver_in(client, NS, name, approver).await
}

async fn set_approver_in(
    client: &Client,
    ns: &str,
    name: &str,
    approver: &str,
) -> Result<StandardException, kube::Error> {
    let api: Api<StandardException> = Api::namespaced(client.clone(), ns);
    let generation = api.get(name).await?.metadata.generation;
    let patch = json!({"spec": {"approvedBy": approver, "approvedGeneration": generation}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

/// The exception's generation now.
async fn generation(api: &Api<StandardException>, name: &str) -> i64 {
    api.get(name)
        .await
        .expect("the exception")
        .metadata
        .generation
        .expect("a generation")
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

    // An approver approves alice's changed request, but does not change it
    // himself: only the requester does, withdrawing the approval.
    set_approver(&bob, "pending", "bob")
        .await
        .expect("bob approves alice's changed request");
    let shorten = json!({"spec": {"expiresAt": "2026-12-31T00:00:00Z",
        "approvedGeneration": generation(&as_bob, "pending").await}});
    let message = refusal(
        as_bob
            .patch("pending", &PatchParams::default(), &Patch::Merge(&shorten))
            .await,
        "an approver changing someone else's request",
    );
    assert!(
        message.contains("only the requester (alice) may change this request"),
        "{message}"
    );
}

/// The approval policy and roles installed, and a namespace of its own for
/// a test: the administrator's client and the namespace.
async fn approval_namespace(prefix: &str) -> (Client, String) {
    let admin = common::client().await;
    common::install_crds(&admin).await;
    common::kubectl_apply(&[
        "deploy/user-roles.yaml",
        "deploy/admission/exception-approval.yaml",
    ]);
    let ns = format!("{prefix}-{}", std::process::id());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::apply(common::MANAGER),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            ),
        )
        .await
        .expect("namespace");
    (admin, ns)
}

/// Binds a ClusterRole to a subject in a namespace.
async fn bind_subject(
    admin: &Client,
    ns: &str,
    name: &str,
    subject: serde_json::Value,
    role: &str,
) {
    let rbac: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(admin.clone(), ns);
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    });
    rbac.patch(
        name,
        &PatchParams::apply(common::MANAGER).force(),
        &Patch::Apply(&binding),
    )
    .await
    .expect("role binding");
}

/// Binds a ClusterRole to a user in a namespace.
async fn bind(admin: &Client, ns: &str, user: &str, role: &str) {
    let subject = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user});
    bind_subject(admin, ns, &format!("{user}-{role}"), subject, role).await;
}

/// Retries `attempt` while RBAC has not caught up (403 from the authorizer,
/// not from a policy); its last answer.
async fn once_authorized<T, F: std::future::Future<Output = Result<T, kube::Error>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, kube::Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match attempt().await {
            Err(kube::Error::Api(s))
                if s.code == 403
                    && s.message.contains("cannot")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Every way around approval found by trying as an attacker: a rewritten
/// approved request, an approval of something other than what was read,
/// one person on both sides through a service account or impersonation,
/// a selector that covers everything. Each refused, each legitimate
/// neighbour admitted.
#[tokio::test]
async fn approvals_bind_to_what_was_read_and_take_a_second_person() {
    let (admin, ns) = approval_namespace("approval-attack").await;
    for (user, role) in [
        ("alice", "edit"),
        ("bob", "edit"),
        ("bob", "plumbline-approver"),
        ("carol", "edit"),
        ("carol", "plumbline-approver"),
        ("dave", "plumbline-approver"),
    ] {
        bind(&admin, &ns, user, role).await;
    }
    let api = |c: &Client| Api::<StandardException>::namespaced(c.clone(), &ns);
    let (alice, bob, carol, dave) = (
        common::client_as("alice").await,
        common::client_as("bob").await,
        common::client_as("carol").await,
        common::client_as("dave").await,
    );
    let in_ns = |mut e: StandardException| {
        e.metadata.namespace = Some(ns.clone());
        e
    };

    // 5. An approved request cannot be rewritten under its approval, even by
    //    a requester who is an approver himself.
    once_authorized(|| async {
        api(&bob)
            .create(
                &PostParams::default(),
                &in_ns(exception_by("narrow", "bob", None)),
            )
            .await
    })
    .await
    .expect("bob requests one rule for one Deployment");
    once_authorized(|| set_approver_in(&carol, &ns, "narrow", "carol"))
        .await
        .expect("carol approves it");
    let widen = json!({"spec": {"target": {"standard": "baseline-security", "rules": null},
        "workloads": {"names": null, "selector": {"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}}}});
    // The API server loads a new or changed policy a moment after it is
    // stored: wait (with a dry run) until it refuses this.
    let dry_run = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api(&bob)
        .patch("narrow", &dry_run, &Patch::Merge(&widen))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the approval policy did not take effect within 30s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let message = refusal(
        api(&bob)
            .patch("narrow", &PatchParams::default(), &Patch::Merge(&widen))
            .await,
        "bob widening his approved request",
    );
    assert!(
        message.contains("approved by carol; a changed request needs a new approval"),
        "{message}"
    );
    let mut rebadged = widen.clone();
    rebadged["spec"]["approvedGeneration"] = json!(generation(&api(&bob), "narrow").await);
    let message = refusal(
        api(&bob)
            .patch("narrow", &PatchParams::default(), &Patch::Merge(&rebadged))
            .await,
        "bob re-approving his own widened request under carol's name",
    );
    assert!(
        message.contains("a changed request needs a new approval"),
        "{message}"
    );
    // Nobody else puts words in the requester's name, approver or not:
    // carol could otherwise write the request and approve it herself.
    let carols = json!({"spec": {"expiresAt": "2027-01-15T00:00:00Z",
        "approvedGeneration": generation(&api(&carol), "narrow").await}});
    let message = refusal(
        api(&carol)
            .patch("narrow", &PatchParams::default(), &Patch::Merge(&carols))
            .await,
        "an approver rewriting and re-approving someone else's request",
    );
    assert!(
        message.contains("only the requester (bob) may change this request"),
        "{message}"
    );
    let message = refusal(
        api(&alice)
            .patch("narrow", &PatchParams::default(), &Patch::Merge(&widen))
            .await,
        "alice (edit) rewriting bob's request",
    );
    assert!(
        message.contains("only the requester (bob) may change this request"),
        "{message}"
    );
    // Legitimate: the requester withdraws the approval with his change.
    let mut withdrawn = widen.clone();
    withdrawn["spec"]["approvedBy"] = json!(null);
    withdrawn["spec"]["approvedGeneration"] = json!(null);
    api(&bob)
        .patch("narrow", &PatchParams::default(), &Patch::Merge(&withdrawn))
        .await
        .expect("bob may change it by withdrawing the approval");

    // 6. An approval binds to the generation the approver read.
    once_authorized(|| async {
        api(&alice)
            .create(&PostParams::default(), &in_ns(exception("read", None)))
            .await
    })
    .await
    .expect("alice requests one rule");
    let read = generation(&api(&dave), "read").await;
    api(&alice)
        .patch("read", &PatchParams::default(), &Patch::Merge(&widen))
        .await
        .expect("alice widens her pending request");
    let stale = json!({"spec": {"approvedBy": "dave", "approvedGeneration": read}});
    let message = refusal(
        once_authorized(|| async {
            api(&dave)
                .patch("read", &PatchParams::default(), &Patch::Merge(&stale))
                .await
        })
        .await,
        "dave approving the generation he read after alice widened it",
    );
    assert!(
        message.contains(&format!("now at generation {}, not {read}", read + 1)),
        "{message}"
    );
    let message = refusal(
        api(&dave)
            .patch(
                "read",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"approvedBy": "dave"}})),
            )
            .await,
        "dave approving without saying what he read",
    );
    assert!(message.contains("spec.approvedGeneration"), "{message}");
    let approved = set_approver_in(&dave, &ns, "read", "dave")
        .await
        .expect("dave approves what he read, someone else's unchanged request");
    assert_eq!(approved.spec.approved_generation, Some(read + 1));

    // 7. One person on both sides through a service account she can mint tokens for.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(admin.clone(), &ns);
    accounts
        .patch(
            "ci",
            &PatchParams::apply(common::MANAGER),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci", "namespace": ns}})),
        )
        .await
        .expect("the CI service account");
    let carol_accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(carol.clone(), &ns);
    let token = carol_accounts
        .create_token_request(
            "ci",
            &PostParams::default(),
            &k8s_openapi::api::authentication::v1::TokenRequest {
                spec: Some(Default::default()),
                ..Default::default()
            },
        )
        .await
        .expect("carol (edit) mints a token for the CI service account")
        .status
        .expect("a status")
        .token
        .expect("a token");
    let ci = common::client_from(&common::kubeconfig_with_token(&format!("ci-{ns}"), &token)).await;
    let sa = format!("system:serviceaccount:{ns}:ci");
    bind_service_account(&admin, &ns, "ci", "edit").await;
    once_authorized(|| async {
        api(&ci)
            .create(
                &PostParams::default(),
                &in_ns(exception_by("by-ci", &sa, None)),
            )
            .await
    })
    .await
    .expect("carol, as the CI service account, requests an exception");
    let message = refusal(
        set_approver_in(&carol, &ns, "by-ci", "carol").await,
        "carol approving what she requested as the service account",
    );
    assert!(
        message.contains(&format!(
            "carol can act as the requester {sa} (create its tokens or impersonate it)"
        )),
        "{message}"
    );
    set_approver_in(&dave, &ns, "by-ci", "dave")
        .await
        .expect("an approver who cannot act as the service account approves it");
    // ...or through impersonating a user.
    let impersonator = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "plumbline-test-impersonate-alice"},
        "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["alice"]}],
    });
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(admin.clone());
    roles
        .patch(
            "plumbline-test-impersonate-alice",
            &PatchParams::apply(common::MANAGER),
            &Patch::Apply(&impersonator),
        )
        .await
        .expect("role");
    let crbs: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(admin.clone());
    crbs.patch(
        "plumbline-test-carol-impersonates-alice",
        &PatchParams::apply(common::MANAGER),
        &Patch::Apply(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "plumbline-test-carol-impersonates-alice"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "plumbline-test-impersonate-alice"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}],
        })),
    )
    .await
    .expect("binding");
    api(&alice)
        .create(&PostParams::default(), &in_ns(exception("alices", None)))
        .await
        .expect("a request of alice's");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let message = loop {
        match set_approver_in(&carol, &ns, "alices", "carol").await {
            Err(kube::Error::Api(s)) if s.message.contains("can act as the requester") => {
                break s.message;
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "carol, who may impersonate alice, approving her request: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(message.contains("(impersonate them)"), "{message}");
    crbs.delete(
        "plumbline-test-carol-impersonates-alice",
        &DeleteParams::default(),
    )
    .await
    .expect("unbind");

    // 8. A selector that covers everything is refused; a real one is not.
    let mut everything = in_ns(exception("everything", None));
    everything.spec.workloads.names = None;
    everything.spec.workloads.selector = Some(Default::default());
    let message = refusal(
        api(&alice)
            .create(&PostParams::default(), &everything)
            .await,
        "an exception with an empty selector",
    );
    assert!(
        message.contains("an empty selector covers every workload"),
        "{message}"
    );
    everything.spec.workloads.selector = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            match_labels: Some([("app".to_string(), "cart".to_string())].into()),
            ..Default::default()
        },
    );
    api(&alice)
        .create(&PostParams::default(), &everything)
        .await
        .expect("a selector with a label");

    // GitOps from a platform path: an identity allowed approve-on-behalf
    // applies a request and its approval, reviewed in the pull request.
    let on_behalf = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "plumbline-test-approve-on-behalf"},
        "rules": [{"apiGroups": ["plumbline.dev"], "resources": ["standardexceptions"],
                   "verbs": ["create", "get", "patch", "update", "request-on-behalf", "approve", "approve-on-behalf"]}],
    });
    roles
        .patch(
            "plumbline-test-approve-on-behalf",
            &PatchParams::apply(common::MANAGER),
            &Patch::Apply(&on_behalf),
        )
        .await
        .expect("role");
    bind(&admin, &ns, "bob", "plumbline-test-approve-on-behalf").await;
    once_authorized(|| async {
        api(&bob)
            .patch(
                "platform-approved",
                &PatchParams::apply("argocd-platform"),
                &Patch::Apply(&in_ns(exception_by(
                    "platform-approved",
                    "alice",
                    Some("platform-lead@example.com"),
                ))),
            )
            .await
    })
    .await
    .expect("the platform's GitOps identity applies an approved request from the platform path");
}

async fn bind_service_account(admin: &Client, ns: &str, account: &str, role: &str) {
    let subject = json!({"kind": "ServiceAccount", "name": account, "namespace": ns});
    bind_subject(admin, ns, &format!("sa-{account}-{role}"), subject, role).await;
}

/// `plumbline` run as `user` with their kubeconfig: exit status, stdout, stderr.
fn plumbline_as(user: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(args)
        .arg("--kubeconfig")
        .arg(common::kubeconfig_as(user))
        .output()
        .expect("plumbline runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// An approver never hand-writes a patch: alice requests with `plumbline
/// request`, bob lists what it covers and approves the generation he read
/// with `plumbline approve`; a request changed after he read it is not approved.
#[tokio::test]
async fn request_list_and_approve_from_the_command_line() {
    let (admin, ns) = approval_namespace("approval-cli").await;
    bind(&admin, &ns, "alice", "edit").await;
    bind(&admin, &ns, "bob", "plumbline-approver").await;
    let request = [
        "request",
        "cart-root",
        "-n",
        &ns,
        "--standard",
        "baseline-security",
        "--rule",
        "run-as-non-root",
        "--workload",
        "Deployment/cart",
        "--justification",
        "The vendor image runs as root until 4.2.",
        "--for",
        "30d",
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (ok, out, err) = loop {
        let answer = plumbline_as("alice", &request);
        if answer.0 || tokio::time::Instant::now() > deadline || !answer.2.contains("forbidden") {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // RBAC catching up
    };
    assert!(ok, "alice requests: {err}");
    assert!(
        out.contains(&format!(
            "created standardexception {ns}/cart-root (generation 1), requested by alice"
        )),
        "{out}"
    );
    let (ok, _, err) = plumbline_as(
        "alice",
        &[
            "request",
            "bad",
            "-n",
            &ns,
            "--standard",
            "s",
            "--justification",
            "long enough text",
            "--expires",
            "2027-01-31T00:00:00Z",
        ],
    );
    assert!(!ok && err.contains("--workload KIND/NAME"), "{err}");

    let (ok, out, err) = plumbline_as("bob", &["exceptions", "list", "-n", &ns, "--pending"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("waives:      standard baseline-security: run-as-non-root"),
        "{out}"
    );
    assert!(out.contains("selects:     Deployment/cart"), "{out}");
    assert!(out.contains("requested:   by alice"), "{out}");
    assert!(
        out.contains(&format!(
            "plumbline approve -n {ns} cart-root --generation 1"
        )),
        "{out}"
    );

    // alice deletes it and creates a wider one of the same name, which
    // starts at generation 1 again: bob's approval of what he read is refused.
    let read_uid = out
        .split("--uid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the listing names the uid")
        .to_string();
    let exceptions: Api<StandardException> = Api::namespaced(common::client_as("alice").await, &ns);
    exceptions
        .delete("cart-root", &Default::default())
        .await
        .expect("alice deletes her request");
    let wider: Vec<&str> = request
        .iter()
        .copied()
        .filter(|a| *a != "--rule" && *a != "run-as-non-root")
        .collect();
    let (ok, _, err) = plumbline_as("alice", &wider);
    assert!(ok, "alice requests again, wider: {err}");
    let (ok, _, err) = plumbline_as(
        "bob",
        &[
            "approve",
            "cart-root",
            "-n",
            &ns,
            "--generation",
            "1",
            "--uid",
            &read_uid,
        ],
    );
    assert!(!ok, "a recreated request must not be approved");
    assert!(
        err.contains("is not the exception you read: it was deleted and created again"),
        "{err}"
    );
    exceptions
        .delete("cart-root", &Default::default())
        .await
        .expect("alice deletes it again");
    let (ok, _, err) = plumbline_as("alice", &request);
    assert!(ok, "alice requests as first: {err}");

    // alice widens it after bob read it: his approval of generation 1 is refused.
    exceptions
        .patch(
            "cart-root",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"target": {"rules": null}}})),
        )
        .await
        .expect("alice widens her pending request");
    let (ok, _, err) = plumbline_as(
        "bob",
        &["approve", "cart-root", "-n", &ns, "--generation", "1"],
    );
    assert!(!ok, "a changed request must not be approved");
    assert!(
        err.contains("changed since you read it: it is at generation 2, not 1"),
        "{err}"
    );
    // alice cannot approve at all; bob approves what it says now.
    let (ok, _, err) = plumbline_as(
        "alice",
        &["approve", "cart-root", "-n", &ns, "--generation", "2"],
    );
    assert!(
        !ok && err.contains("approvedBy must differ from requestedBy"),
        "{err}"
    );
    let (ok, out, err) = plumbline_as(
        "bob",
        &["approve", "cart-root", "-n", &ns, "--generation", "2"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("approved by bob at generation 2"), "{out}");
    let approved = exceptions.get("cart-root").await.expect("the exception");
    assert_eq!(approved.spec.approved_by.as_deref(), Some("bob"));
    assert_eq!(approved.spec.approved_generation, Some(2));
    let (ok, out, _) = plumbline_as("bob", &["exceptions", "list", "-n", &ns, "--pending"]);
    assert!(ok && out.contains("no exceptions found"), "{out}");

    // The same binary is a kubectl plugin through a symlink (`make install` makes it).
    let bin = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_plumbline"),
        bin.path().join("kubectl-plumbline"),
    )
    .expect("symlink");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = std::fs::read_to_string(common::controlplane_dir().join("bin"))
        .expect("the control plane's bin directory");
    let out = std::process::Command::new(std::path::Path::new(kubectl.trim()).join("kubectl"))
        .env("PATH", path)
        .args(["plumbline", "exceptions", "list", "-n", &ns, "--kubeconfig"])
        .arg(common::kubeconfig_as("bob"))
        .output()
        .expect("kubectl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("approved:    by bob"),
        "kubectl plumbline: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
