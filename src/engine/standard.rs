//! InfrastructureStandards compiled once: their match, their rules' checks,
//! and every problem that makes a spec invalid, each naming its field. Pure.

use super::{
    checks::{self, Check},
    matcher::Matcher,
};
use crate::api::{
    InfrastructureStandard, Severity,
    standard::{ExceptionPolicy, Stage},
};

/// One rule, compiled.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    /// Its id (shared by every deviation from it).
    pub id: std::sync::Arc<str>,
    /// Its severity.
    pub severity: Severity,
    /// Its check.
    pub check: Check,
}

/// A standard, compiled. `error` set means it is invalid and evaluates nothing.
#[derive(Clone, Debug)]
pub struct CompiledStandard {
    /// Its name (shared by every deviation from it).
    pub name: std::sync::Arc<str>,
    /// Its rules' ids, in spec order (known even when the spec is invalid).
    pub rule_ids: Vec<String>,
    /// Its exception policy.
    pub exception_policy: ExceptionPolicy,
    /// Its lifecycle stage: a Retired standard evaluates nothing.
    pub stage: Stage,
    /// While Deprecated: its successor's name and its sunset.
    pub deprecation: Option<Deprecation>,
    /// Its match and rules, or every problem found.
    pub compiled: Result<(Matcher, Vec<CompiledRule>), String>,
    /// CEL rules that do not compile, each with the compiler's message and
    /// position: they evaluate nothing, the other rules still do.
    pub rule_errors: Vec<String>,
    /// Rules that compile but cannot be what was meant (an expression that
    /// is constant `false` refuses every workload).
    pub warnings: Vec<String>,
}

/// What a Deprecated standard tells the workloads it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// The successor, if named.
    pub superseded_by: Option<std::sync::Arc<str>>,
    /// The sunset, if set (the schema requires it).
    pub sunset: Option<jiff::Timestamp>,
}

impl CompiledStandard {
    /// Compiles a standard. Problems in one rule never hide problems in another.
    pub fn new(s: &InfrastructureStandard) -> Self {
        let mut errors = Vec::new();
        let matcher = Matcher::compile(&s.spec.match_)
            .map_err(|e| errors.push(e.to_string()))
            .ok();
        let mut rules = Vec::new();
        let mut rule_errors = Vec::new();
        let mut warnings = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, rule) in s.spec.rules.iter().enumerate() {
            if !seen.insert(rule.id.as_str()) {
                errors.push(format!(
                    "spec.rules[{i}].id: the id `{}` is used twice; rule ids must be unique",
                    rule.id
                ));
            }
            match checks::compile(rule, &format!("spec.rules[{i}]")) {
                // A CEL rule that does not compile is the author's to fix,
                // and does not stop the standard's other rules.
                Err(err) if rule.cel.is_some() => {
                    rule_errors.push(format!("rule {}: {err}", rule.id));
                    rules.push(CompiledRule {
                        id: rule.id.as_str().into(),
                        severity: rule.severity,
                        check: Check::Broken(err.to_string()),
                    });
                }
                Ok(check) => {
                    if let Check::Cel(c) = &check
                        && c.always_false
                    {
                        warnings.push(format!(
                            "rule {}: spec.rules[{i}].cel.expression is the constant false: it refuses every workload the standard matches",
                            rule.id
                        ));
                    }
                    rules.push(CompiledRule {
                        id: rule.id.as_str().into(),
                        severity: rule.severity,
                        check,
                    })
                }
                Err(err) => errors.push(format!("rule {}: {err}", rule.id)),
            }
        }
        if s.spec.rules.is_empty() {
            errors.push("spec.rules: the standard has no rules: add at least one".into());
        }
        Self {
            name: s.metadata.name.as_deref().unwrap_or_default().into(),
            rule_ids: s.spec.rules.iter().map(|r| r.id.clone()).collect(),
            exception_policy: s.spec.exception_policy.clone(),
            stage: s.spec.stage(),
            deprecation: s
                .spec
                .lifecycle
                .as_ref()
                .filter(|l| l.stage == Stage::Deprecated)
                .map(|l| Deprecation {
                    superseded_by: l.superseded_by.as_deref().map(Into::into),
                    sunset: l.sunset.as_ref().map(|t| t.0),
                }),
            compiled: match (matcher, errors.is_empty()) {
                (Some(m), true) => Ok((m, rules)),
                _ => Err(errors.join("; ")),
            },
            rule_errors,
            warnings,
        }
    }
}
