//! The engine against readable YAML fixtures (tests/fixtures/engine): every
//! check passes and fails where a careful reader says it should, and so do
//! exception states, patch states, ownership and standard summaries. The
//! expectations are annotations on the objects themselves; see the README there.

use std::collections::BTreeSet;

use plumbline::{
    audit::load::{Loaded, Source, Take},
    engine::{self, Owner},
};

const P: &str = "test.plumbline.dev/";

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations
        .as_ref()?
        .get(&format!("{P}{key}"))
        .map(String::as_str)
}

fn check_file(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("readable fixture");
    let at: jiff::Timestamp = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# at:"))
        .unwrap_or_else(|| panic!("{} must start with `# at: RFC3339`", path.display()))
        .trim()
        .parse()
        .expect("an RFC 3339 time");
    let mut loaded = Loaded::default();
    loaded.add(
        &Source {
            name: path.display().to_string(),
            text,
            json: false,
            walked: false,
        },
        Take::All,
    );
    let mut problems: Vec<String> = loaded
        .malformed
        .iter()
        .map(|m| format!("{}: malformed: {}", m.location, m.message))
        .collect();
    let eval = engine::evaluate(&loaded.inputs, at);
    let inputs = &loaded.inputs;
    let mut expectations = 0;

    for (w, v) in inputs.workloads.iter().zip(&eval.workloads) {
        let who = format!("{} {}/{}", w.kind, w.namespace, w.name);
        let get = |k: &str| w.annotations.get(&format!("{P}{k}")).map(String::as_str);
        if let Some(expect) = get("expect") {
            expectations += 1;
            let wanted: Vec<(String, String)> = if expect == "pass" {
                Vec::new()
            } else {
                expect
                    .split(" | ")
                    .map(|e| {
                        let (rule, text) = e.split_once(": ").unwrap_or((e, ""));
                        (rule.trim().to_string(), text.trim().to_string())
                    })
                    .collect()
            };
            let got: BTreeSet<&str> = v.deviations.iter().map(|d| &*d.rule).collect();
            let want: BTreeSet<&str> = wanted.iter().map(|(r, _)| r.as_str()).collect();
            if got != want {
                problems.push(format!(
                    "{who}: deviates from {got:?}, expected {want:?}; messages: {:#?}",
                    v.deviations
                        .iter()
                        .map(|d| format!("{}: {}", d.rule, d.message))
                        .collect::<Vec<_>>()
                ));
            }
            for (rule, text) in &wanted {
                let found = v
                    .deviations
                    .iter()
                    .any(|d| *d.rule == **rule && d.message.contains(text.as_str()));
                if !found && got == want {
                    problems.push(format!(
                        "{who}: no `{rule}` message contains {text:?}; messages: {:#?}",
                        v.deviations
                            .iter()
                            .filter(|d| *d.rule == **rule)
                            .map(|d| &d.message)
                            .collect::<Vec<_>>()
                    ));
                }
            }
        }
        let excepted: BTreeSet<&str> = v
            .deviations
            .iter()
            .filter(|d| d.exception.is_some())
            .map(|d| &*d.rule)
            .collect();
        let want_excepted: BTreeSet<&str> = get("expect-excepted")
            .map(|s| s.split(',').map(str::trim).collect())
            .unwrap_or_default();
        if excepted != want_excepted {
            problems.push(format!(
                "{who}: excepted rules {excepted:?}, expected {want_excepted:?}"
            ));
        }
        if let Some(expect) = get("expect-patch") {
            expectations += 1;
            let got = v
                .patch_state
                .map_or("none".to_string(), |s| format!("{s:?}"));
            if got != expect {
                problems.push(format!(
                    "{who}: patch state {got}, expected {expect}; images: {:#?}",
                    v.patch
                ));
            }
        }
        if let Some(expect) = get("expect-owner") {
            expectations += 1;
            let got = match &v.owner {
                Owner::Owned(_) => "Owned",
                Owner::Orphan => "Orphan",
                Owner::Conflict(_) => "Conflict",
            };
            if got != expect {
                problems.push(format!("{who}: owner {got}, expected {expect}"));
            }
        }
    }

    for (e, v) in inputs.exceptions.iter().zip(&eval.exceptions) {
        if let Some(expect) = annotation(&e.metadata, "expect-state") {
            expectations += 1;
            let (state, reason) = expect.split_once(": ").unwrap_or((expect, ""));
            if format!("{:?}", v.state) != state || (!reason.is_empty() && v.reason != reason) {
                problems.push(format!(
                    "exception {}/{}: {:?} ({}: {}), expected {expect}",
                    v.namespace, v.name, v.state, v.reason, v.message
                ));
            }
        }
    }

    for (s, v) in inputs.standards.iter().zip(&eval.standards) {
        if let Some(expect) = annotation(&s.metadata, "expect-review") {
            expectations += 1;
            // `none`: not required; otherwise the reason, True or False.
            let got = if expect == "none" && !v.review.required {
                "none"
            } else {
                v.review.reason
            };
            if got != expect {
                problems.push(format!(
                    "standard {}: review {got}, expected {expect}",
                    v.name
                ));
            }
        }
        if let Some(expect) = annotation(&s.metadata, "expect-error") {
            expectations += 1;
            match (&v.error, expect) {
                (None, "none") => {}
                (Some(err), want) if want != "none" && err.contains(want) => {}
                (got, _) => problems.push(format!(
                    "standard {}: error {got:?}, expected {expect}",
                    v.name
                )),
            }
        }
        if let Some(expect) = annotation(&s.metadata, "expect-counts") {
            expectations += 1;
            let got = format!(
                "matched={} compliant={} deviating={} excepted={}",
                v.matched, v.compliant, v.deviating, v.excepted
            );
            if got != expect {
                problems.push(format!("standard {}: {got}, expected {expect}", v.name));
            }
        }
    }

    for (b, v) in inputs.baselines.iter().zip(&eval.baselines) {
        if let Some(expect) = annotation(&b.metadata, "expect-error") {
            expectations += 1;
            match (&v.error, expect) {
                (None, "none") => {}
                (Some(err), want) if want != "none" && err.contains(want) => {}
                (got, _) => problems.push(format!(
                    "baseline {}: error {got:?}, expected {expect}",
                    v.name
                )),
            }
        }
    }

    for (o, v) in inputs.ownerships.iter().zip(&eval.ownerships) {
        if let Some(expect) = annotation(&o.metadata, "expect-findings") {
            expectations += 1;
            let got: Vec<&str> = v.findings.iter().map(|f| f.reason).collect();
            let want: Vec<&str> = if expect == "none" {
                vec![]
            } else {
                expect.split(',').map(str::trim).collect()
            };
            if got != want {
                problems.push(format!(
                    "ownership {}/{}: findings {got:?}, expected {want:?}",
                    v.namespace, v.name
                ));
            }
        }
    }
    if expectations == 0 {
        problems.push("no expectations: annotate the objects".into());
    }
    problems
        .into_iter()
        .map(|p| format!("{}: {p}", path.display()))
        .collect()
}

#[test]
fn fixtures_evaluate_as_annotated() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected the engine fixtures, found {files:?}"
    );
    let problems: Vec<String> = files.iter().flat_map(|f| check_file(f)).collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}
