//! The audit's report: one serialisable shape built from the engine's
//! verdicts, rendered as JSON directly and as text, SARIF and JUnit by the
//! other modules. Pure. The JSON shape is documented in docs/audit.md and
//! versioned by `schemaVersion`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::load::{Loaded, object_key};
use crate::{
    api::{
        ExceptionState, PatchState, Severity,
        standard::{Migration, ReviewSummary, Stage},
    },
    engine::{Compliance, Evaluation, Owner},
};

/// The version of the JSON shape.
pub const SCHEMA_VERSION: &str = "plumbline.dev/audit/v1";

/// The whole report.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The version of this shape.
    pub schema_version: &'static str,
    /// When the evaluation applies (RFC 3339).
    pub evaluated_at: String,
    /// Totals.
    pub summary: Summary,
    /// One entry per workload, in input order.
    pub workloads: Vec<WorkloadEntry>,
    /// One entry per standard.
    pub standards: Vec<StandardEntry>,
    /// One entry per exception.
    pub exceptions: Vec<ExceptionEntry>,
    /// One entry per patch baseline.
    pub baselines: Vec<BaselineEntry>,
    /// One entry per service ownership.
    pub ownerships: Vec<OwnershipEntry>,
    /// Documents that could not be read or are invalid.
    pub errors: Vec<ErrorEntry>,
    /// Objects defined more than once: the last definition is the one judged.
    pub duplicates: Vec<DuplicateEntry>,
}

/// An object defined twice.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateEntry {
    /// `Kind/namespace/name`, or `Kind/name` when cluster-scoped.
    pub object: String,
    /// The definition judged (the later one).
    pub judged: Source,
    /// The definition set aside.
    pub set_aside: Source,
}

/// Totals.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Workloads evaluated.
    pub workloads: usize,
    /// Workloads with no open deviation (excepted ones included).
    pub compliant: usize,
    /// Workloads with at least one open deviation.
    pub deviating: usize,
    /// Workloads whose deviations are all covered by exceptions.
    pub excepted: usize,
    /// Open deviations by severity.
    pub open_deviations: BTreeMap<Severity, usize>,
    /// Deviations covered by an active exception.
    pub excepted_deviations: usize,
    /// Workloads by patch state (those a baseline applies to).
    pub patch: BTreeMap<PatchState, usize>,
    /// Workloads no ServiceOwnership selects.
    pub orphans: usize,
    /// Workloads several ServiceOwnerships select.
    pub ownership_conflicts: usize,
    /// Standards, baselines and ownerships whose spec is invalid.
    pub invalid_specs: usize,
    /// Documents skipped because plumbline does not evaluate their kind, by `apiVersion/kind`.
    pub skipped_kinds: BTreeMap<String, usize>,
    /// Documents read but not evaluated (ComplianceReports, Pods of controllers, Jobs of CronJobs).
    pub ignored: usize,
    /// Documents of a directory walk that are not Kubernetes objects (CI
    /// pipelines, Helm values), skipped.
    pub not_kubernetes: usize,
    /// Objects defined more than once (the last definition is judged).
    pub duplicates: usize,
    /// Malformed or invalid documents.
    pub errors: usize,
}

/// Where something was read.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The file (`-` for standard input).
    pub file: String,
    /// The document's index in the file, from 1.
    pub document: usize,
    /// The line the document starts on, from 1.
    pub line: usize,
}

/// One workload.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEntry {
    /// Its kind.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Where it was read.
    pub source: Source,
    /// No open deviation.
    pub compliant: bool,
    /// The standards that apply to it, and its compliance with each
    /// (`Compliant`, `Excepted` or `Deviating`).
    pub standards: BTreeMap<String, &'static str>,
    /// Every deviation, most severe first.
    pub deviations: Vec<DeviationEntry>,
    /// Its patch state, when a baseline applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchEntry>,
    /// Its owner.
    pub owner: OwnerEntry,
}

/// One deviation, with what is wrong and how to fix it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviationEntry {
    /// The InfrastructureStandard.
    pub standard: String,
    /// The rule's id.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The StandardException that covers it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

/// A workload's patch state.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchEntry {
    /// The worst state.
    pub state: PatchState,
    /// The earliest deadline of an image that is behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Per image and baseline.
    pub images: Vec<crate::api::report::ImagePatch>,
}

/// Who owns a workload.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerEntry {
    /// `Owned`, `Orphan` or `Conflict`.
    pub state: &'static str,
    /// The ServiceOwnership(s).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_ownerships: Vec<String>,
    /// The owning team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Whether the ownership is complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// What is wrong (an orphan, a conflict) and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One standard.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StandardEntry {
    /// Its name.
    pub name: String,
    /// Where it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Why its spec is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// CEL rules that do not compile (the other rules are evaluated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_errors: Vec<String>,
    /// Rules that cannot be what was meant (a constant `false`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Matched workloads.
    pub matched: i32,
    /// Compliant workloads.
    pub compliant: i32,
    /// Deviating workloads.
    pub deviating: i32,
    /// Excepted workloads.
    pub excepted: i32,
    /// Exceptions by state.
    pub exceptions: crate::api::standard::ExceptionCounts,
    /// Its rules.
    pub rules: Vec<RuleEntry>,
    /// Why it needs review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_required: Option<String>,
    /// Its review state, when there is something to say: a review is
    /// required, due, or recorded (absent below the thresholds with no review).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewEntry>,
    /// Its lifecycle stage (absent when Active).
    #[serde(skip_serializing_if = "is_active")]
    pub stage: Stage,
    /// What is wrong with its lifecycle (it is still evaluated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_error: Option<String>,
    /// While Deprecated: how far its workloads have moved to the successor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
}

fn is_active(stage: &Stage) -> bool {
    *stage == Stage::Active
}

/// A standard's review state.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewEntry {
    /// Whether a review is required (the operator's `ReviewRequired`).
    pub required: bool,
    /// Why (the condition's reason).
    pub reason: String,
    /// In words.
    pub message: String,
    /// The current review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<ReviewSummary>,
}

impl StandardEntry {
    /// A line about its review and lifecycle for the formats that only take
    /// notes (SARIF, JUnit), when there is something to say.
    pub fn review_note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(r) = &self.review {
            parts.push(format!(
                "review {}: {} ({})",
                if r.required { "required" } else { "state" },
                r.message,
                r.reason
            ));
        }
        if let Some(e) = &self.lifecycle_error {
            parts.push(format!("lifecycle: {e}"));
        }
        if let Some(m) = &self.migration {
            parts.push(describe(m));
        } else if self.stage != Stage::Active {
            parts.push(format!("the standard is {}", self.stage.as_str()));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A migration in one line: the sunset, the successor, the counts and who
/// has not moved yet.
pub fn describe(m: &Migration) -> String {
    let sunset = match (&m.sunset, m.sunset_passed) {
        (Some(t), true) => format!("sunset {} passed", t.0),
        (Some(t), false) => format!("sunset {}", t.0),
        (None, _) => "no sunset".into(),
    };
    let to = m
        .superseded_by
        .as_deref()
        .map_or("no successor".to_string(), |s| format!("successor {s}"));
    let pending: Vec<String> = m
        .pending
        .items
        .iter()
        .map(|p| {
            let w = &p.workload;
            let why = if !p.successor_matches {
                "the successor does not match it".to_string()
            } else {
                format!("deviates from {}", p.open_rules.join(", "))
            };
            format!("{} {}/{} ({why})", w.kind, w.namespace, w.name)
        })
        .collect();
    let more = if m.pending.omitted > 0 {
        format!(" and {} more", m.pending.omitted)
    } else {
        String::new()
    };
    format!(
        "deprecated ({sunset}, {to}): {} of {} matched workloads migrated{}",
        m.migrated,
        m.matched,
        if pending.is_empty() {
            String::new()
        } else {
            format!("; not yet: {}{more}", pending.join(", "))
        }
    )
}

/// One rule of a standard.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleEntry {
    /// Its id.
    pub id: String,
    /// Its severity.
    pub severity: Severity,
    /// What it asks for.
    pub description: String,
    /// Workloads deviating from it without an exception.
    pub deviating: i32,
    /// Workloads deviating from it with an exception.
    pub excepted: i32,
}

/// One exception.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionEntry {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Where it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Its state.
    pub state: ExceptionState,
    /// Why.
    pub reason: &'static str,
    /// In words.
    pub message: String,
    /// Workloads it selects.
    pub covered: usize,
    /// When it expires.
    pub expires_at: String,
}

/// One baseline.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineEntry {
    /// Its name.
    pub name: String,
    /// Where it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Why its spec is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Totals.
    pub totals: crate::api::baseline::PatchCounts,
    /// Per ring.
    pub rings: Vec<crate::api::baseline::RingCounts>,
}

/// One ownership.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipEntry {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Where it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Why its spec is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Workloads it selects.
    pub matched: i32,
    /// Completeness findings.
    pub findings: Vec<FindingEntry>,
}

/// One ownership finding.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingEntry {
    /// Why.
    pub reason: &'static str,
    /// What to do.
    pub message: String,
}

/// A document that could not be read.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEntry {
    /// Where.
    pub source: Source,
    /// What is wrong.
    pub message: String,
}

fn source(l: &super::manifest::Location) -> Source {
    Source {
        file: l.file.clone(),
        document: l.index + 1,
        line: l.line,
    }
}

impl Report {
    /// Builds the report from what was read and what the engine concluded.
    /// It takes the evaluation by value to move, not copy, the deviations.
    pub fn new(loaded: &Loaded, mut eval: Evaluation) -> Self {
        let inputs = &loaded.inputs;
        let mut summary = Summary {
            files: loaded.files,
            workloads: inputs.workloads.len(),
            skipped_kinds: loaded.unknown_kinds.clone(),
            ignored: loaded.ignored,
            not_kubernetes: loaded.foreign,
            duplicates: loaded.duplicates.len(),
            errors: loaded.malformed.len(),
            ..Default::default()
        };
        let located = |kind: &str, ns: Option<&str>, name: &str| {
            loaded
                .object_locations
                .get(&object_key(kind, ns, name))
                .map(source)
        };
        let ts = |t: jiff::Timestamp| t.to_string();

        let standard_names: Vec<String> = eval.standards.iter().map(|s| s.name.clone()).collect();
        let verdicts = std::mem::take(&mut eval.workloads);
        let workloads = inputs
            .workloads
            .iter()
            .zip(verdicts)
            .zip(&loaded.workload_locations)
            .map(|((w, v), loc)| {
                let open = v.open_deviations().count();
                for d in v.open_deviations() {
                    *summary.open_deviations.entry(d.severity).or_default() += 1;
                }
                summary.excepted_deviations += v.deviations.len() - open;
                match v.compliance() {
                    Compliance::Deviating => summary.deviating += 1,
                    // Compliant counts the excepted too.
                    Compliance::Excepted => {
                        summary.compliant += 1;
                        summary.excepted += 1;
                    }
                    Compliance::Compliant => summary.compliant += 1,
                }
                if let Some(state) = v.patch_state {
                    *summary.patch.entry(state).or_default() += 1;
                }
                let owner = match &v.owner {
                    Owner::Owned(o) => OwnerEntry {
                        state: "Owned",
                        service_ownerships: vec![o.name.clone()],
                        team: Some(o.team.clone()),
                        complete: Some(o.complete()),
                        problem: None,
                    },
                    Owner::Orphan => {
                        summary.orphans += 1;
                        OwnerEntry {
                            state: "Orphan",
                            service_ownerships: vec![],
                            team: None,
                            complete: None,
                            problem: v.owner.problem(),
                        }
                    }
                    Owner::Conflict(names) => {
                        summary.ownership_conflicts += 1;
                        OwnerEntry {
                            state: "Conflict",
                            service_ownerships: names.clone(),
                            team: None,
                            complete: None,
                            problem: v.owner.problem(),
                        }
                    }
                };
                WorkloadEntry {
                    kind: w.kind.to_string(),
                    namespace: w.namespace.clone(),
                    name: w.name.clone(),
                    source: source(loc),
                    compliant: open == 0,
                    standards: v
                        .standards
                        .iter()
                        .map(|(i, c)| {
                            let c = match c {
                                Compliance::Compliant => "Compliant",
                                Compliance::Excepted => "Excepted",
                                Compliance::Deviating => "Deviating",
                            };
                            (standard_names[*i].clone(), c)
                        })
                        .collect(),
                    deviations: v
                        .deviations
                        .into_iter()
                        .map(|d| DeviationEntry {
                            standard: d.standard.to_string(),
                            rule: d.rule.to_string(),
                            severity: d.severity,
                            message: d.message.to_string(),
                            exception: d.exception,
                        })
                        .collect(),
                    patch: v.patch_state.map(|state| PatchEntry {
                        state,
                        due: v.patch_due.map(ts),
                        images: v.patch.iter().map(Into::into).collect(),
                    }),
                    owner,
                }
            })
            .collect();

        let standards = eval
            .standards
            .iter()
            .zip(&inputs.standards)
            .map(|(s, spec)| {
                summary.invalid_specs += usize::from(s.error.is_some());
                StandardEntry {
                    name: s.name.clone(),
                    source: located("InfrastructureStandard", None, &s.name),
                    error: s.error.clone(),
                    rule_errors: s.rule_errors.clone(),
                    warnings: s.warnings.clone(),
                    matched: s.matched,
                    compliant: s.compliant,
                    deviating: s.deviating,
                    excepted: s.excepted,
                    exceptions: s.exceptions.clone(),
                    rules: spec
                        .spec
                        .rules
                        .iter()
                        .zip(&s.rules)
                        .map(|(r, c)| RuleEntry {
                            id: r.id.clone(),
                            severity: r.severity,
                            description: r.description.clone(),
                            deviating: c.deviating,
                            excepted: c.excepted,
                        })
                        .collect(),
                    review_required: s.review.required.then(|| s.review.message.clone()),
                    review: (s.review.required
                        || crate::engine::review::Class::of(s.review.reason)
                            != crate::engine::review::Class::Quiet)
                        .then(|| ReviewEntry {
                            required: s.review.required,
                            reason: s.review.reason.to_string(),
                            message: s.review.message.clone(),
                            current: s.review.current.as_ref().map(Into::into),
                        }),
                    stage: s.stage,
                    lifecycle_error: s.lifecycle_error.clone(),
                    migration: s.migration.as_ref().map(Into::into),
                }
            })
            .collect();
        let exceptions = eval
            .exceptions
            .iter()
            .map(|e| ExceptionEntry {
                namespace: e.namespace.clone(),
                name: e.name.clone(),
                source: located("StandardException", Some(&e.namespace), &e.name),
                state: e.state,
                reason: e.reason,
                message: e.message.clone(),
                covered: e.covered.len(),
                expires_at: ts(e.expires_at),
            })
            .collect();
        let baselines = eval
            .baselines
            .iter()
            .map(|b| {
                summary.invalid_specs += usize::from(b.error.is_some());
                BaselineEntry {
                    name: b.name.clone(),
                    source: located("PatchBaseline", None, &b.name),
                    error: b.error.clone(),
                    totals: b.totals.clone(),
                    rings: b.rings.clone(),
                }
            })
            .collect();
        let ownerships = eval
            .ownerships
            .iter()
            .map(|o| {
                summary.invalid_specs += usize::from(o.error.is_some());
                OwnershipEntry {
                    namespace: o.namespace.clone(),
                    name: o.name.clone(),
                    source: located("ServiceOwnership", Some(&o.namespace), &o.name),
                    error: o.error.clone(),
                    matched: o.matched,
                    findings: o
                        .findings
                        .iter()
                        .map(|f| FindingEntry {
                            reason: f.reason,
                            message: f.message.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        let errors = loaded
            .malformed
            .iter()
            .map(|m| ErrorEntry {
                source: source(&m.location),
                message: m.message.clone(),
            })
            .collect();
        let duplicates = loaded
            .duplicates
            .iter()
            .map(|d| DuplicateEntry {
                object: d.key.clone(),
                judged: source(&d.later),
                set_aside: source(&d.earlier),
            })
            .collect();
        Self {
            schema_version: SCHEMA_VERSION,
            evaluated_at: ts(eval.at),
            summary,
            workloads,
            standards,
            exceptions,
            baselines,
            ownerships,
            errors,
            duplicates,
        }
    }

    /// Whether an open deviation is at or above `severity`.
    pub fn fails_at(&self, severity: Severity) -> bool {
        self.summary
            .open_deviations
            .iter()
            .any(|(s, n)| *s >= severity && *n > 0)
    }
}
