//! What the operator keeps of each ComplianceReport it watches: enough to
//! decide whether a desired report must be written (a digest), to keep its
//! conditions' transition times, and to derive its Events (every open
//! deviation), and nothing else: at 10,000 workloads whole reports cost
//! more memory than everything else together. Pure.

use std::hash::{Hash, Hasher};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use super::conditions::types;
use crate::admission::policy::MANAGED_BY;
use crate::api::{ComplianceReport, ComplianceReportStatus, PatchState};

/// The condition types of a report, in the order `SeenReport` keeps them:
/// every type a report can have, or the transition time of one left out
/// would move at every rebuild, and the report be written again.
const TYPES: [&str; 4] = [
    types::COMPLIANT,
    types::PATCH_CURRENT,
    types::OWNED,
    types::STANDARDS_SUPPORTED,
];

/// A report as the operator keeps it: one allocation at most (its open
/// deviations), since at 10,000 reports every small string costs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenReport {
    /// Whether it has an owner (one without is being garbage-collected).
    pub owned: bool,
    /// A digest of everything the operator writes of it.
    pub digest: u64,
    /// Per condition type (`TYPES`): its status and last transition time.
    since: [Option<(bool, Timestamp)>; TYPES.len()],
    /// Its open deviations (none covered by an exception), as lines of
    /// `standard/rule`, sorted.
    open: Box<str>,
    /// Whether its patch state is Overdue.
    pub overdue: bool,
}

impl SeenReport {
    /// What is kept of a report.
    pub fn new(report: &ComplianceReport) -> Self {
        let status = report.status.as_ref();
        let conditions = status.map_or(&[][..], |s| s.conditions.as_slice());
        Self {
            owned: report
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty()),
            digest: digest(report),
            since: TYPES.map(|t| {
                conditions
                    .iter()
                    .find(|c| c.type_ == t)
                    .map(|c| (c.status == "True", c.last_transition_time.0))
            }),
            open: open(status)
                .map(|(s, r)| format!("{s}/{r}"))
                .collect::<Vec<_>>()
                .join("\n")
                .into_boxed_str(),
            overdue: status
                .and_then(|s| s.patch.as_ref())
                .is_some_and(|p| p.state == PatchState::Overdue),
        }
    }

    /// Its open deviations as (standard, rule).
    pub fn open(&self) -> impl Iterator<Item = (&str, &str)> {
        // Standard names are DNS names: the first `/` ends one.
        self.open.lines().filter_map(|k| k.split_once('/'))
    }

    /// Its conditions as far as they are kept (type, status, transition
    /// time: what keeps a transition time when a status does not change).
    pub fn conditions(&self) -> Vec<Condition> {
        TYPES
            .iter()
            .zip(&self.since)
            .filter_map(|(t, since)| {
                since.map(|(status, at)| Condition {
                    type_: (*t).to_string(),
                    status: if status { "True" } else { "False" }.to_string(),
                    last_transition_time: Time(at),
                    message: String::new(),
                    reason: String::new(),
                    observed_generation: None,
                })
            })
            .collect()
    }
}

/// The open deviations of a status as (standard, rule), sorted and unique.
pub fn open(status: Option<&ComplianceReportStatus>) -> impl Iterator<Item = (&str, &str)> {
    let mut keys: Vec<(&str, &str)> = status
        .into_iter()
        .flat_map(|s| &s.deviations)
        .flat_map(|g| g.open().map(|rule| (g.standard.as_str(), rule)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
}

/// A digest of what the operator writes of a report: its spec, owners,
/// the operator's labels and its status. A desired report and the
/// cluster's copy of it have the same digest exactly when no write is needed.
pub fn digest(report: &ComplianceReport) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // The label the operator sets (the reports' watch selects by it); others'
    // labels do not count. (A report's workload kind is a selectable field,
    // `spec.workload.kind`, not a label.)
    let label = report.labels().get(MANAGED_BY.0);
    // Serialising typed values gives one text per value: the API server's
    // copy, read back into the same types, serialises identically.
    let text = serde_json::to_string(&(
        &report.spec,
        &report.metadata.owner_references,
        label,
        &report.status,
    ))
    .unwrap_or_default();
    text.hash(&mut hasher);
    hasher.finish()
}
