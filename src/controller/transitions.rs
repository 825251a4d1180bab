//! Which Events a change of status deserves. Events are derived from the
//! status the cluster held before a write and the status written, so they
//! are raised on transitions only, once, and never again after a restart
//! (the stored status already shows the transition). Pure.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::{
    conditions::types,
    seen::{SeenReport, open},
};
use crate::{
    api::{
        ComplianceReportStatus, ExceptionState, InfrastructureStandardStatus, PatchState,
        StandardExceptionStatus,
    },
    engine::{WorkloadVerdict, review::Class},
};

/// Event reasons.
pub mod reasons {
    /// A workload started deviating from rules.
    pub const DEVIATION_FOUND: &str = "DeviationFound";
    /// A workload stopped deviating from rules.
    pub const DEVIATION_RESOLVED: &str = "DeviationResolved";
    /// A workload's image passed its patch deadline.
    pub const PATCH_OVERDUE: &str = "PatchOverdue";
    /// A standard's exceptions reached its review threshold, with no review covering them.
    pub const STANDARD_REVIEW_REQUIRED: &str = "StandardReviewRequired";
    /// A standard fell back below its review threshold, with no review.
    pub const STANDARD_REVIEW_CLEARED: &str = "StandardReviewCleared";
    /// A review of a standard was recorded that covers its situation.
    pub const STANDARD_REVIEWED: &str = "StandardReviewed";
    /// A standard's review date passed (its review's nextReviewBy, or its interval).
    pub const STANDARD_REVIEW_DUE: &str = "StandardReviewDue";
    /// A Deprecated standard passed its sunset.
    pub const STANDARD_SUNSET_PASSED: &str = "StandardSunsetPassed";
    /// An exception expired.
    pub const EXCEPTION_EXPIRED: &str = "ExceptionExpired";
    /// An exception became invalid.
    pub const EXCEPTION_INVALID: &str = "ExceptionInvalid";
    /// An exception in effect entered its expiry warning window.
    pub const EXCEPTION_EXPIRING_SOON: &str = "ExceptionExpiringSoon";
    /// Many workloads started deviating from a standard in one evaluation.
    pub const DEVIATIONS_FOUND: &str = "DeviationsFound";
    /// Many workloads stopped deviating from a standard in one evaluation.
    pub const DEVIATIONS_RESOLVED: &str = "DeviationsResolved";
    /// Many workloads passed a baseline's patch deadline in one evaluation.
    pub const PATCHES_OVERDUE: &str = "PatchesOverdue";
}

/// More workloads than this changing for one standard (or baseline) in one
/// evaluation get one summary Event on it instead of one Event each:
/// installing plumbline, adding a standard, or a ring deadline passing
/// raises a handful of Events, not one per workload.
pub const BULK: usize = 20;

/// What a report's change means per standard and baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Open deviations (standard, rule) it did not have.
    pub found: BTreeSet<(String, String)>,
    /// Open deviations (standard, rule) it no longer has.
    pub resolved: BTreeSet<(String, String)>,
    /// Baselines whose deadline it passed.
    pub overdue: BTreeSet<String>,
}

/// Standards and baselines whose changes in this evaluation are summarised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bulk {
    /// Standards whose found or resolved deviations are summarised.
    pub standards: BTreeSet<String>,
    /// Baselines whose overdue workloads are summarised.
    pub baselines: BTreeSet<String>,
}

/// An Event about the standard or baseline of this name.
pub type Named = (String, Transition);

/// The changes of many reports, counted per standard and baseline.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    found: std::collections::BTreeMap<String, (usize, std::collections::BTreeMap<String, usize>)>,
    resolved: std::collections::BTreeMap<String, usize>,
    overdue: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    /// Counts one workload's changes.
    pub fn add(&mut self, c: &Changes) {
        let standards = |set: &BTreeSet<(String, String)>| {
            set.iter().map(|(s, _)| s.clone()).collect::<BTreeSet<_>>()
        };
        for standard in standards(&c.found) {
            self.found.entry(standard).or_default().0 += 1;
        }
        for (standard, rule) in &c.found {
            *self
                .found
                .entry(standard.clone())
                .or_default()
                .1
                .entry(rule.clone())
                .or_default() += 1;
        }
        for standard in standards(&c.resolved) {
            *self.resolved.entry(standard).or_default() += 1;
        }
        for baseline in &c.overdue {
            *self.overdue.entry(baseline.clone()).or_default() += 1;
        }
    }

    /// Which standards and baselines have more than `BULK` workloads changing.
    pub fn bulk(&self) -> Bulk {
        Bulk {
            standards: self
                .found
                .iter()
                .filter(|(_, (n, _))| *n > BULK)
                .map(|(s, _)| s.clone())
                .chain(
                    self.resolved
                        .iter()
                        .filter(|(_, n)| **n > BULK)
                        .map(|(s, _)| s.clone()),
                )
                .collect(),
            baselines: self
                .overdue
                .iter()
                .filter(|(_, n)| **n > BULK)
                .map(|(b, _)| b.clone())
                .collect(),
        }
    }

    /// One summary Event per standard of `bulk`, then per baseline.
    pub fn summaries(&self, bulk: &Bulk) -> (Vec<Named>, Vec<Named>) {
        let mut standards = Vec::new();
        for standard in &bulk.standards {
            if let Some((n, rules)) = self.found.get(standard) {
                let mut top: Vec<(&String, &usize)> = rules.iter().collect();
                top.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
                let most: Vec<String> = top
                    .iter()
                    .take(5)
                    .map(|(r, c)| format!("{r} on {c}"))
                    .collect();
                standards.push((
                    standard.clone(),
                    Transition::new(
                        true,
                        reasons::DEVIATIONS_FOUND,
                        format!(
                            "{n} workloads started deviating in one evaluation (most: {}); each one's ComplianceReport says what to fix",
                            most.join(", ")
                        ),
                    ),
                ));
            }
            if let Some(n) = self.resolved.get(standard) {
                standards.push((
                    standard.clone(),
                    Transition::new(
                        false,
                        reasons::DEVIATIONS_RESOLVED,
                        format!("{n} workloads stopped deviating in one evaluation"),
                    ),
                ));
            }
        }
        let baselines = bulk
            .baselines
            .iter()
            .filter_map(|b| {
                self.overdue.get(b).map(|n| {
                    (
                        b.clone(),
                        Transition::new(
                            true,
                            reasons::PATCHES_OVERDUE,
                            format!("{n} workloads passed their patch deadline in one evaluation; each one's ComplianceReport names the images"),
                        ),
                    )
                })
            })
            .collect();
        (standards, baselines)
    }
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

/// What changed between a report as last seen and its status now.
pub fn report_changes(previous: Option<&SeenReport>, next: &ComplianceReportStatus) -> Changes {
    let owned = |(s, r): (&str, &str)| (s.to_string(), r.to_string());
    let before: BTreeSet<(String, String)> = previous
        .into_iter()
        .flat_map(SeenReport::open)
        .map(owned)
        .collect();
    let after: BTreeSet<(String, String)> = open(Some(next)).map(owned).collect();
    let was_overdue = previous.is_some_and(|p| p.overdue);
    let overdue = match &next.patch {
        Some(patch) if patch.state == PatchState::Overdue && !was_overdue => patch
            .images
            .iter()
            .filter(|i| i.state == PatchState::Overdue)
            .map(|i| i.baseline.clone())
            .collect(),
        _ => BTreeSet::new(),
    };
    Changes {
        found: after.difference(&before).cloned().collect(),
        resolved: before.difference(&after).cloned().collect(),
        overdue,
    }
}

/// Events for a workload, from what its write changes (`report_changes`)
/// and its verdict (whose messages say what is wrong and how to fix it),
/// leaving out what `bulk` summarises on the standard or baseline instead.
pub fn report(
    changes: &Changes,
    next: &ComplianceReportStatus,
    verdict: &WorkloadVerdict,
    bulk: &Bulk,
) -> Vec<Transition> {
    let mut out = Vec::new();
    let found: Vec<String> = verdict
        .open_deviations()
        .filter(|d| {
            !bulk.standards.contains(&*d.standard)
                && changes
                    .found
                    .contains(&(d.standard.to_string(), d.rule.to_string()))
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
    let resolved: Vec<String> = changes
        .resolved
        .iter()
        .filter(|(standard, _)| !bulk.standards.contains(standard))
        .map(|(standard, rule)| format!("{standard}/{rule}"))
        .collect();
    if !resolved.is_empty() {
        out.push(Transition::new(
            false,
            reasons::DEVIATION_RESOLVED,
            format!("no longer deviates from {}", resolved.join(", ")),
        ));
    }
    if let Some(patch) = &next.patch
        && changes.overdue.iter().any(|b| !bulk.baselines.contains(b))
    {
        let images: Vec<String> = patch
            .images
            .iter()
            .filter(|i| i.state == PatchState::Overdue && !bulk.baselines.contains(&i.baseline))
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

/// Events for a standard, from its status before and after: one per change
/// of its review state (required, due, reviewed, cleared) or of its review,
/// and one when a Deprecated standard passes its sunset.
pub fn standard(
    previous: Option<&InfrastructureStandardStatus>,
    next: &InfrastructureStandardStatus,
) -> Vec<Transition> {
    let mut out = Vec::new();
    let before = previous.and_then(|p| condition(&p.conditions, types::REVIEW_REQUIRED));
    let was = |status: &str| before.is_some_and(|c| c.status == status);
    let class_before = before.map(|c| Class::of(&c.reason));
    let review_before = previous.and_then(|p| p.review.as_ref()).map(|r| &r.name);
    let review_now = next.review.as_ref().map(|r| &r.name);
    if let Some(c) = condition(&next.conditions, types::REVIEW_REQUIRED) {
        let class = Class::of(&c.reason);
        let moved = !was(&c.status) || class_before != Some(class);
        match class {
            Class::Required if moved => out.push(Transition::new(
                true,
                reasons::STANDARD_REVIEW_REQUIRED,
                c.message.clone(),
            )),
            Class::Due if moved => out.push(Transition::new(
                true,
                reasons::STANDARD_REVIEW_DUE,
                c.message.clone(),
            )),
            Class::Reviewed if moved || review_before != review_now => out.push(Transition::new(
                false,
                reasons::STANDARD_REVIEWED,
                c.message.clone(),
            )),
            Class::Quiet if was("True") => out.push(Transition::new(
                false,
                reasons::STANDARD_REVIEW_CLEARED,
                c.message.clone(),
            )),
            _ => {}
        }
    }
    let passed = |s: Option<&InfrastructureStandardStatus>| {
        s.and_then(|s| s.migration.as_ref())
            .is_some_and(|m| m.sunset_passed)
    };
    if let Some(m) = &next.migration
        && m.sunset_passed
        && !passed(previous)
    {
        let successor = m
            .superseded_by
            .as_deref()
            .map_or(String::new(), |s| format!(" to {s}"));
        out.push(Transition::new(
            true,
            reasons::STANDARD_SUNSET_PASSED,
            format!(
                "the sunset{} has passed: {} of {} matched workloads have not moved{successor}",
                m.sunset
                    .as_ref()
                    .map_or(String::new(), |t| format!(" ({})", t.0)),
                m.remaining,
                m.matched
            ),
        ));
    }
    out
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
    use std::sync::Arc;

    use super::*;
    use crate::{
        api::Severity,
        controller::build::by_standard,
        engine::{Deviation, Owner},
    };

    /// A verdict with these open and excepted rules of standard `s`.
    fn verdict(open: &[&str], excepted: &[&str]) -> WorkloadVerdict {
        let d = |rule: &str, exception: Option<&str>| Deviation {
            standard: Arc::from("s"),
            rule: Arc::from(rule),
            severity: Severity::High,
            message: Arc::from(format!("fix {rule}")),
            exception: exception.map(Into::into),
        };
        WorkloadVerdict {
            deviations: open
                .iter()
                .map(|r| d(r, None))
                .chain(excepted.iter().map(|r| d(r, Some("e"))))
                .collect(),
            standards: Vec::new(),
            patch: Vec::new(),
            patch_state: None,
            patch_due: None,
            owner: Owner::Orphan,
            rules: Vec::new(),
            baselines: Vec::new(),
            selected_by: Vec::new(),
            used_exceptions: Vec::new(),
            deprecated: Vec::new(),
            next_change: None,
        }
    }

    fn status_of(v: &WorkloadVerdict) -> ComplianceReportStatus {
        ComplianceReportStatus {
            deviations: by_standard(&v.deviations),
            ..Default::default()
        }
    }

    fn status(open: &[&str], excepted: &[&str]) -> ComplianceReportStatus {
        status_of(&verdict(open, excepted))
    }

    /// The Events of going from `before` to this verdict.
    fn events(before: Option<&SeenReport>, v: &WorkloadVerdict, bulk: &Bulk) -> Vec<Transition> {
        let next = status_of(v);
        report(&report_changes(before, &next), &next, v, bulk)
    }

    fn spec() -> crate::api::ComplianceReportSpec {
        crate::api::ComplianceReportSpec {
            workload: crate::api::report::ReportedWorkload {
                kind: "Deployment".into(),
                name: "w".into(),
            },
        }
    }

    fn seen(open: &[&str], excepted: &[&str]) -> SeenReport {
        SeenReport::new(&crate::api::ComplianceReport {
            metadata: Default::default(),
            spec: spec(),
            status: Some(status(open, excepted)),
        })
    }

    #[test]
    fn new_and_resolved_deviations_each_raise_one_event() {
        let t = events(None, &verdict(&["a", "b"], &[]), &Bulk::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
        assert!(t[0].note.contains("s/a (High): fix a") && t[0].note.contains("s/b"));
        let t = events(
            Some(&seen(&["a", "b"], &[])),
            &verdict(&["b"], &[]),
            &Bulk::default(),
        );
        assert_eq!(
            t,
            vec![Transition::new(
                false,
                reasons::DEVIATION_RESOLVED,
                "no longer deviates from s/a".into()
            )]
        );
        // An exception covering a deviation resolves it; expiry re-opens it.
        let t = events(
            Some(&seen(&["a"], &[])),
            &verdict(&[], &["a"]),
            &Bulk::default(),
        );
        assert_eq!(t[0].reason, reasons::DEVIATION_RESOLVED);
        let t = events(
            Some(&seen(&[], &["a"])),
            &verdict(&["a"], &[]),
            &Bulk::default(),
        );
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
    }

    #[test]
    fn events_follow_every_open_deviation_of_a_long_list() {
        // 60 rules: a report lists all of them.
        let rules: Vec<String> = (0..60).map(|i| format!("r{i:02}")).collect();
        let all: Vec<&str> = rules.iter().map(String::as_str).collect();
        let before = seen(&all, &[]);
        assert_eq!(before.open().count(), 60);
        // The 56th is fixed: resolved, by name, and nothing else is.
        let after: Vec<&str> = all.iter().copied().filter(|r| *r != "r55").collect();
        let t = events(Some(&before), &verdict(&after, &[]), &Bulk::default());
        assert_eq!(
            t,
            vec![Transition::new(
                false,
                reasons::DEVIATION_RESOLVED,
                "no longer deviates from s/r55".into()
            )]
        );
        // A 61st, beyond the messages, is found.
        let more: Vec<&str> = all.iter().copied().chain(["r60"]).collect();
        let t = events(Some(&before), &verdict(&more, &[]), &Bulk::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
        assert!(t[0].note.contains("s/r60"), "{}", t[0].note);
    }

    #[test]
    fn an_unchanged_status_raises_nothing() {
        let v = verdict(&["a"], &["b"]);
        assert!(events(Some(&seen(&["a"], &["b"])), &v, &Bulk::default()).is_empty());
    }

    #[test]
    fn notes_stay_within_a_kilobyte() {
        let many: Vec<String> = (0..200).map(|i| format!("rule-{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let t = events(None, &verdict(&refs, &[]), &Bulk::default());
        assert!(t[0].note.len() <= 1000);
    }

    #[test]
    fn many_workloads_changing_at_once_are_summarised_per_standard() {
        let mut tally = Tally::default();
        let before = seen(&[], &[]);
        let next = verdict(&["a", "b"], &[]);
        let after = status_of(&next);
        for _ in 0..=BULK {
            tally.add(&report_changes(Some(&before), &after));
        }
        let bulk = tally.bulk();
        assert!(bulk.standards.contains("s"), "{bulk:?}");
        // Their own Events leave out what the summary says...
        assert!(events(Some(&before), &next, &bulk).is_empty());
        // ...and the standard gets one, with the count and the rules.
        let (standards, baselines) = tally.summaries(&bulk);
        assert!(baselines.is_empty());
        assert_eq!(standards.len(), 1);
        let (name, t) = &standards[0];
        assert_eq!((name.as_str(), t.reason), ("s", reasons::DEVIATIONS_FOUND));
        assert!(
            t.note
                .starts_with(&format!("{} workloads started deviating", BULK + 1)),
            "{}",
            t.note
        );
        assert!(t.note.contains(&format!("a on {}", BULK + 1)), "{}", t.note);
        // A few workloads changing still get their own Events.
        let mut few = Tally::default();
        for _ in 0..BULK {
            few.add(&report_changes(Some(&before), &after));
        }
        assert_eq!(few.bulk(), Bulk::default());
    }

    /// A standard's status with this ReviewRequired condition, current
    /// review and sunset state.
    fn standard_status(
        required: bool,
        reason: &str,
        review: Option<&str>,
        sunset_passed: Option<bool>,
    ) -> InfrastructureStandardStatus {
        InfrastructureStandardStatus {
            conditions: vec![Condition {
                type_: types::REVIEW_REQUIRED.into(),
                status: if required { "True" } else { "False" }.into(),
                reason: reason.into(),
                message: format!("{reason} in words"),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::UNIX_EPOCH,
                ),
                observed_generation: None,
            }],
            review: review.map(|name| crate::api::standard::ReviewSummary {
                name: name.into(),
                reviewed_by: "carol".into(),
                outcome: crate::api::review::ReviewOutcome::Keep,
                reviewed_at: None,
                next_review_due: None,
            }),
            migration: sunset_passed.map(|passed| crate::api::standard::Migration {
                sunset_passed: passed,
                matched: 3,
                migrated: 1,
                remaining: 2,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn reasons_of(events: &[Transition]) -> Vec<&'static str> {
        events.iter().map(|t| t.reason).collect()
    }

    #[test]
    fn each_review_transition_raises_one_event_and_a_restart_none() {
        use crate::engine::review::reasons as r;
        let below = standard_status(false, r::BELOW_THRESHOLD, None, None);
        let required = standard_status(true, r::ACTIVE_EXCEPTIONS_AT_THRESHOLD, None, None);
        let reviewed = standard_status(false, r::REVIEWED, Some("r1"), None);
        let again = standard_status(true, r::NEW_EXCEPTIONS_SINCE_REVIEW, Some("r1"), None);
        let due = standard_status(true, r::REVIEW_DUE, Some("r1"), None);
        let pending = standard_status(false, r::REVISION_PENDING, Some("r2"), None);
        let revised = standard_status(false, r::REVIEWED, Some("r2"), None);
        let cases: &[(
            Option<&InfrastructureStandardStatus>,
            &InfrastructureStandardStatus,
            &[&str],
        )] = &[
            // First status: only an alarm is news.
            (None, &below, &[]),
            (None, &required, &[reasons::STANDARD_REVIEW_REQUIRED]),
            (
                Some(&below),
                &required,
                &[reasons::STANDARD_REVIEW_REQUIRED],
            ),
            (Some(&required), &reviewed, &[reasons::STANDARD_REVIEWED]),
            (
                Some(&reviewed),
                &again,
                &[reasons::STANDARD_REVIEW_REQUIRED],
            ),
            // Required to due is a change of kind.
            (Some(&again), &due, &[reasons::STANDARD_REVIEW_DUE]),
            // A new review, with its decision pending, then carried out.
            (Some(&due), &pending, &[reasons::STANDARD_REVIEWED]),
            (Some(&pending), &revised, &[]),
            // A later review while quiet is news too.
            (Some(&reviewed), &revised, &[reasons::STANDARD_REVIEWED]),
            (Some(&required), &below, &[reasons::STANDARD_REVIEW_CLEARED]),
        ];
        for (before, after, want) in cases {
            assert_eq!(
                reasons_of(&standard(*before, after)),
                *want,
                "{:?} -> {:?}",
                before.map(|b| &b.conditions[0].reason),
                after.conditions[0].reason
            );
        }
        // A restart (or a resync) finds the status it would write: nothing.
        for s in [
            &below, &required, &reviewed, &again, &due, &pending, &revised,
        ] {
            assert!(standard(Some(s), s).is_empty());
        }
    }

    #[test]
    fn a_sunset_raises_one_event_with_the_count_not_migrated() {
        let before = standard_status(false, "NoReviewPolicy", None, Some(false));
        let after = standard_status(false, "NoReviewPolicy", None, Some(true));
        let events = standard(Some(&before), &after);
        assert_eq!(reasons_of(&events), [reasons::STANDARD_SUNSET_PASSED]);
        assert!(events[0].note.contains("2 of 3"), "{}", events[0].note);
        assert!(standard(Some(&after), &after).is_empty());
        // Deprecated with a sunset already past: once, on the first status.
        assert_eq!(
            reasons_of(&standard(None, &after)),
            [reasons::STANDARD_SUNSET_PASSED]
        );
    }
}
