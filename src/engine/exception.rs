//! StandardExceptions compiled against the standards and baselines they
//! name: what they target, which workloads of their namespace they select,
//! and the problems that make them invalid whatever the workloads. Pure.

use jiff::Timestamp;

use super::{
    image::normalise_repository, patch::CompiledBaseline, selector::Selector,
    standard::CompiledStandard, workload::Workload,
};
use crate::api::{StandardException, WorkloadKind, exception::ExceptionWorkloads};

/// The reasons of an exception's state (its `Active` condition's reason),
/// besides the spec errors its compilation names.
pub mod reasons {
    /// It selects no workload of its namespace (yet: the workload may be on its way).
    pub const SELECTS_NOTHING: &str = "SelectsNothing";
    /// It expired.
    pub const EXPIRED: &str = "Expired";
    /// It has no approver yet.
    pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
    /// Its workloads comply without it.
    pub const NOTHING_TO_EXCEPT: &str = "NothingToExcept";
    /// It is in effect.
    pub const APPROVED: &str = "Approved";
    /// `spec.workloads.selector` does not parse.
    pub const INVALID_SELECTOR: &str = "InvalidSelector";
    /// It names a standard that does not exist.
    pub const UNKNOWN_STANDARD: &str = "UnknownStandard";
    /// Its standard is Retired.
    pub const STANDARD_RETIRED: &str = "StandardRetired";
    /// It names a rule its standard does not have.
    pub const UNKNOWN_RULE: &str = "UnknownRule";
    /// It names a baseline that does not exist.
    pub const UNKNOWN_BASELINE: &str = "UnknownBaseline";
    /// It names an image its baseline does not list.
    pub const UNKNOWN_IMAGE: &str = "UnknownImage";
    /// It names neither one standard nor one baseline.
    pub const INVALID_TARGET: &str = "InvalidTarget";
    /// Its standard allows no exception.
    pub const EXCEPTIONS_NOT_ALLOWED: &str = "ExceptionsNotAllowed";
    /// It lasts longer than its standard allows.
    pub const TOO_LONG: &str = "TooLong";
    /// Its standard requires a ticket.
    pub const TICKET_REQUIRED: &str = "TicketRequired";
    /// Its requester approved it.
    pub const SELF_APPROVED: &str = "SelfApproved";
}
pub use reasons::SELECTS_NOTHING;

/// What an exception waives.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A standard (by input index), all rules or some.
    Standard {
        /// Index of the standard.
        index: usize,
        /// The rule ids, or all.
        rules: Option<Vec<String>>,
    },
    /// A baseline (by input index), all images or some (normalised repositories).
    Baseline {
        /// Index of the baseline.
        index: usize,
        /// The repositories, or all.
        images: Option<Vec<String>>,
    },
}

/// An exception, compiled.
#[derive(Clone, Debug)]
pub struct CompiledException {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What makes it invalid whatever the workloads: reason and message.
    pub invalid: Option<(&'static str, String)>,
    /// What it waives, when that exists.
    pub target: Option<Target>,
    /// Whether someone approved it.
    pub approved: bool,
    /// When it expires.
    pub expires_at: Timestamp,
    names: Vec<(WorkloadKind, String)>,
    selector: Option<Selector>,
}

impl CompiledException {
    /// Compiles an exception against the compiled standards and baselines, at `now`.
    pub fn new(
        e: &StandardException,
        standards: &[CompiledStandard],
        baselines: &[CompiledBaseline],
        now: Timestamp,
    ) -> Self {
        let spec = &e.spec;
        let mut invalid = None;
        let mut fail = |reason: &'static str, message: String| {
            invalid.get_or_insert((reason, message));
        };
        let selector = match spec
            .workloads
            .selector
            .as_ref()
            .map(|s| Selector::compile(s, "spec.workloads.selector"))
        {
            Some(Err(err)) => {
                fail(reasons::INVALID_SELECTOR, err.to_string());
                None
            }
            Some(Ok(s)) => Some(s),
            None => None,
        };
        let mut target = None;
        let mut policy = None;
        match (&spec.target.standard, &spec.target.patch_baseline) {
            (Some(name), None) => match standards.iter().position(|s| *s.name == **name) {
                None => fail(
                    reasons::UNKNOWN_STANDARD,
                    format!(
                        "there is no InfrastructureStandard `{name}`: correct spec.target.standard"
                    ),
                ),
                Some(index) => {
                    let std = &standards[index];
                    if std.stage == crate::api::standard::Stage::Retired {
                        fail(
                            reasons::STANDARD_RETIRED,
                            format!(
                                "the InfrastructureStandard `{name}` is retired and no longer evaluated: delete this exception"
                            ),
                        );
                    }
                    if let Some(rules) = &spec.target.rules {
                        let unknown: Vec<&str> = rules
                            .iter()
                            .filter(|r| !std.rule_ids.contains(r))
                            .map(String::as_str)
                            .collect();
                        if !unknown.is_empty() {
                            fail(
                                reasons::UNKNOWN_RULE,
                                format!(
                                    "the standard `{name}` has no rule {}: correct spec.target.rules (its rules: {})",
                                    unknown.join(", "),
                                    std.rule_ids.join(", ")
                                ),
                            );
                        }
                    }
                    policy = Some(&std.exception_policy);
                    target = Some(Target::Standard {
                        index,
                        rules: spec.target.rules.clone(),
                    });
                }
            },
            (None, Some(name)) => match baselines.iter().position(|b| &b.name == name) {
                None => fail(
                    reasons::UNKNOWN_BASELINE,
                    format!(
                        "there is no PatchBaseline `{name}`: correct spec.target.patchBaseline"
                    ),
                ),
                Some(index) => {
                    let images = spec.target.images.as_ref().map(|i| {
                        i.iter()
                            .map(|r| normalise_repository(r))
                            .collect::<Vec<_>>()
                    });
                    if let Some(images) = &images {
                        let unknown: Vec<&str> = images
                            .iter()
                            .filter(|r| !baselines[index].names_repository(r))
                            .map(String::as_str)
                            .collect();
                        if !unknown.is_empty() {
                            fail(
                                reasons::UNKNOWN_IMAGE,
                                format!(
                                    "the baseline `{name}` sets no minimum for {}: correct spec.target.images",
                                    unknown.join(", ")
                                ),
                            );
                        }
                    }
                    target = Some(Target::Baseline { index, images });
                }
            },
            _ => fail(
                reasons::INVALID_TARGET,
                "name exactly one of spec.target.standard or spec.target.patchBaseline".into(),
            ),
        }
        if let Some(policy) = policy {
            if !policy.allowed {
                fail(
                    reasons::EXCEPTIONS_NOT_ALLOWED,
                    format!(
                        "the standard `{}` allows no exceptions: make the workloads comply",
                        spec.target.standard.as_deref().unwrap_or_default()
                    ),
                );
            }
            if let Some(max) = policy.max_duration {
                let max: std::time::Duration = max.into();
                let from = e.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
                let asked = spec.expires_at.0.duration_since(from);
                if asked.as_secs_f64() > max.as_secs_f64() {
                    fail(
                        reasons::TOO_LONG,
                        format!(
                            "it lasts {} from its creation, longer than the standard allows ({}): set an earlier spec.expiresAt",
                            human(asked.as_secs_f64()),
                            human(max.as_secs_f64())
                        ),
                    );
                }
            }
            if policy.require_ticket && spec.ticket.as_deref().is_none_or(|t| t.trim().is_empty()) {
                fail(
                    reasons::TICKET_REQUIRED,
                    "the standard requires a ticket: set spec.ticket to the change or risk record"
                        .into(),
                );
            }
        }
        if let Some(approver) = &spec.approved_by
            && approver.eq_ignore_ascii_case(&spec.requested_by)
        {
            fail(
                reasons::SELF_APPROVED,
                "it is approved by its requester: someone else must approve it".into(),
            );
        }
        Self {
            namespace: super::namespace_or_default(e.metadata.namespace.as_deref()),
            name: e.metadata.name.clone().unwrap_or_default(),
            invalid,
            target,
            approved: spec
                .approved_by
                .as_deref()
                .is_some_and(|a| !a.trim().is_empty()),
            expires_at: spec.expires_at.0,
            names: named_workloads(&spec.workloads),
            selector,
        }
    }

    /// Whether it covers the workloads it selects at `now`: valid, approved, not expired.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.invalid.is_none() && self.approved && now < self.expires_at
    }

    /// Whether it selects the workload (always in its own namespace).
    pub fn selects(&self, w: &Workload) -> bool {
        w.namespace == self.namespace
            && (self.names.iter().any(|(k, n)| *k == w.kind && *n == w.name)
                || self.selector.as_ref().is_some_and(|s| s.matches(&w.labels)))
    }

    /// Whether it waives this rule of this standard.
    pub fn waives_rule(&self, standard: usize, rule: &str) -> bool {
        matches!(&self.target, Some(Target::Standard { index, rules })
            if *index == standard && rules.as_ref().is_none_or(|r| r.iter().any(|x| x == rule)))
    }

    /// Whether it waives this repository (normalised) of this baseline.
    pub fn waives_image(&self, baseline: usize, repository: &str) -> bool {
        matches!(&self.target, Some(Target::Baseline { index, images })
            if *index == baseline && images.as_ref().is_none_or(|i| i.iter().any(|x| x == repository)))
    }
}

/// The workloads an exception names, by kind and name.
pub fn named_workloads(w: &ExceptionWorkloads) -> Vec<(WorkloadKind, String)> {
    w.names
        .iter()
        .flatten()
        .map(|n| (n.kind, n.name.clone()))
        .collect()
}

/// A duration in days or hours, for messages.
fn human(seconds: f64) -> String {
    let hours = seconds / 3600.0;
    if hours >= 48.0 {
        format!("{:.0} days", hours / 24.0)
    } else {
        format!("{hours:.0} hours")
    }
}
