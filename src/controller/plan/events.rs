//! The vocabulary of Events: their reasons, what one is, and how many
//! workloads changing at once are summarised on their standard or baseline
//! instead of raising one Event each. Each output kind's module derives its
//! own Events from the status the cluster held and the status it plans, so
//! they are raised on transitions only, once, and never again after a
//! restart (the stored status already shows the transition). Pure.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

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
    /// An Event with this note, cut to 1 kB.
    pub fn new(warning: bool, reason: &'static str, note: String) -> Self {
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

/// The condition of this type, if any.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}
