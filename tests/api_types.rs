//! The Rust types and the generated schema agree with the YAML users write:
//! every example deserialises into its typed kind and passes the CRDs' CEL
//! rules client-side, and the CEL rules refuse the same invalid fixtures
//! client-side as the API server does. Needs no API server.

mod common;

use plumbline::api::{
    ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership, Severity,
    StandardException,
};
use serde::de::DeserializeOwned;

/// Deserialises a plumbline document into its typed kind and runs its CEL rules.
fn typed_cel(doc: &serde_json::Value) -> Result<Result<(), String>, String> {
    fn check<K>(
        doc: &serde_json::Value,
        validate: fn(&K) -> Result<(), String>,
    ) -> Result<Result<(), String>, String>
    where
        K: DeserializeOwned,
    {
        let obj: K = serde_json::from_value(doc.clone()).map_err(|err| err.to_string())?;
        Ok(validate(&obj))
    }
    match doc["kind"].as_str() {
        Some("InfrastructureStandard") => {
            check::<InfrastructureStandard>(doc, |o| o.validate_cel().map_err(|e| e.to_string()))
        }
        Some("StandardException") => {
            check::<StandardException>(doc, |o| o.validate_cel().map_err(|e| e.to_string()))
        }
        Some("PatchBaseline") => {
            check::<PatchBaseline>(doc, |o| o.validate_cel().map_err(|e| e.to_string()))
        }
        Some("ServiceOwnership") => {
            check::<ServiceOwnership>(doc, |o| o.validate_cel().map_err(|e| e.to_string()))
        }
        Some("ComplianceReport") => {
            check::<ComplianceReport>(doc, |o| o.validate_cel().map_err(|e| e.to_string()))
        }
        Some("StandardReview") => check::<plumbline::api::StandardReview>(doc, |o| {
            o.validate_cel().map_err(|e| e.to_string())
        }),
        other => Err(format!("not a plumbline kind: {other:?}")),
    }
}

#[test]
fn examples_deserialise_into_typed_kinds_and_pass_cel() {
    let mut checked = 0;
    for file in common::yaml_files(&common::repo_root().join("examples")) {
        for doc in common::documents(&file) {
            if !doc["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("plumbline.dev/"))
            {
                continue;
            }
            let name = format!(
                "{} {} {}",
                file.display(),
                doc["kind"],
                doc["metadata"]["name"]
            );
            match typed_cel(&doc) {
                Ok(Ok(())) => checked += 1,
                Ok(Err(err)) => panic!("{name} fails the CEL rules: {err}"),
                Err(err) => panic!("{name} does not deserialise: {err}"),
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} plumbline objects in examples/"
    );
}

/// Fixtures whose refusal comes from a CEL rule: the client-side check gives
/// the same message as the API server.
const CEL_FIXTURES: &[&str] = &[
    "standard-two-checks",
    "standard-no-check",
    "standard-empty-review",
    "standard-negative-max-duration",
    "standard-empty-probes",
    "exception-self-approval",
    "exception-two-targets",
    "exception-no-target",
    "exception-rules-for-baseline",
    "exception-no-workloads",
    "baseline-negative-deadline",
    "baseline-repository-and-pattern",
    "ownership-life-before-support",
    "standard-deprecated-without-sunset",
    "standard-supersedes-itself",
    "standard-zero-review-interval",
];

#[test]
fn cel_rules_refuse_the_same_fixtures_client_side() {
    let dir = common::repo_root().join("tests/fixtures/invalid");
    for name in CEL_FIXTURES {
        let path = dir.join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let message = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("# expect:"))
            .expect("an expect line")
            .trim();
        let doc = common::documents(&path).remove(0);
        match typed_cel(&doc) {
            Ok(Err(err)) => assert!(
                err.contains(message),
                "{name}: client-side CEL said {err:?}, expected {message:?}"
            ),
            Ok(Ok(())) => panic!("{name}: the CEL rules accept it client-side"),
            Err(err) => panic!("{name}: does not deserialise, so CEL never ran: {err}"),
        }
    }
}

#[test]
fn impossible_dates_are_refused_with_what_to_write() {
    let err = serde_json::from_value::<plumbline::api::Date>(serde_json::json!("2027-13-01"))
        .unwrap_err();
    assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
    let ok: plumbline::api::Date = serde_json::from_value(serde_json::json!("2028-02-29")).unwrap();
    assert_eq!(
        serde_json::to_value(ok).unwrap(),
        serde_json::json!("2028-02-29")
    );
}

#[test]
fn severities_parse_case_insensitively_and_order_by_seriousness() {
    assert_eq!("high".parse::<Severity>(), Ok(Severity::High));
    assert_eq!("CRITICAL".parse::<Severity>(), Ok(Severity::Critical));
    assert!(
        "urgent"
            .parse::<Severity>()
            .unwrap_err()
            .contains("Critical, High, Medium, Low")
    );
    assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
}

/// `plumbline audit` refuses every object the API server refuses, naming
/// the same field: the same schema and CEL rules, read from the same CRDs.
#[test]
fn the_audit_refuses_every_invalid_fixture_naming_the_field() {
    let dir = common::repo_root().join("tests/fixtures/invalid");
    let mut problems = Vec::new();
    for path in common::yaml_files(&dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect:"))
            .expect("an expect line")
            .trim();
        // The field: what comes before the first ": " of the API server's message.
        let field = first.split(": ").next().unwrap_or(first);
        let doc = common::documents(&path).remove(0);
        match plumbline::audit::manifest::classify(doc) {
            Ok(_) => problems.push(format!("{}: accepted", path.display())),
            Err(err) if !err.contains(field) => problems.push(format!(
                "{}: refused, but {err:?} does not name {field:?}",
                path.display()
            )),
            Err(_) => {}
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
