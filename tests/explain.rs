//! The explanation of one workload (`plumbline explain`, the dashboard's
//! workload page) on the shipped examples, without a cluster: it says what
//! the engine, the audit and the generated admission policies say, and what
//! approving a pending exception would change.

mod common;

use plumbline::{
    admission,
    audit::load::{Loaded, Take},
    explain::{self, AdmissionAction},
};

const AT: &str = "2026-11-24T12:00:00Z";

fn examples() -> Loaded {
    common::load(&common::example_files(), Take::All)
}

fn explain(name: &str) -> explain::Explanation {
    let loaded = examples();
    let i = loaded
        .inputs
        .workloads
        .iter()
        .position(|w| w.name == name)
        .unwrap_or_else(|| panic!("no workload {name} in examples/"));
    explain::explain(&loaded.inputs, AT.parse().unwrap(), i, Default::default())
}

#[test]
fn every_deviation_the_engine_finds_is_explained_with_its_fix_and_rule() {
    let loaded = examples();
    let at = AT.parse().unwrap();
    let eval = plumbline::engine::evaluate(&loaded.inputs, at);
    for (i, v) in eval.workloads.iter().enumerate() {
        let e = explain::explain(&loaded.inputs, at, i, Default::default());
        assert_eq!(e.deviations.len(), v.deviations.len(), "{}", e.name);
        assert_eq!(e.compliant, v.open_deviations().next().is_none());
        for d in &e.deviations {
            assert!(!d.description.is_empty(), "{}: {d:?}", e.name);
            assert!(
                v.deviations.iter().any(|x| *x.standard == d.standard
                    && *x.rule == d.rule
                    && *x.message == d.message),
                "{d:?}"
            );
        }
        // Open deviations come first, most severe first.
        let open_first: Vec<bool> = e.deviations.iter().map(|d| d.exception.is_none()).collect();
        assert!(open_first.windows(2).all(|w| w[0] >= w[1]), "{}", e.name);
    }
}

#[test]
fn admission_refuses_warns_or_leaves_to_the_background_as_the_generated_policies_do() {
    let e = explain("search-frontend");
    // baseline-security is Enforce: its object-local rules are refused.
    assert!(e.admission.refused);
    assert!(
        e.admission
            .refusals
            .contains(&"baseline-security/run-as-non-root".to_string()),
        "{:?}",
        e.admission
    );
    // ownership is Warn; its `owned` rule needs the ServiceOwnerships, so
    // the background alone checks it, and says why.
    let owned = e
        .deviations
        .iter()
        .find(|d| d.rule == "owned")
        .expect("an ownership deviation");
    assert_eq!(owned.admission, AdmissionAction::Background);
    assert!(
        owned
            .admission_note
            .as_deref()
            .unwrap()
            .contains("ServiceOwnerships"),
        "{owned:?}"
    );
    assert!(
        e.admission
            .warnings
            .contains(&"ownership/cost-center".to_string()),
        "{:?}",
        e.admission
    );
    // production-readiness is Audit: recorded only, and its probes are excepted.
    let probes = e.deviations.iter().find(|d| d.rule == "probes").unwrap();
    assert_eq!(probes.admission, AdmissionAction::Audit);
    let covering = probes.exception.as_ref().expect("excepted");
    assert_eq!(
        (covering.name.as_str(), covering.expires_at.as_str()),
        ("frontend-probes", "2027-01-31T00:00:00Z")
    );
    // Every refusal is a rule the generated policy enforces.
    let loaded = examples();
    let eval = plumbline::engine::evaluate(&loaded.inputs, AT.parse().unwrap());
    let generated = admission::generate_all(
        &loaded.inputs,
        &eval,
        &admission::Options::default(),
        eval.at,
    );
    let security = loaded
        .inputs
        .standards
        .iter()
        .position(|s| s.metadata.name.as_deref() == Some("baseline-security"))
        .unwrap();
    for r in &e.admission.refusals {
        let rule = r
            .strip_prefix("baseline-security/")
            .expect("only Enforce refuses");
        assert!(
            generated[security]
                .coverage
                .enforced
                .iter()
                .any(|x| x == rule),
            "{r}"
        );
    }
}

#[test]
fn a_pending_exception_shows_what_approving_it_would_cover() {
    let e = explain("cart");
    let pending = e
        .exceptions
        .iter()
        .find(|x| x.name == "cart-root-user")
        .expect("the pending request selects cart");
    assert_eq!(pending.state, plumbline::api::ExceptionState::Pending);
    assert_eq!(e.would_cover.len(), 1, "{:?}", e.would_cover);
    assert_eq!(e.would_cover[0].name, "cart-root-user");
    assert_eq!(
        e.would_cover[0].deviations,
        ["baseline-security/run-as-non-root"]
    );
    // Today it is open, and refused at admission.
    let root = e
        .deviations
        .iter()
        .find(|d| d.rule == "run-as-non-root")
        .unwrap();
    assert!(root.exception.is_none());
    assert_eq!(root.admission, AdmissionAction::Refuse);
    // Orphan: the problem says what to do.
    assert_eq!(e.owner.state, "Orphan");
    assert!(e.owner.problem.as_deref().unwrap().contains("create one"));
}

#[test]
fn the_owner_comes_with_support_lines_runbook_and_patch_deadline() {
    let e = explain("payments-ledger");
    let service = e.owner.service.as_ref().expect("owned by payments-api");
    assert_eq!(service.team, "payments");
    assert_eq!(service.support_tiers.len(), 3);
    assert_eq!(
        service.runbook.as_deref(),
        Some("https://wiki.example.com/payments/runbook")
    );
    assert!(service.gaps.is_empty());
    let patch = e.patch.as_ref().expect("a baseline applies");
    assert_eq!(patch.state, plumbline::api::PatchState::Behind);
    assert_eq!(patch.due.as_deref(), Some("2026-12-15T00:00:00Z"));
    assert_eq!(patch.images[0].ring.as_deref(), Some("prod"));
    let text = explain::text::render(&e);
    for expected in [
        "StatefulSet payments/payments-ledger:",
        "Second line: payments (payments-oncall@example.com)",
        "runbook: https://wiki.example.com/payments/runbook",
        "Behind, due 2026-12-15T00:00:00Z",
        "excepted by ledger-single-replica until 2027-03-31T00:00:00Z",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    // JSON has the documented field names.
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(
        json["owner"]["service"]["supportTiers"][1]["tier"],
        "Second"
    );
    assert_eq!(json["patch"]["images"][0]["minimumVersion"], "16.6");
}
