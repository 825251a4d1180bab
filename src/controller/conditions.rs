//! Condition types and reasons as named constants, and the one rule for
//! writing conditions: `lastTransitionTime` moves only when the status
//! changes, so an unchanged verdict produces an identical status (and no
//! write). Pure.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types.
pub mod types {
    /// The spec is valid and evaluated.
    pub const READY: &str = "Ready";
    /// The spec is invalid: nothing happens until it changes. Present only
    /// then, as kstatus (Flux) reads it: `Stalled=True` is Failed, where
    /// `Ready=False` alone would be "still in progress".
    pub const STALLED: &str = "Stalled";
    /// A standard needs review: exceptions pile up with no review that
    /// covers them, or a review date passed.
    pub const REVIEW_REQUIRED: &str = "ReviewRequired";
    /// Reports: the Deprecated standards that match the workload, and
    /// whether their sunset passed (present only while one matches).
    pub const STANDARDS_SUPPORTED: &str = "StandardsSupported";
    /// Standards: which rules the API server checks at admission.
    pub const ENFORCED: &str = "Enforced";
    /// An exception is in effect.
    pub const ACTIVE: &str = "Active";
    /// An exception covers nothing that deviates.
    pub const STALE: &str = "Stale";
    /// An exception in effect expires within the warning window.
    pub const EXPIRING_SOON: &str = "ExpiringSoon";
    /// Some workloads are past a patch deadline.
    pub const OVERDUE: &str = "Overdue";
    /// An ownership names everything it should.
    pub const COMPLETE: &str = "Complete";
    /// A workload follows every standard that applies (or is excepted).
    pub const COMPLIANT: &str = "Compliant";
    /// A workload's images meet every baseline that applies.
    pub const PATCH_CURRENT: &str = "PatchCurrent";
    /// A ServiceOwnership owns the workload.
    pub const OWNED: &str = "Owned";
}

/// Condition reasons that are not taken from the engine's verdicts.
pub mod reasons {
    /// The spec is valid.
    pub const VALID: &str = "Valid";
    /// A CEL rule does not compile (the standard's other rules are evaluated).
    pub const INVALID_RULE: &str = "InvalidRule";
    /// A rule refuses every workload (its expression is constant false).
    pub const RULE_ALWAYS_FAILS: &str = "RuleAlwaysFails";
    /// The spec cannot be evaluated; the message says what to fix.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// A standard's successor is missing, itself, retired, or in a cycle.
    pub const INVALID_SUCCESSOR: &str = "InvalidSuccessor";
    /// A standard is retired (Ready=True, Enforced=False).
    pub const RETIRED: &str = "Retired";
    /// A review names a standard that does not exist.
    pub const UNKNOWN_STANDARD: &str = "UnknownStandard";
    /// A review was recorded for an earlier standard of the same name.
    pub const STANDARD_REPLACED: &str = "StandardReplaced";
    /// A review is its standard's current one.
    pub const CURRENT_REVIEW: &str = "CurrentReview";
    /// A later review of its standard supersedes a review.
    pub const SUPERSEDED: &str = "Superseded";
    /// A report: a Deprecated standard matches it, before its sunset.
    pub const DEPRECATED_STANDARD: &str = "DeprecatedStandard";
    /// A report: a Deprecated standard that matches it is past its sunset.
    pub const SUNSET_PASSED: &str = "SunsetPassed";
    /// Enforced: every rule is checked at admission.
    pub const ALL_RULES: &str = "AllRules";
    /// Enforced: some rules are checked in the background only.
    pub const SOME_RULES: &str = "SomeRules";
    /// Not enforced: no rule can be checked at admission.
    pub const NO_RULES: &str = "NoRules";
    /// Not enforced: the standard's enforcement is Audit.
    pub const AUDIT: &str = "Audit";
    /// Not enforced: the API server refused the generated policy.
    pub const POLICY_REFUSED: &str = "PolicyRefused";
    /// No deviation.
    pub const COMPLIANT: &str = "Compliant";
    /// Every deviation is covered by an active exception.
    pub const EXCEPTED: &str = "Excepted";
    /// At least one deviation is not covered.
    pub const DEVIATING: &str = "Deviating";
    /// No baseline applies to the workload.
    pub const NO_BASELINE: &str = "NoBaseline";
    /// No workload is overdue.
    pub const NONE_OVERDUE: &str = "NoneOverdue";
    /// Workloads are overdue.
    pub const WORKLOADS_OVERDUE: &str = "WorkloadsOverdue";
    /// Nothing is missing.
    pub const COMPLETE: &str = "Complete";
    /// Something is missing.
    pub const INCOMPLETE: &str = "Incomplete";
    /// An exception in effect expires within the warning window.
    pub const EXPIRES_WITHIN_WARNING: &str = "ExpiresWithinWarning";
    /// An exception is not in effect, or expires after the warning window.
    pub const NOT_EXPIRING_SOON: &str = "NotExpiringSoon";
    /// An exception is not stale: it covers a deviation, or is not in effect.
    pub const NEEDED_OR_INACTIVE: &str = "NeededOrInactive";
    /// Exactly one ServiceOwnership selects the workload.
    pub const OWNED: &str = "Owned";
    /// No ServiceOwnership selects the workload.
    pub const ORPHAN: &str = "Orphan";
    /// Several ServiceOwnerships select the workload.
    pub const CONFLICT: &str = "Conflict";
}

/// A condition as the verdict says it should be, before merging with the previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The type.
    pub type_: &'static str,
    /// True or False.
    pub status: bool,
    /// A CamelCase reason.
    pub reason: String,
    /// What it means, and what to do.
    pub message: String,
}

impl Desired {
    /// A condition.
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The longest condition message the API accepts.
const MAX_MESSAGE: usize = 32_768;

/// Merges desired conditions with the previous ones: a condition whose
/// status did not change keeps its `lastTransitionTime`; one that changed (or
/// is new) gets `now`. The result is sorted by type, so it compares equal
/// whenever nothing changed.
pub fn merge(
    previous: &[Condition],
    desired: Vec<Desired>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = desired
        .into_iter()
        .map(|d| {
            let status = if d.status { "True" } else { "False" }.to_string();
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == d.type_ && p.status == status)
                .map_or(Time(now), |p| p.last_transition_time.clone());
            let mut message = d.message;
            if message.len() > MAX_MESSAGE {
                let mut cut = MAX_MESSAGE - 3;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str("...");
            }
            Condition {
                type_: d.type_.to_string(),
                status,
                reason: d.reason,
                message,
                last_transition_time,
                observed_generation: generation,
            }
        })
        .collect();
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Whether a condition of this type is True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// `Ready`, and `Stalled` while the spec is invalid: the conditions that
/// say whether an object's spec is valid.
pub fn validity(error: &Option<String>) -> Vec<Desired> {
    match error {
        None => vec![Desired::new(
            types::READY,
            true,
            reasons::VALID,
            "the spec is valid and evaluated",
        )],
        Some(e) => invalid(reasons::INVALID_SPEC, e),
    }
}

/// `Ready=False` and `Stalled=True`, with the reason and what to fix.
pub fn invalid(reason: &str, message: &str) -> Vec<Desired> {
    vec![
        Desired::new(types::READY, false, reason, message),
        Desired::new(types::STALLED, true, reason, message),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let t0: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-11-24T11:00:00Z".parse().unwrap();
        let first = merge(
            &[],
            vec![Desired::new(types::READY, true, reasons::VALID, "ok")],
            Some(1),
            t0,
        );
        assert_eq!(first[0].last_transition_time, Time(t0));
        // Same status, new message and generation: the time stays.
        let again = merge(
            &first,
            vec![Desired::new(types::READY, true, reasons::VALID, "still ok")],
            Some(2),
            t1,
        );
        assert_eq!(again[0].last_transition_time, Time(t0));
        assert_eq!(again[0].observed_generation, Some(2));
        // New status: the time moves.
        let flipped = merge(
            &again,
            vec![Desired::new(
                types::READY,
                false,
                reasons::INVALID_SPEC,
                "bad",
            )],
            Some(3),
            t1,
        );
        assert_eq!(flipped[0].last_transition_time, Time(t1));
        assert_eq!(flipped[0].status, "False");
    }

    #[test]
    fn an_unchanged_verdict_gives_an_identical_list() {
        let t0: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let desired = || {
            vec![
                Desired::new(types::REVIEW_REQUIRED, false, "BelowThreshold", "1 of 3"),
                Desired::new(types::READY, true, reasons::VALID, "ok"),
            ]
        };
        let a = merge(&[], desired(), Some(1), t0);
        let b = merge(
            &a,
            desired(),
            Some(1),
            "2026-11-25T00:00:00Z".parse().unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(a[0].type_, types::READY, "sorted by type");
    }

    #[test]
    fn huge_messages_are_cut_to_what_the_api_accepts() {
        let t0: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let c = merge(
            &[],
            vec![Desired::new(
                types::READY,
                false,
                reasons::INVALID_SPEC,
                "é".repeat(40_000),
            )],
            None,
            t0,
        );
        assert!(c[0].message.len() <= MAX_MESSAGE);
        assert!(c[0].message.ends_with("..."));
    }
}
