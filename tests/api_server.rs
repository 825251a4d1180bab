//! Integration tests against a real kube-apiserver and etcd (started by
//! `tests/controlplane/up.sh`): the CRDs install, the examples apply, and
//! invalid objects are refused with messages that name the field.

mod common;

use std::{path::Path, time::Duration};

use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, Patch, PatchParams},
    core::GroupVersionKind,
    discovery::{self, Scope},
};

/// Applies one document with server-side apply and strict field validation,
/// as `kubectl apply --server-side` does.
async fn apply(client: &Client, doc: &serde_json::Value) -> Result<DynamicObject, kube::Error> {
    let obj: DynamicObject = serde_json::from_value(doc.clone()).expect("a Kubernetes object");
    let types = obj.types.clone().expect("apiVersion and kind");
    let gvk = GroupVersionKind::try_from(&types).expect("a valid apiVersion");
    let (resource, caps) = discovery::pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            obj.namespace().as_deref().unwrap_or("default"),
            &resource,
        ),
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let params = PatchParams::apply(common::MANAGER)
        .force()
        .validation_strict();
    api.patch(&obj.name_any(), &params, &Patch::Apply(&obj))
        .await
}

/// Applies a document, retrying while its namespace is still being set up
/// (a new namespace's default ServiceAccount appears a moment after it).
async fn apply_when_ready(
    client: &Client,
    doc: &serde_json::Value,
) -> Result<DynamicObject, kube::Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match apply(client, doc).await {
            Err(kube::Error::Api(status))
                if status.message.contains("serviceaccount")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

async fn ensure_namespace(client: &Client, name: &str) {
    let doc =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    apply(client, &doc)
        .await
        .unwrap_or_else(|err| panic!("namespace {name}: {err}"));
}

#[tokio::test]
async fn crds_install_and_become_established() {
    let client = common::client().await;
    common::install_crds(&client).await;

    // Each kind is served: listing it works.
    for (kind, crd) in plumbline::api::crds() {
        let gvk = GroupVersionKind::gvk(&crd.spec.group, "v1alpha1", &crd.spec.names.kind);
        let (resource, _) = discovery::pinned_kind(&client, &gvk)
            .await
            .unwrap_or_else(|err| panic!("{kind} is not served: {err}"));
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        api.list(&Default::default())
            .await
            .unwrap_or_else(|err| panic!("listing {kind} failed: {err}"));
    }
}

#[tokio::test]
async fn examples_apply_cleanly_and_are_listed_by_category() {
    let client = common::client().await;
    common::install_crds(&client).await;

    let files = common::example_files();
    assert!(!files.is_empty(), "examples/ holds no YAML");
    let mut docs: Vec<(String, serde_json::Value)> = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable example");
        assert!(
            text.starts_with('#'),
            "{} must start with a comment saying what it shows",
            file.display()
        );
        for doc in common::documents(file) {
            docs.push((file.display().to_string(), doc));
        }
    }
    // Namespaces first, as kubectl and Argo CD order them.
    docs.sort_by_key(|(_, doc)| doc["kind"] != "Namespace");

    let mut failures = Vec::new();
    let mut plumbline_objects = Vec::new();
    for (file, doc) in &docs {
        match apply_when_ready(&client, doc).await {
            Ok(obj) => {
                if doc["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("plumbline.dev/"))
                {
                    plumbline_objects.push(format!(
                        "{}/{}",
                        doc["kind"].as_str().unwrap_or_default().to_lowercase(),
                        obj.name_any()
                    ));
                }
            }
            Err(err) => failures.push(format!(
                "{file}: {} {}: {err}",
                doc["kind"], doc["metadata"]["name"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "examples refused:\n{}",
        failures.join("\n")
    );

    // Every kind appears in the examples except ComplianceReport, which only the operator writes.
    for kind in [
        "infrastructurestandard",
        "standardexception",
        "patchbaseline",
        "serviceownership",
    ] {
        assert!(
            plumbline_objects
                .iter()
                .any(|o| o.starts_with(&format!("{kind}/"))),
            "no {kind} among the examples"
        );
    }

    // Discovery of freshly established CRDs can lag a moment behind.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let output = loop {
        let output = common::kubectl()
            .args(["get", "plumbline", "-A", "-o", "name"])
            .output()
            .expect("kubectl runs");
        if output.status.success() || std::time::Instant::now() > deadline {
            break output;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        output.status.success(),
        "kubectl get plumbline -A failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = String::from_utf8_lossy(&output.stdout);
    for object in &plumbline_objects {
        let (kind, name) = object.split_once('/').expect("kind/name");
        let expected = format!("{kind}.plumbline.dev/{name}");
        assert!(
            listed.lines().any(|line| line == expected),
            "`kubectl get plumbline -A` does not list {expected}; it printed:\n{listed}"
        );
    }
}

/// The strings a fixture's `# expect:` lines say the refusal must contain.
fn expectations(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("readable fixture")
        .lines()
        .filter_map(|line| line.strip_prefix("# expect:"))
        .map(|s| s.trim().to_string())
        .collect()
}

#[tokio::test]
async fn invalid_objects_are_refused_with_field_level_messages() {
    let client = common::client().await;
    common::install_crds(&client).await;
    ensure_namespace(&client, "invalid-fixtures").await;

    let files = common::yaml_files(&common::repo_root().join("tests/fixtures/invalid"));
    assert!(
        files.len() >= 20,
        "expected at least 20 invalid fixtures, found {}",
        files.len()
    );

    let mut kinds = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for file in &files {
        let expected = expectations(file);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let docs = common::documents(file);
        assert_eq!(docs.len(), 1, "{} must hold one object", file.display());
        kinds.insert(docs[0]["kind"].as_str().unwrap_or_default().to_string());

        // Created as a user would, with kubectl (strict field validation).
        let output = common::kubectl()
            .args(["create", "-f"])
            .arg(file)
            .output()
            .expect("kubectl runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            failures.push(format!(
                "{}: accepted, but should be refused",
                file.display()
            ));
            continue;
        }
        let missing: Vec<_> = expected
            .iter()
            .filter(|e| !stderr.contains(e.as_str()))
            .collect();
        if !missing.is_empty() {
            failures.push(format!(
                "{}: refused, but the message lacks {missing:?}: {stderr}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let all: std::collections::BTreeSet<String> = plumbline::api::crds()
        .into_iter()
        .map(|(kind, _)| kind.to_string())
        .collect();
    assert_eq!(kinds, all, "the invalid fixtures must cover every kind");
}

#[tokio::test]
async fn deploy_manifests_apply_cleanly() {
    let client = common::client().await;
    common::install_crds(&client).await;
    common::kubectl_apply(&["deploy/namespace.yaml"]);
    let output = common::kubectl()
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            common::MANAGER,
            "-k",
        ])
        .arg(common::repo_root().join("deploy"))
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "deploy/ was refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The operator's service account may read workloads but never change them.
    let can = |verb: &str, resource: &str| {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let output = common::kubectl()
            .args([
                "auth",
                "can-i",
                verb,
                resource,
                "--all-namespaces",
                "--subresource",
                subresource,
            ])
            .args(["--as", "system:serviceaccount:plumbline-system:plumbline"])
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&output.stdout).trim() == "yes"
    };
    for resource in [
        "deployments.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "cronjobs.batch",
        "jobs.batch",
        "pods",
    ] {
        assert!(can("list", resource), "the operator cannot list {resource}");
        for verb in ["create", "update", "patch", "delete"] {
            assert!(
                !can(verb, resource),
                "the operator may {verb} {resource}: workloads must stay read-only"
            );
        }
    }
    assert!(can("patch", "compliancereports.plumbline.dev"));
    assert!(can("patch", "infrastructurestandards.plumbline.dev/status"));
    assert!(
        !can("patch", "infrastructurestandards.plumbline.dev"),
        "the operator must not edit standards"
    );
}
