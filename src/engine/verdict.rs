//! What the engine concludes: per workload, standard, exception, baseline
//! and ownership. Plain data, shared by the controller and the audit.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::ownership::{Finding, Owner};
use crate::api::{
    ExceptionState, PatchState, Severity,
    baseline::{OverdueWorkload, PatchCounts, RingCounts},
    common::{Sample, WorkloadRef},
    ownership::OwnershipConflict,
    standard::{DeviationSummary, ExceptionCounts, RuleCounts},
};

/// How many items a status sample holds.
pub const SAMPLE_CAP: usize = 20;

/// Everything the engine concludes at one instant.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The time it was evaluated at.
    pub at: Timestamp,
    /// One per input workload, in input order.
    pub workloads: Vec<WorkloadVerdict>,
    /// One per input standard, in input order.
    pub standards: Vec<StandardVerdict>,
    /// One per input exception, in input order.
    pub exceptions: Vec<ExceptionVerdict>,
    /// One per input baseline, in input order.
    pub baselines: Vec<BaselineVerdict>,
    /// One per input ownership, in input order.
    pub ownerships: Vec<OwnershipVerdict>,
    /// One per input review, in input order.
    pub reviews: Vec<ReviewVerdict>,
    /// The next instant after `at` at which a verdict changes by itself
    /// (an exception expires, a deadline or an effective date passes, an end of
    /// support is reached). Evaluate again then.
    pub next_change: Option<Timestamp>,
}

/// Whether a workload follows one standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compliance {
    /// No deviation.
    Compliant,
    /// Every deviation is covered by an active exception.
    Excepted,
    /// At least one deviation is not covered.
    Deviating,
}

/// One way a workload does not follow a standard.
#[derive(Clone, Debug, PartialEq)]
pub struct Deviation {
    /// The standard (shared with the compiled standard: at 10,000 workloads
    /// a string per deviation adds up).
    pub standard: Arc<str>,
    /// The rule id (shared likewise).
    pub rule: Arc<str>,
    /// The rule's severity.
    pub severity: Severity,
    /// What is wrong and how to fix it (one shared copy per distinct text:
    /// most workloads deviate in the same words).
    pub message: Arc<str>,
    /// The active exception that covers it (`namespace/name` is implied: its own namespace).
    pub exception: Option<String>,
}

/// One container image against one baseline image entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagePatch {
    /// The container.
    pub container: String,
    /// The image reference as written.
    pub image: String,
    /// The baseline.
    pub baseline: String,
    /// The ring the workload is in.
    pub ring: Option<String>,
    /// The least version.
    pub minimum_version: String,
    /// The state.
    pub state: PatchState,
    /// When it is or was due (Behind, Overdue, Excepted).
    pub due: Option<Timestamp>,
    /// Why, for Unknown; the exception, for Excepted.
    pub reason: Option<String>,
}

/// The verdict on one workload.
#[derive(Clone, Debug)]
pub struct WorkloadVerdict {
    /// Every deviation, most severe first, then by standard and rule.
    pub deviations: Vec<Deviation>,
    /// The standards that match it (by index into the inputs) and its compliance with each.
    pub standards: Vec<(usize, Compliance)>,
    /// Per image and baseline entry that applies.
    pub patch: Vec<ImagePatch>,
    /// The worst patch state, if any baseline applies.
    pub patch_state: Option<PatchState>,
    /// The earliest due date of an image that is Behind.
    pub patch_due: Option<Timestamp>,
    /// Who owns it.
    pub owner: Owner,
    /// Per deviation, its standard and rule by index (in input order).
    pub rules: Vec<RuleOutcome>,
    /// Per baseline that applies (by index into the inputs), its worst image.
    pub baselines: Vec<BaselineOutcome>,
    /// The exceptions of its namespace that select it, valid or not.
    pub selected_by: Vec<String>,
    /// The exceptions that covered one of its deviations or images.
    pub used_exceptions: Vec<String>,
    /// The Deprecated standards that match it.
    pub deprecated: Vec<DeprecatedStandard>,
    /// The next instant after the evaluation at which this verdict changes
    /// by itself (an exception expires, a deadline passes, ...).
    pub next_change: Option<Timestamp>,
}

/// A Deprecated standard that matches a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeprecatedStandard {
    /// The standard.
    pub standard: Arc<str>,
    /// Its successor, if named.
    pub superseded_by: Option<Arc<str>>,
    /// Its sunset.
    pub sunset: Option<Timestamp>,
    /// Whether the sunset has passed.
    pub sunset_passed: bool,
}

/// One deviation, by index: what the per-standard counts are folded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleOutcome {
    /// The standard, by index into the inputs.
    pub standard: usize,
    /// The rule, by index into the standard's rules.
    pub rule: usize,
    /// The rule's severity.
    pub severity: Severity,
    /// Whether an exception covers it.
    pub excepted: bool,
}

/// A workload against one patch baseline: its worst image.
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineOutcome {
    /// The baseline, by index into the inputs.
    pub baseline: usize,
    /// The ring the workload is in.
    pub ring: Option<String>,
    /// The worst state of its images.
    pub state: PatchState,
    /// The overdue entry, when it is overdue.
    pub overdue: Option<OverdueWorkload>,
}

impl WorkloadVerdict {
    /// Deviations not covered by an exception.
    pub fn open_deviations(&self) -> impl Iterator<Item = &Deviation> {
        self.deviations.iter().filter(|d| d.exception.is_none())
    }

    /// The workload's state across every standard that applies: the one
    /// place where compliant, excepted and deviating are told apart (the
    /// report's condition, the metrics and `plumbline audit` all ask here).
    pub fn compliance(&self) -> Compliance {
        if self.open_deviations().next().is_some() {
            Compliance::Deviating
        } else if self.deviations.is_empty() {
            Compliance::Compliant
        } else {
            Compliance::Excepted
        }
    }
}

/// How far a Deprecated standard's workloads have moved to its successor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationVerdict {
    /// The successor, if valid.
    pub superseded_by: Option<String>,
    /// The sunset.
    pub sunset: Option<Timestamp>,
    /// Whether it passed.
    pub sunset_passed: bool,
    /// Workloads the standard matches.
    pub matched: i32,
    /// Those the successor matches and that comply with it (or are excepted).
    pub migrated: i32,
    /// A capped sample of the others, with the total left out.
    pub pending: Sample<crate::api::standard::PendingMigration>,
}

impl From<&MigrationVerdict> for crate::api::standard::Migration {
    fn from(m: &MigrationVerdict) -> Self {
        Self {
            superseded_by: m.superseded_by.clone(),
            sunset: m.sunset.map(Time),
            sunset_passed: m.sunset_passed,
            matched: m.matched,
            migrated: m.migrated,
            remaining: m.matched - m.migrated,
            pending: m.pending.clone(),
        }
    }
}

impl From<&super::review::Current> for crate::api::standard::ReviewSummary {
    fn from(c: &super::review::Current) -> Self {
        Self {
            name: c.name.clone(),
            reviewed_by: c.reviewed_by.clone(),
            outcome: c.outcome,
            reviewed_at: c.at.map(Time),
            next_review_due: c.next_due.map(Time),
        }
    }
}

/// The verdict on one review: what its status should record.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewVerdict {
    /// Its name.
    pub name: String,
    /// Whether the standard it names exists.
    pub standard_exists: bool,
    /// Whether it was recorded for an earlier standard of that name (deleted
    /// and created again since): it no longer counts.
    pub replaced: bool,
    /// Whether it is its standard's current review.
    pub current: bool,
    /// For a current review not recorded yet: the exceptions to record and
    /// the standard's figures.
    pub record: Option<(
        Vec<crate::api::review::ConsideredException>,
        crate::api::review::AtReview,
    )>,
}

/// The verdict on one standard.
#[derive(Clone, Debug, Default)]
pub struct StandardVerdict {
    /// Its name.
    pub name: String,
    /// Why its spec is invalid (every problem, each naming its field), if it is.
    pub error: Option<String>,
    /// CEL rules that do not compile (the other rules are evaluated).
    pub rule_errors: Vec<String>,
    /// Rules that cannot be what was meant (see `CompiledStandard::warnings`).
    pub warnings: Vec<String>,
    /// Matched workloads.
    pub matched: i32,
    /// Matched workloads without deviation.
    pub compliant: i32,
    /// Matched workloads with an uncovered deviation.
    pub deviating: i32,
    /// Matched workloads whose deviations are all covered.
    pub excepted: i32,
    /// Per rule, in spec order.
    pub rules: Vec<RuleCounts>,
    /// Exceptions targeting it, by state.
    pub exceptions: ExceptionCounts,
    /// Whether it needs review, and why.
    pub review: super::review::ReviewState,
    /// A capped sample of uncovered deviations.
    pub deviations: Sample<DeviationSummary>,
    /// Its lifecycle stage.
    pub stage: crate::api::standard::Stage,
    /// What is wrong with its lifecycle (the standard still evaluates).
    pub lifecycle_error: Option<String>,
    /// While Deprecated: the migration to its successor.
    pub migration: Option<MigrationVerdict>,
}

/// The verdict on one exception.
#[derive(Clone, Debug, PartialEq)]
pub struct ExceptionVerdict {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: ExceptionState,
    /// A CamelCase reason for the state.
    pub reason: &'static str,
    /// The state in words, saying what to do when something is wrong.
    pub message: String,
    /// The workloads it selects.
    pub covered: Vec<WorkloadRef>,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Whether it covers the workloads it selects now: valid, approved and
    /// not expired (what admission honours; it may still select nothing yet).
    pub in_force: bool,
    /// Invalid only because it selects no workload yet: the workload may be
    /// on its way, so it is not stalled.
    pub awaiting_workloads: bool,
}

impl ExceptionVerdict {
    /// Whether it is in effect: Active or Stale (valid, approved, not
    /// expired, and selecting a workload). Only then can it expire or warn.
    pub fn in_effect(&self) -> bool {
        matches!(self.state, ExceptionState::Active | ExceptionState::Stale)
    }

    /// When its expiry warning starts, for a warning `window` before expiry.
    pub fn warns_at(&self, window: SignedDuration) -> Timestamp {
        self.expires_at
            .checked_sub(window)
            .unwrap_or(Timestamp::MIN)
    }

    /// Whether, at `now`, it is in effect and within `window` of its expiry.
    pub fn expiring_soon(&self, now: Timestamp, window: SignedDuration) -> bool {
        self.in_effect() && now >= self.warns_at(window)
    }
}

impl Evaluation {
    /// The next instant after `now` at which a verdict changes by itself
    /// (`next_change`) or an exception in effect enters its expiry warning
    /// `window`: when the operator must evaluate again though nothing else
    /// changes.
    pub fn wakes_at(&self, now: Timestamp, window: SignedDuration) -> Option<Timestamp> {
        let warning = self
            .exceptions
            .iter()
            .filter(|e| e.in_effect())
            .map(|e| e.warns_at(window))
            .filter(|t| *t > now)
            .min();
        [self.next_change, warning].into_iter().flatten().min()
    }
}

/// The verdict on one patch baseline.
#[derive(Clone, Debug, Default)]
pub struct BaselineVerdict {
    /// Its name.
    pub name: String,
    /// Why its spec is invalid, if it is.
    pub error: Option<String>,
    /// Workloads by state.
    pub totals: PatchCounts,
    /// Workloads by state, per ring in spec order, then `none`.
    pub rings: Vec<RingCounts>,
    /// Most overdue first, capped.
    pub overdue: Sample<OverdueWorkload>,
}

/// The verdict on one service ownership.
#[derive(Clone, Debug, Default)]
pub struct OwnershipVerdict {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Why its spec is invalid, if it is.
    pub error: Option<String>,
    /// Workloads it selects.
    pub matched: i32,
    /// Workloads another ownership selects too.
    pub conflicts: Sample<OwnershipConflict>,
    /// Completeness findings (empty: complete).
    pub findings: Vec<Finding>,
}

impl OwnershipVerdict {
    /// Whether it names everything it should (no finding).
    pub fn complete(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Builds a capped sample from items already in order.
pub fn sample<T>(items: Vec<T>) -> Sample<T> {
    let omitted = items.len().saturating_sub(SAMPLE_CAP);
    let mut items = items;
    items.truncate(SAMPLE_CAP);
    Sample {
        items,
        omitted: i32::try_from(omitted).unwrap_or(i32::MAX),
    }
}

/// The first `SAMPLE_CAP` of many items in the order of a key, chosen as
/// they come: it holds at most twice the cap, however many items there are
/// (collecting every open deviation of 10,000 workloads to pick 20 took
/// megabytes on every pass).
#[derive(Debug)]
pub struct Capped<T> {
    items: Vec<T>,
    total: usize,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T> Capped<T> {
    /// Counts an item, and keeps it while it can be among the first.
    pub fn push<K: Ord>(&mut self, item: T, key: impl Fn(&T) -> K) {
        self.total += 1;
        self.items.push(item);
        if self.items.len() >= 2 * SAMPLE_CAP {
            self.keep_first(&key);
        }
    }

    fn keep_first<K: Ord>(&mut self, key: &impl Fn(&T) -> K) {
        if self.items.len() > SAMPLE_CAP {
            self.items
                .select_nth_unstable_by(SAMPLE_CAP, |a, b| key(a).cmp(&key(b)));
            self.items.truncate(SAMPLE_CAP);
        }
    }

    /// The first `SAMPLE_CAP` items in key order, and how many were counted.
    pub fn finish<K: Ord>(mut self, key: impl Fn(&T) -> K) -> (Vec<T>, usize) {
        self.keep_first(&key);
        self.items.sort_by_key(&key);
        (self.items, self.total)
    }
}

/// How bad a patch state is, for "the worst state" of several images.
pub fn patch_rank(state: PatchState) -> u8 {
    match state {
        PatchState::Current => 0,
        PatchState::Excepted => 1,
        PatchState::Unknown => 2,
        PatchState::Behind => 3,
        PatchState::Overdue => 4,
    }
}

impl From<&ImagePatch> for crate::api::report::ImagePatch {
    fn from(p: &ImagePatch) -> Self {
        Self {
            container: p.container.clone(),
            image: p.image.clone(),
            baseline: p.baseline.clone(),
            ring: p.ring.clone(),
            minimum_version: p.minimum_version.clone(),
            state: p.state,
            due: p
                .due
                .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
            reason: p.reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_sample_is_the_head_of_a_full_sort_and_counts_everything() {
        // 1,000 items in a scrambled order, with repeats of the key.
        let items: Vec<(u32, u32)> = (0..1000u32).map(|i| ((i * 7919) % 97, i)).collect();
        let mut capped = Capped::default();
        for &item in &items {
            capped.push(item, |&(k, i)| (std::cmp::Reverse(k), i));
        }
        let (kept, total) = capped.finish(|&(k, i)| (std::cmp::Reverse(k), i));
        let mut sorted = items.clone();
        sorted.sort_by_key(|&(k, i)| (std::cmp::Reverse(k), i));
        assert_eq!(total, 1000);
        assert_eq!(kept, sorted[..SAMPLE_CAP].to_vec());
        // Fewer than the cap: all of them, in order.
        let mut few = Capped::default();
        for i in [3, 1, 2] {
            few.push(i, |&i| i);
        }
        assert_eq!(few.finish(|&i| i), (vec![1, 2, 3], 3));
    }
}
