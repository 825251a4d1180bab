//! Which Events a change of status deserves. Events are derived from the
//! status the cluster held before a write and the status written, so they
//! are raised on transitions only, once, and never again after a restart
//! (the stored status already shows the transition). Pure.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::conditions::types;
use crate::api::{ComplianceReportStatus, ExceptionState, PatchState, StandardExceptionStatus};

/// Event reasons.
pub mod reasons {
    /// A workload started deviating from rules.
    pub const DEVIATION_FOUND: &str = "DeviationFound";
    /// A workload stopped deviating from rules.
    pub const DEVIATION_RESOLVED: &str = "DeviationResolved";
    /// A workload's image passed its patch deadline.
    pub const PATCH_OVERDUE: &str = "PatchOverdue";
    /// A standard's active exceptions reached its review threshold.
    pub const STANDARD_REVIEW_REQUIRED: &str = "StandardReviewRequired";
    /// A standard fell back below its review threshold.
    pub const STANDARD_REVIEW_CLEARED: &str = "StandardReviewCleared";
    /// An exception expired.
    pub const EXCEPTION_EXPIRED: &str = "ExceptionExpired";
    /// An exception became invalid.
    pub const EXCEPTION_INVALID: &str = "ExceptionInvalid";
    /// An exception in effect entered its expiry warning window.
    pub const EXCEPTION_EXPIRING_SOON: &str = "ExceptionExpiringSoon";
}

/// An Event to raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Warning (true) or Normal.
    pub warning: bool,
    /// The reason, CamelCase.
    pub reason: &'static str,
    /// What happened, at most 1 kB.
    pub note: String,
}

impl Transition {
    fn new(warning: bool, reason: &'static str, note: String) -> Self {
        let mut note = note;
        if note.len() > 1000 {
            let mut cut = 997;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str("...");
        }
        Self {
            warning,
            reason,
            note,
        }
    }
}

fn open(status: Option<&ComplianceReportStatus>) -> BTreeSet<(String, String)> {
    status
        .into_iter()
        .flat_map(|s| &s.deviations)
        .filter(|d| d.exception.is_none())
        .map(|d| (d.standard.clone(), d.rule.clone()))
        .collect()
}

/// Events for a workload, from its report's status before and after.
pub fn report(
    previous: Option<&ComplianceReportStatus>,
    next: &ComplianceReportStatus,
) -> Vec<Transition> {
    let mut out = Vec::new();
    let before = open(previous);
    let after = open(Some(next));
    let found: Vec<String> = next
        .deviations
        .iter()
        .filter(|d| {
            d.exception.is_none() && !before.contains(&(d.standard.clone(), d.rule.clone()))
        })
        .map(|d| format!("{}/{} ({}): {}", d.standard, d.rule, d.severity, d.message))
        .collect();
    if !found.is_empty() {
        out.push(Transition::new(
            true,
            reasons::DEVIATION_FOUND,
            format!("deviates from {}", found.join("; ")),
        ));
    }
    let resolved: Vec<String> = before
        .difference(&after)
        .map(|(standard, rule)| format!("{standard}/{rule}"))
        .collect();
    if !resolved.is_empty() {
        out.push(Transition::new(
            false,
            reasons::DEVIATION_RESOLVED,
            format!("no longer deviates from {}", resolved.join(", ")),
        ));
    }
    let was_overdue = previous
        .and_then(|p| p.patch.as_ref())
        .is_some_and(|p| p.state == PatchState::Overdue);
    if let Some(patch) = &next.patch
        && patch.state == PatchState::Overdue
        && !was_overdue
    {
        let images: Vec<String> = patch
            .images
            .iter()
            .filter(|i| i.state == PatchState::Overdue)
            .map(|i| {
                format!(
                    "{} `{}` needs {} ({})",
                    i.container, i.image, i.minimum_version, i.baseline
                )
            })
            .collect();
        out.push(Transition::new(
            true,
            reasons::PATCH_OVERDUE,
            format!("past its patch deadline: {}", images.join("; ")),
        ));
    }
    out
}

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Events for a standard, from its conditions before and after.
pub fn standard(previous: &[Condition], next: &[Condition]) -> Vec<Transition> {
    let was = condition(previous, types::REVIEW_REQUIRED).is_some_and(|c| c.status == "True");
    match condition(next, types::REVIEW_REQUIRED) {
        Some(c) if c.status == "True" && !was => {
            vec![Transition::new(
                true,
                reasons::STANDARD_REVIEW_REQUIRED,
                c.message.clone(),
            )]
        }
        Some(c) if c.status == "False" && was => {
            vec![Transition::new(
                false,
                reasons::STANDARD_REVIEW_CLEARED,
                c.message.clone(),
            )]
        }
        _ => Vec::new(),
    }
}

/// Events for an exception, from its status before and after.
pub fn exception(
    previous: Option<&StandardExceptionStatus>,
    next: &StandardExceptionStatus,
) -> Vec<Transition> {
    let before = previous.and_then(|p| p.state);
    let message = || {
        condition(&next.conditions, types::ACTIVE)
            .map(|c| c.message.clone())
            .unwrap_or_default()
    };
    let soon = |conditions: &[Condition]| {
        condition(conditions, types::EXPIRING_SOON).is_some_and(|c| c.status == "True")
    };
    let was_soon = previous.is_some_and(|p| soon(&p.conditions));
    if soon(&next.conditions) && !was_soon {
        let note = condition(&next.conditions, types::EXPIRING_SOON)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return vec![Transition::new(
            true,
            reasons::EXCEPTION_EXPIRING_SOON,
            note,
        )];
    }
    match next.state {
        Some(ExceptionState::Expired) if before != Some(ExceptionState::Expired) => {
            vec![Transition::new(true, reasons::EXCEPTION_EXPIRED, message())]
        }
        Some(ExceptionState::Invalid) if before != Some(ExceptionState::Invalid) => {
            vec![Transition::new(true, reasons::EXCEPTION_INVALID, message())]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Severity, report::Deviation};

    fn status(open: &[&str], excepted: &[&str]) -> ComplianceReportStatus {
        let d = |rule: &str, exception: Option<&str>| Deviation {
            standard: "s".into(),
            rule: rule.into(),
            severity: Severity::High,
            message: format!("fix {rule}"),
            exception: exception.map(Into::into),
        };
        ComplianceReportStatus {
            deviations: open
                .iter()
                .map(|r| d(r, None))
                .chain(excepted.iter().map(|r| d(r, Some("e"))))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn new_and_resolved_deviations_each_raise_one_event() {
        let t = report(None, &status(&["a", "b"], &[]));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
        assert!(t[0].note.contains("s/a (High): fix a") && t[0].note.contains("s/b"));
        let t = report(Some(&status(&["a", "b"], &[])), &status(&["b"], &[]));
        assert_eq!(
            t,
            vec![Transition::new(
                false,
                reasons::DEVIATION_RESOLVED,
                "no longer deviates from s/a".into()
            )]
        );
        // An exception covering a deviation resolves it; expiry re-opens it.
        let t = report(Some(&status(&["a"], &[])), &status(&[], &["a"]));
        assert_eq!(t[0].reason, reasons::DEVIATION_RESOLVED);
        let t = report(Some(&status(&[], &["a"])), &status(&["a"], &[]));
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
    }

    #[test]
    fn an_unchanged_status_raises_nothing() {
        let s = status(&["a"], &["b"]);
        assert!(report(Some(&s), &s).is_empty());
    }

    #[test]
    fn notes_stay_within_a_kilobyte() {
        let many: Vec<String> = (0..200).map(|i| format!("rule-{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let t = report(None, &status(&refs, &[]));
        assert!(t[0].note.len() <= 1000);
    }
}
