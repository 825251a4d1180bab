//! The audit report as SARIF 2.1.0, for code-scanning tools: one rule per
//! standard rule (plus patch and ownership rules), one result per finding,
//! pointing at the file and line of the workload; excepted deviations are
//! reported as suppressed. Pure.

use serde_json::{Value, json};

use super::report::{Report, Source};
use crate::api::{PatchState, Severity};

/// The rule id of patch findings against a baseline.
fn patch_rule(baseline: &str) -> String {
    format!("patch/{baseline}")
}

const ORPHAN_RULE: &str = "ownership/orphan";
const CONFLICT_RULE: &str = "ownership/conflict";
const INPUT_RULE: &str = "input/malformed";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn location(source: &Source, logical: Option<String>) -> Value {
    let uri = if source.file == "-" {
        "stdin".to_string()
    } else {
        source.file.replace('\\', "/")
    };
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": source.line},
        }
    });
    if let Some(name) = logical {
        loc["logicalLocations"] = json!([{"fullyQualifiedName": name, "kind": "object"}]);
    }
    loc
}

/// Renders the report as a SARIF 2.1.0 log.
pub fn render(report: &Report) -> String {
    let mut rules: Vec<Value> = Vec::new();
    let mut index = std::collections::BTreeMap::new();
    let mut add_rule = |rules: &mut Vec<Value>, id: String, text: String, level: &str| -> usize {
        *index.entry(id.clone()).or_insert_with(|| {
            rules.push(json!({
                "id": id,
                "name": id,
                "shortDescription": {"text": text},
                "defaultConfiguration": {"level": level},
                "helpUri": "https://plumbline.dev/docs/audit",
            }));
            rules.len() - 1
        })
    };
    for s in &report.standards {
        for r in &s.rules {
            add_rule(
                &mut rules,
                format!("{}/{}", s.name, r.id),
                r.description.clone(),
                level(r.severity),
            );
        }
    }
    for b in &report.baselines {
        add_rule(
            &mut rules,
            patch_rule(&b.name),
            format!(
                "Images meet the minimum versions of the patch baseline {}",
                b.name
            ),
            "warning",
        );
    }
    add_rule(
        &mut rules,
        ORPHAN_RULE.into(),
        "A ServiceOwnership selects the workload".into(),
        "warning",
    );
    add_rule(
        &mut rules,
        CONFLICT_RULE.into(),
        "Exactly one ServiceOwnership selects the workload".into(),
        "warning",
    );
    add_rule(
        &mut rules,
        INPUT_RULE.into(),
        "The document can be read and is valid".into(),
        "error",
    );

    let mut results = Vec::new();
    for w in &report.workloads {
        let name = format!("{}/{}/{}", w.kind, w.namespace, w.name);
        for d in &w.deviations {
            let id = format!("{}/{}", d.standard, d.rule);
            let mut result = json!({
                "ruleId": id,
                "ruleIndex": index[&id],
                "level": level(d.severity),
                "message": {"text": format!("{} {}/{}: {}", w.kind, w.namespace, w.name, d.message)},
                "locations": [location(&w.source, Some(name.clone()))],
                "properties": {"severity": d.severity.as_str()},
            });
            if let Some(e) = &d.exception {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": format!("covered by the StandardException {}/{}", w.namespace, e),
                }]);
            }
            results.push(result);
        }
        if let Some(patch) = &w.patch {
            for img in patch
                .images
                .iter()
                .filter(|i| i.state != PatchState::Current)
            {
                let id = patch_rule(&img.baseline);
                let level = match img.state {
                    PatchState::Overdue => "error",
                    PatchState::Behind => "warning",
                    _ => "note",
                };
                let mut result = json!({
                    "ruleId": id,
                    "ruleIndex": index[&id],
                    "level": level,
                    "message": {"text": format!(
                        "{} {}/{}: container {} runs {}, patch state {:?} (minimum {}{}){}",
                        w.kind, w.namespace, w.name, img.container, img.image, img.state, img.minimum_version,
                        img.due.as_ref().map(|d| format!(", due {d}")).unwrap_or_default(),
                        img.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default(),
                    )},
                    "locations": [location(&w.source, Some(name.clone()))],
                    "properties": {"patchState": format!("{:?}", img.state)},
                });
                if img.state == PatchState::Excepted {
                    result["suppressions"] = json!([{"kind": "external", "status": "accepted"}]);
                }
                results.push(result);
            }
        }
        let ownership = match w.owner.state {
            "Orphan" => Some((ORPHAN_RULE, "no ServiceOwnership selects it".to_string())),
            "Conflict" => Some((
                CONFLICT_RULE,
                format!(
                    "several ServiceOwnerships select it: {}",
                    w.owner.service_ownerships.join(", ")
                ),
            )),
            _ => None,
        };
        if let Some((id, text)) = ownership {
            results.push(json!({
                "ruleId": id,
                "ruleIndex": index[id],
                "level": "warning",
                "message": {"text": format!("{} {}/{}: {text}", w.kind, w.namespace, w.name)},
                "locations": [location(&w.source, Some(name.clone()))],
            }));
        }
    }
    for e in &report.errors {
        results.push(json!({
            "ruleId": INPUT_RULE,
            "ruleIndex": index[INPUT_RULE],
            "level": "error",
            "message": {"text": e.message},
            "locations": [location(&e.source, None)],
        }));
    }

    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "plumbline",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://plumbline.dev",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "endTimeUtc": report.evaluated_at,
            }],
            "results": results,
            "properties": {"summary": report.summary},
        }],
    });
    let mut text = serde_json::to_string_pretty(&log).expect("SARIF serialises");
    text.push('\n');
    text
}
