//! The committed CRDs under `crds/` are exactly what the types in `src/api`
//! generate. Needs no API server.

use std::collections::BTreeSet;

#[test]
fn committed_crds_match_the_types() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    check_crd_dir(&root.join("crds"));
    check_crd_dir(&root.join("charts/plumbline/crds"));
}

/// The Helm chart ships deploy/'s manifests unchanged.
#[test]
fn chart_files_match_deploy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for source in [
        "deploy/rbac.yaml",
        "deploy/user-roles.yaml",
        "deploy/admission/exception-approval.yaml",
        "deploy/admission/standard-review.yaml",
        "deploy/argocd/argocd-cm.yaml",
    ] {
        let name = std::path::Path::new(source)
            .file_name()
            .expect("a file name");
        let copy = root.join("charts/plumbline/files").join(name);
        let want = std::fs::read_to_string(root.join(source)).expect("deploy/ file");
        let have = std::fs::read_to_string(&copy).unwrap_or_default();
        assert!(
            want == have,
            "{} differs from {source}: run `make crds` and commit the result",
            copy.display()
        );
    }
}

fn check_crd_dir(dir: &std::path::Path) {
    let rendered = plumbline::crdgen::render_all().expect("CRDs render");
    let mut stale = Vec::new();
    for crd in &rendered {
        let path = dir.join(&crd.file_name);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == crd.yaml => {}
            Ok(_) => stale.push(format!(
                "{} ({} differs from the types)",
                crd.kind,
                path.display()
            )),
            Err(err) => stale.push(format!(
                "{} ({} cannot be read: {err})",
                crd.kind,
                path.display()
            )),
        }
    }
    assert!(
        stale.is_empty(),
        "{} is out of date for: {}. Run `make crds` and commit the result.",
        dir.display(),
        stale.join(", ")
    );

    let expected: BTreeSet<String> = rendered.iter().map(|crd| crd.file_name.clone()).collect();
    let present: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    let extra: Vec<_> = present.difference(&expected).collect();
    assert!(
        extra.is_empty(),
        "crds/ holds files no kind generates: {extra:?}; remove them"
    );
}

#[test]
fn every_kind_is_in_the_plumbline_category_with_short_names_and_columns() {
    for (kind, crd) in plumbline::api::crds() {
        let names = &crd.spec.names;
        assert_eq!(
            names.categories.as_deref(),
            Some(&["plumbline".to_string()][..]),
            "{kind} is not in the plumbline category"
        );
        assert!(
            names.short_names.as_ref().is_some_and(|s| !s.is_empty()),
            "{kind} has no short name"
        );
        let version = &crd.spec.versions[0];
        if kind == "ComplianceReport" {
            // Written whole in one request: no status subresource, and spec
            // and status owned as a whole by the operator.
            assert!(version.subresources.is_none(), "{kind} has subresources");
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref());
            let properties = schema
                .and_then(|s| s.properties.as_ref())
                .expect("properties");
            for field in ["spec", "status"] {
                assert_eq!(
                    properties[field].x_kubernetes_map_type.as_deref(),
                    Some("atomic"),
                    "{kind}.{field} is not atomic"
                );
            }
        } else {
            assert!(
                version
                    .subresources
                    .as_ref()
                    .is_some_and(|s| s.status.is_some()),
                "{kind} has no status subresource"
            );
        }
        assert!(
            version
                .additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.len() >= 3),
            "{kind} has too few printer columns"
        );
    }
}

/// Every property of every schema carries a description, so `kubectl explain`
/// teaches each field.
#[test]
fn every_field_has_a_description() {
    fn walk(kind: &str, path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, prop) in props {
                let here = format!("{path}.{name}");
                // apiVersion, kind and metadata are described by Kubernetes itself.
                let standard =
                    path.is_empty() && matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
                if !standard
                    && prop
                        .get("description")
                        .and_then(|d| d.as_str())
                        .is_none_or(str::is_empty)
                {
                    missing.push(format!("{kind}{here}"));
                }
                walk(kind, &here, prop, missing);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(kind, &format!("{path}[]"), items, missing);
        }
    }
    let mut missing = Vec::new();
    for (kind, crd) in plumbline::api::crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema serialises");
        walk(kind, "", &schema["openAPIV3Schema"], &mut missing);
    }
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:#?}"
    );
}

/// `plumbline crd` prints exactly the files of crds/, in name order.
#[test]
fn plumbline_crd_prints_the_committed_files() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .arg("crd")
        .output()
        .expect("plumbline crd runs");
    assert!(out.status.success());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let expected: String = files
        .iter()
        .map(|f| format!("---\n{}", std::fs::read_to_string(f).unwrap()))
        .collect();
    assert!(
        String::from_utf8(out.stdout).unwrap() == expected,
        "`plumbline crd` differs from crds/: run `make crds`"
    );
}
