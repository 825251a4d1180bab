//! Comparing admission with `plumbline audit`: the rules a refusal names,
//! and what the audit reports for the same objects.

use std::{collections::BTreeMap, process::Command};

use serde_json::{Value, json};

/// Rule → findings.
pub type Rules = BTreeMap<String, String>;

/// The rules a refusal by `standard` names, with their findings ("[Sev] id:
/// findings | ..."); `None` when the message is not such a refusal.
pub fn refused_rules(standard: &str, message: &str) -> Option<Rules> {
    let marker = format!("violates InfrastructureStandard {standard}: ");
    let (_, rest) = message.split_once(&marker)?;
    let rest = rest.split("; to be excused").next().unwrap_or(rest);
    Some(
        rest.split(" | ")
            .map(|part| {
                let (_, after) = part.split_once("] ").expect("a severity");
                let (id, findings) = after.split_once(": ").expect("a rule id");
                (id.to_string(), findings.trim().to_string())
            })
            .collect(),
    )
}

/// `plumbline audit --format json` of `docs` in namespace `ns` (labelled
/// `plumbline-test: <ns>`) with `standard`: its exit code and report.
pub fn audit_report(ns: &str, docs: &[Value], standard: &Value) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut all = vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": ns, "labels": {"plumbline-test": ns}}}),
        standard.clone(),
    ];
    all.extend(docs.iter().cloned());
    let text: Vec<String> = all.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("all.yaml"), text.join("\n---\n")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(["audit", "--format", "json"])
        .arg(dir.path())
        .output()
        .expect("plumbline audit runs");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit JSON: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

/// A report's deviations from `standard`, by workload, leaving out the
/// rules in `skip`.
pub fn deviations(report: &Value, standard: &str, skip: &[&str]) -> BTreeMap<String, Rules> {
    report["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .map(|w| {
            let rules = w["deviations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["standard"] == standard)
                .filter(|d| !skip.contains(&d["rule"].as_str().unwrap_or_default()))
                .map(|d| {
                    (
                        d["rule"].as_str().unwrap_or_default().to_string(),
                        d["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            (w["name"].as_str().unwrap_or_default().to_string(), rules)
        })
        .collect()
}
