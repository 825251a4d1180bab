//! Property tests: no input, however malformed, makes manifest parsing,
//! classification, image parsing or rule compilation panic.

use plumbline::{
    api::InfrastructureStandard,
    audit::manifest,
    engine::{image::ImageRef, image::Version, standard::CompiledStandard},
};
use proptest::prelude::*;

/// Arbitrary JSON values, a few levels deep, with Kubernetes-looking keys.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9:/@._-]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("apiVersion".to_string()),
            Just("kind".to_string()),
            Just("metadata".to_string()),
            Just("spec".to_string()),
            Just("template".to_string()),
            Just("containers".to_string()),
            Just("rules".to_string()),
            Just("image".to_string()),
            Just("items".to_string()),
            "[a-z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Kinds the classifier knows, so that typed parsing is exercised.
fn kind() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop::sample::select(vec![
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "CronJob"),
        ("batch/v1", "Job"),
        ("v1", "Pod"),
        ("v1", "Namespace"),
        ("v1", "List"),
        ("policy/v1", "PodDisruptionBudget"),
        ("plumbline.dev/v1alpha1", "InfrastructureStandard"),
        ("plumbline.dev/v1alpha1", "StandardException"),
        ("plumbline.dev/v1alpha1", "PatchBaseline"),
        ("plumbline.dev/v1alpha1", "ServiceOwnership"),
        ("plumbline.dev/v1alpha1", "ComplianceReport"),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_text_never_panics(text in "(?s).{0,400}", json in any::<bool>()) {
        let _ = manifest::parse("f", &text, json);
    }

    #[test]
    fn parsing_yaml_shaped_text_never_panics(
        lines in prop::collection::vec(
            prop_oneof![
                Just("---".to_string()),
                Just("...".to_string()),
                Just("kind: Deployment".to_string()),
                Just("apiVersion: apps/v1".to_string()),
                Just("items:".to_string()),
                Just("- a".to_string()),
                Just("  - {b: [c".to_string()),
                Just("metadata: {name: x}".to_string()),
                Just("  key: &a value".to_string()),
                Just("  other: *a".to_string()),
                Just("'unterminated".to_string()),
                Just("\t tab".to_string()),
                "[ a-z:{}\\[\\],#&*!|>'\"-]{0,20}",
            ],
            0..30,
        )
    ) {
        let text = lines.join("\n");
        let (docs, _) = manifest::parse("f", &text, false);
        for doc in docs {
            let _ = manifest::classify(doc.value);
        }
    }

    #[test]
    fn classifying_any_object_never_panics((api_version, kind) in kind(), body in json()) {
        let mut doc = match body {
            serde_json::Value::Object(m) => serde_json::Value::Object(m),
            other => serde_json::json!({"spec": other}),
        };
        doc["apiVersion"] = api_version.into();
        doc["kind"] = kind.into();
        let _ = manifest::classify(doc);
    }

    #[test]
    fn image_references_and_versions_never_panic(s in "(?s).{0,80}") {
        let image = ImageRef::parse(&s);
        let _ = image.repository();
        let _ = image.version();
        let _ = image.to_string();
        let _ = Version::parse(&s);
    }

    #[test]
    fn rule_compilation_never_panics_and_names_the_rule(
        pattern in "(?s).{0,40}",
        operator in "[A-Za-z]{0,12}",
        capability in ".{0,10}",
    ) {
        let standard: InfrastructureStandard = serde_json::from_value(serde_json::json!({
            "apiVersion": "plumbline.dev/v1alpha1",
            "kind": "InfrastructureStandard",
            "metadata": {"name": "p"},
            "spec": {
                "match": {"selector": {"matchExpressions": [{"key": "k", "operator": operator, "values": ["v"]}]}},
                "rules": [
                    {"id": "labels", "severity": "Low", "description": "d",
                     "requiredLabels": [{"key": "team", "valuePattern": pattern}]},
                    {"id": "images", "severity": "Low", "description": "d",
                     "images": {"forbidden": [pattern]}},
                    {"id": "caps", "severity": "Low", "description": "d",
                     "securityContext": {"dropCapabilities": [capability]}},
                ]
            }
        })).unwrap();
        let compiled = CompiledStandard::new(&standard);
        if let Err(err) = &compiled.compiled {
            let named = err.contains("rule labels") || err.contains("spec.match.selector");
            prop_assert!(named, "{}", err);
        }
    }
}
