//! Standard reviews and lifecycle at one instant: which review of a standard
//! counts, whether the standard's review is required or due (and why), and
//! which standards supersede which. Pure: the time is an input; no I/O.
//!
//! `ReviewRequired` is True when, and only when, one of these holds (first
//! match wins, and names the reason):
//! 1. the review thresholds are crossed and no review covers the situation:
//!    there is none, or an active exception was not considered by the
//!    current review (or was created again after it), or the current review
//!    was recorded below the thresholds;
//! 2. the current review's `nextReviewBy` has passed;
//! 3. `spec.review.interval` has passed since the current review (or, with
//!    none, since the standard's creation).
//!
//! Otherwise it is False, and says whether a review's decision is still to
//! be carried out (`Revise`: a new generation; `Retire`: a lifecycle stage).

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};

use crate::api::{
    InfrastructureStandard, StandardReview,
    review::{AtReview, MAX_REVIEWED_EXCEPTIONS, ReviewOutcome},
    standard::Stage,
};

/// The reasons of the `ReviewRequired` condition.
pub mod reasons {
    /// True: active exceptions reached `maxActiveExceptions`, and no review covers them.
    pub const ACTIVE_EXCEPTIONS_AT_THRESHOLD: &str = "ActiveExceptionsAtThreshold";
    /// True: the excepted share reached `maxExceptedPercent`, and no review covers it.
    pub const EXCEPTED_SHARE_AT_THRESHOLD: &str = "ExceptedShareAtThreshold";
    /// True: thresholds crossed, and an active exception is one the current review did not consider.
    pub const NEW_EXCEPTIONS_SINCE_REVIEW: &str = "NewExceptionsSinceReview";
    /// True: thresholds crossed, and the current review was recorded below them.
    pub const THRESHOLD_CROSSED_SINCE_REVIEW: &str = "ThresholdCrossedSinceReview";
    /// True: the current review's `nextReviewBy` passed.
    pub const REVIEW_DUE: &str = "ReviewDue";
    /// True: `spec.review.interval` passed since the last review (or the creation).
    pub const PERIODIC_REVIEW_DUE: &str = "PeriodicReviewDue";
    /// False: the current review covers the situation, and its decision is carried out.
    pub const REVIEWED: &str = "Reviewed";
    /// False: the current review decided `Revise`; the standard has not changed since.
    pub const REVISION_PENDING: &str = "RevisionPending";
    /// False: the current review decided `Retire`; the standard is still Active.
    pub const RETIREMENT_PENDING: &str = "RetirementPending";
    /// False: below every threshold, no review yet, nothing due.
    pub const BELOW_THRESHOLD: &str = "BelowThreshold";
    /// False: the standard asks for no review and has none.
    pub const NO_REVIEW_POLICY: &str = "NoReviewPolicy";
    /// False: the standard is retired; it needs no review.
    pub const RETIRED: &str = "Retired";
}

/// Which Event a review state's arrival raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Exceptions pile up without a review that covers them.
    Required,
    /// A review date passed.
    Due,
    /// A review covers the situation.
    Reviewed,
    /// Nothing asks for review, and no review says anything.
    Quiet,
}

impl Class {
    /// The class of a `ReviewRequired` reason.
    pub fn of(reason: &str) -> Self {
        match reason {
            reasons::ACTIVE_EXCEPTIONS_AT_THRESHOLD
            | reasons::EXCEPTED_SHARE_AT_THRESHOLD
            | reasons::NEW_EXCEPTIONS_SINCE_REVIEW
            | reasons::THRESHOLD_CROSSED_SINCE_REVIEW => Self::Required,
            reasons::REVIEW_DUE | reasons::PERIODIC_REVIEW_DUE => Self::Due,
            reasons::REVIEWED | reasons::REVISION_PENDING | reasons::RETIREMENT_PENDING => {
                Self::Reviewed
            }
            _ => Self::Quiet,
        }
    }
}

/// A StandardReview as the engine models it: what deciding the review state
/// needs, and what writing the review's status needs. A review the operator
/// settled (superseded, recorded) is kept `slim`: its name, standard and
/// time only, so that thousands of old reviews cost little memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    /// Its name.
    pub name: String,
    /// The standard reviewed.
    pub standard: String,
    /// When it was made (its creation); `None` in a manifest (counts as now).
    pub created: Option<Timestamp>,
    /// Kept only its name, standard and time.
    pub slim: bool,
    /// The decision.
    pub outcome: ReviewOutcome,
    /// Who reviewed.
    pub reviewed_by: String,
    /// When it asks for the next review.
    pub next_review_by: Option<Timestamp>,
    /// The exceptions listed in its spec (`namespace/name`), if any.
    pub listed: Option<Vec<String>>,
    /// Its status as written (of a slim review, only `current` and `atReview`).
    pub status: Option<crate::api::StandardReviewStatus>,
    /// Being deleted (a finalizer holds it): it no longer counts.
    pub deleting: bool,
}

impl Review {
    /// The engine's model of a review, in full.
    pub fn from_object(r: StandardReview) -> Self {
        Self {
            name: r.metadata.name.unwrap_or_default(),
            standard: r.spec.standard,
            created: r.metadata.creation_timestamp.map(|t| t.0),
            slim: false,
            outcome: r.spec.outcome,
            reviewed_by: r.spec.reviewed_by,
            next_review_by: r.spec.next_review_by.map(|t| t.0),
            listed: r.spec.exceptions,
            status: r.status,
            deleting: r.metadata.deletion_timestamp.is_some(),
        }
    }

    /// What the operator's cache keeps of a review: in full while it counts
    /// or its status is still to be written; slim once its status says it
    /// does not count (superseded, or its standard missing): its name,
    /// standard, time and recorded figures (about 0.8 KiB with the cache's key).
    pub fn cached(r: StandardReview) -> Self {
        let settled = r.status.as_ref().is_some_and(|s| {
            s.current == Some(false) && s.conditions.iter().any(|c| c.type_ == "Ready")
        });
        let mut review = Self::from_object(r);
        if settled {
            review.slim = true;
            review.listed = None;
            review.reviewed_by = String::new();
            review.next_review_by = None;
            review.status = review.status.map(|s| crate::api::StandardReviewStatus {
                current: s.current,
                at_review: s.at_review,
                ..Default::default()
            });
        }
        review
    }

    /// When it was made, with a manifest's missing time taken as `now`.
    pub fn made(&self, now: Timestamp) -> Timestamp {
        self.created.unwrap_or(now)
    }

    /// What was recorded of the standard when the review was.
    pub fn at_review(&self) -> Option<&AtReview> {
        self.status.as_ref()?.at_review.as_ref()
    }

    /// The exceptions recorded in its status, with their generations then.
    pub fn recorded(&self) -> Option<&[crate::api::review::ConsideredException]> {
        self.status.as_ref()?.exceptions.as_deref()
    }

    /// Whether it counts for this standard (by uid): not being deleted, and
    /// not recorded for an earlier standard of the same name.
    pub fn counts_for(&self, standard_uid: Option<&str>) -> bool {
        !self.deleting && !self.replaced(standard_uid)
    }

    /// Whether it was recorded for another standard of the same name (one
    /// deleted since, and created again).
    pub fn replaced(&self, standard_uid: Option<&str>) -> bool {
        let recorded = self.at_review().and_then(|a| a.standard_uid.as_deref());
        matches!((recorded, standard_uid), (Some(a), Some(b)) if a != b)
    }
}

/// An exception to a standard, as coverage by a review needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveException {
    /// `namespace/name`.
    pub name: String,
    /// Its creation (a manifest's may be missing).
    pub created: Option<Timestamp>,
    /// Its `metadata.generation` (a manifest's may be missing).
    pub generation: Option<i64>,
}

impl ActiveException {
    /// Created after the review was made.
    fn later_than(&self, made: Timestamp) -> bool {
        self.created.is_some_and(|c| c > made)
    }

    /// As a review records it.
    fn considered(&self) -> crate::api::review::ConsideredException {
        crate::api::review::ConsideredException {
            name: self.name.clone(),
            generation: self.generation.unwrap_or(0),
        }
    }
}

/// The current review of a standard, as its status shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    /// The review's name.
    pub name: String,
    /// Who reviewed.
    pub reviewed_by: String,
    /// The decision.
    pub outcome: ReviewOutcome,
    /// When.
    pub at: Option<Timestamp>,
    /// When the next review is due, if ever.
    pub next_due: Option<Timestamp>,
}

/// Whether a standard needs review, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewState {
    /// The `ReviewRequired` status.
    pub required: bool,
    /// Its reason (one of `reasons`).
    pub reason: &'static str,
    /// The reason in words, saying what to do.
    pub message: String,
    /// The current review, if the standard has one.
    pub current: Option<Current>,
    /// The next instant at which the state changes by time alone.
    pub next_change: Option<Timestamp>,
    /// The current review is kept slim (being promoted): the state is not
    /// known this pass, and the standard's status waits.
    pub waiting: bool,
}

impl Default for ReviewState {
    fn default() -> Self {
        Self {
            required: false,
            reason: reasons::NO_REVIEW_POLICY,
            message: String::new(),
            current: None,
            next_change: None,
            waiting: false,
        }
    }
}

/// What the review state of one standard is decided from.
pub struct Situation<'a> {
    /// The standard.
    pub standard: &'a InfrastructureStandard,
    /// Its active exceptions.
    pub active: &'a [ActiveException],
    /// Workloads it matches.
    pub matched: i32,
    /// Of those, excepted.
    pub excepted: i32,
    /// Its current review (the latest that counts), if any.
    pub review: Option<&'a Review>,
    /// The instant it is decided at.
    pub now: Timestamp,
}

/// The date part of a time, for messages.
fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

fn interval(s: &InfrastructureStandard) -> Option<SignedDuration> {
    let d: std::time::Duration = s.spec.review.as_ref()?.interval?.into();
    SignedDuration::try_from(d).ok()
}

/// Whether the thresholds are crossed by these figures: the reason and words.
fn crossed(
    s: &InfrastructureStandard,
    active: i32,
    matched: i32,
    excepted: i32,
) -> Option<(&'static str, String)> {
    let policy = s.spec.review.as_ref()?;
    if let Some(max) = policy.max_active_exceptions
        && active >= max
    {
        return Some((
            reasons::ACTIVE_EXCEPTIONS_AT_THRESHOLD,
            format!("{active} active exceptions, at or above the review threshold of {max}"),
        ));
    }
    if let Some(pct) = policy.max_excepted_percent
        && matched > 0
        && i64::from(excepted) * 100 >= i64::from(pct) * i64::from(matched)
    {
        return Some((
            reasons::EXCEPTED_SHARE_AT_THRESHOLD,
            format!(
                "{excepted} of {matched} matched workloads are excepted, at or above the review threshold of {pct}%"
            ),
        ));
    }
    None
}

/// The exceptions active now that a review does not cover. Once recorded, a
/// review covers the exceptions it recorded, at the generation they had
/// then: an exception widened, extended or approved again since is new. Before
/// that it covers those its spec lists, or, listing none, those active now
/// (what the operator is about to record). Never an exception created after
/// the review (created again under the same name, say).
pub fn uncovered<'a>(
    review: &Review,
    active: &'a [ActiveException],
    now: Timestamp,
) -> Vec<&'a str> {
    let made = review.made(now);
    let recorded: Option<HashMap<&str, i64>> = review.recorded().map(|list| {
        list.iter()
            .map(|c| (c.name.as_str(), c.generation))
            .collect()
    });
    let listed: Option<HashSet<&str>> = review
        .listed
        .as_ref()
        .map(|list| list.iter().map(String::as_str).collect());
    let mut recordable = 0;
    active
        .iter()
        .filter(|e| {
            if e.later_than(made) {
                return true;
            }
            let covered = match (&recorded, &listed) {
                (Some(map), _) => map
                    .get(e.name.as_str())
                    .is_some_and(|&g| e.generation.is_none_or(|now| now == g)),
                (None, Some(names)) => names.contains(e.name.as_str()),
                (None, None) => {
                    recordable += 1;
                    recordable <= MAX_REVIEWED_EXCEPTIONS
                }
            };
            !covered
        })
        .map(|e| e.name.as_str())
        .collect()
}

/// What a review records when the operator first sees it as current: of the
/// exceptions to its standard (`all`, any state; `active`, the active ones),
/// those its spec lists, or, listing none, those active; never one created
/// after the review. Each with its generation.
pub fn record(
    review: &Review,
    all: &[ActiveException],
    active: &[ActiveException],
    now: Timestamp,
) -> Vec<crate::api::review::ConsideredException> {
    let made = review.made(now);
    match &review.listed {
        Some(names) => all
            .iter()
            .filter(|e| !e.later_than(made) && names.contains(&e.name))
            .map(ActiveException::considered)
            .collect(),
        None => active
            .iter()
            .filter(|e| !e.later_than(made))
            .take(MAX_REVIEWED_EXCEPTIONS)
            .map(ActiveException::considered)
            .collect(),
    }
}

/// A list of names for a message: the first five, and how many more.
fn names(list: &[&str]) -> String {
    let mut out = list.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if list.len() > 5 {
        out.push_str(&format!(" and {} more", list.len() - 5));
    }
    out
}

/// Decides a standard's review state.
pub fn state(x: &Situation<'_>) -> ReviewState {
    let s = x.standard;
    let now = x.now;
    if s.spec.stage() == Stage::Retired {
        return ReviewState {
            reason: reasons::RETIRED,
            message: "the standard is retired: it is no longer evaluated and needs no review"
                .into(),
            ..Default::default()
        };
    }
    let active = i32::try_from(x.active.len()).unwrap_or(i32::MAX);
    let crossing = crossed(s, active, x.matched, x.excepted);
    let every = interval(s);
    let Some(r) = x.review else {
        let due = every.and_then(|i| {
            let created = s.metadata.creation_timestamp.as_ref()?.0;
            created.checked_add(i).ok()
        });
        if let Some((reason, message)) = crossing {
            return ReviewState {
                required: true,
                reason,
                message: format!(
                    "{message}: review whether the standard still fits, and record it in a StandardReview"
                ),
                next_change: due.filter(|&d| d > now),
                ..Default::default()
            };
        }
        if let Some(due) = due {
            let every = every.map(|i| format!("{i:#}")).unwrap_or_default();
            return if now >= due {
                ReviewState {
                    required: true,
                    reason: reasons::PERIODIC_REVIEW_DUE,
                    message: format!(
                        "never reviewed, and spec.review.interval asks for a review every {every}: due since {due}; record one in a StandardReview"
                    ),
                    ..Default::default()
                }
            } else {
                let thresholds = s.spec.review.as_ref().is_some_and(|p| {
                    p.max_active_exceptions.is_some() || p.max_excepted_percent.is_some()
                });
                ReviewState {
                    reason: reasons::BELOW_THRESHOLD,
                    message: format!(
                        "{active} active exceptions{}; not reviewed yet, first periodic review due {due}",
                        if thresholds {
                            ", below the review thresholds"
                        } else {
                            ""
                        }
                    ),
                    next_change: Some(due),
                    ..Default::default()
                }
            };
        }
        return if s.spec.review.is_some() {
            ReviewState {
                reason: reasons::BELOW_THRESHOLD,
                message: format!("{active} active exceptions; below the review thresholds"),
                ..Default::default()
            }
        } else {
            ReviewState {
                reason: reasons::NO_REVIEW_POLICY,
                message: format!(
                    "{active} active exceptions; the standard asks for no review (spec.review)"
                ),
                ..Default::default()
            }
        };
    };
    if r.slim {
        return ReviewState {
            waiting: true,
            ..Default::default()
        };
    }

    let made = r.made(now);
    let periodic = every.and_then(|i| made.checked_add(i).ok());
    let next_due = [r.next_review_by, periodic].into_iter().flatten().min();
    let current = Current {
        name: r.name.clone(),
        reviewed_by: r.reviewed_by.clone(),
        outcome: r.outcome,
        at: r.created,
        next_due,
    };
    let who = format!(
        "review {} by {} on {} ({})",
        r.name,
        r.reviewed_by,
        day(made),
        r.outcome.as_str()
    );
    // The next due instant still ahead: after the interval falls due, the
    // review's own date still changes the reason.
    let next_change = [r.next_review_by, periodic]
        .into_iter()
        .flatten()
        .filter(|&d| d > now)
        .min();
    let required = |reason, message| ReviewState {
        required: true,
        reason,
        message,
        current: Some(current.clone()),
        next_change,
        waiting: false,
    };

    // 1. Exceptions pile up without a review that covers them.
    if let Some((_, message)) = &crossing {
        let missing = uncovered(r, x.active, now);
        if !missing.is_empty() {
            return required(
                reasons::NEW_EXCEPTIONS_SINCE_REVIEW,
                format!(
                    "{message}, and {} of them {} not considered by the current {who} (or changed since): {}; review the standard again",
                    missing.len(),
                    if missing.len() == 1 { "was" } else { "were" },
                    names(&missing)
                ),
            );
        }
        if let Some(seen) = r.at_review()
            && crossed(s, seen.active_exceptions, seen.matched, seen.excepted).is_none()
        {
            return required(
                reasons::THRESHOLD_CROSSED_SINCE_REVIEW,
                format!(
                    "{message}; the current {who} saw {} active exceptions and {}% excepted, below the thresholds: review the standard again",
                    seen.active_exceptions, seen.excepted_percent
                ),
            );
        }
    }
    // 2. and 3. A review date passed.
    if let Some(by) = r.next_review_by
        && now >= by
    {
        return required(
            reasons::REVIEW_DUE,
            format!(
                "the current {who} asked for the next review by {by}, which has passed: review the standard again"
            ),
        );
    }
    if let (Some(due), Some(i)) = (periodic, every)
        && now >= due
    {
        return required(
            reasons::PERIODIC_REVIEW_DUE,
            format!(
                "the last review was the {who}; spec.review.interval asks for one every {i:#}: due since {due}"
            ),
        );
    }

    // Reviewed: is its decision carried out?
    let due_words = match next_due {
        Some(d) => format!("next review due {d}"),
        None => "no next review date".to_string(),
    };
    let generation = s.metadata.generation.unwrap_or(0);
    let (reason, done) = match r.outcome {
        ReviewOutcome::Keep => (reasons::REVIEWED, "kept as it is".to_string()),
        ReviewOutcome::Revise => {
            let at = r.at_review().map_or(generation, |a| a.standard_generation);
            if generation > at {
                (reasons::REVIEWED, format!("revised in generation {generation}"))
            } else {
                (
                    reasons::REVISION_PENDING,
                    format!(
                        "revision pending: the standard is still at generation {generation}, as reviewed; revise its spec"
                    ),
                )
            }
        }
        ReviewOutcome::Retire => match s.spec.stage() {
            Stage::Active => (
                reasons::RETIREMENT_PENDING,
                "retirement pending: set spec.lifecycle.stage to Deprecated (with supersededBy and a sunset) or Retired".to_string(),
            ),
            stage => (reasons::REVIEWED, format!("retirement under way: the standard is {}", stage.as_str())),
        },
    };
    ReviewState {
        required: false,
        reason,
        message: format!("{who}: {done}; {active} active exceptions, all considered; {due_words}"),
        current: Some(current),
        next_change,
        waiting: false,
    }
}

/// The latest review of each standard (by creation, then name) among those
/// `counts` keeps, by standard name.
pub fn latest(
    reviews: &[std::sync::Arc<Review>],
    now: Timestamp,
    counts: impl Fn(&Review) -> bool,
) -> HashMap<&str, &Review> {
    let mut out: HashMap<&str, &Review> = HashMap::new();
    for r in reviews.iter().filter(|r| counts(r)) {
        let r = &**r;
        let key = (r.made(now), r.name.as_str());
        out.entry(r.standard.as_str())
            .and_modify(|best| {
                if key > (best.made(now), best.name.as_str()) {
                    *best = r;
                }
            })
            .or_insert(r);
    }
    out
}

/// Each standard's successor, by index of `names`: `Ok(None)` with none,
/// `Err` naming what is wrong (itself, a missing standard, or a cycle).
pub fn successors(standards: &[InfrastructureStandard]) -> Vec<Result<Option<usize>, String>> {
    let names: HashMap<&str, usize> = standards
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((s.metadata.name.as_deref()?, i)))
        .collect();
    let next = |i: usize| -> Option<&str> {
        standards[i]
            .spec
            .lifecycle
            .as_ref()?
            .superseded_by
            .as_deref()
    };
    (0..standards.len())
        .map(|i| {
            // Only a Deprecated standard's successor matters (a Retired
            // one's successor may well be retired by now).
            let Some(first) = next(i).filter(|_| standards[i].spec.stage() == Stage::Deprecated)
            else {
                return Ok(None);
            };
            let me = standards[i].metadata.name.as_deref().unwrap_or_default();
            let Some(&j) = names.get(first) else {
                return Err(format!(
                    "spec.lifecycle.supersededBy: there is no InfrastructureStandard `{first}`: name an existing successor"
                ));
            };
            if j == i {
                return Err("spec.lifecycle.supersededBy: a standard cannot supersede itself: name its successor".into());
            }
            if standards[j].spec.stage() == Stage::Retired {
                return Err(format!(
                    "spec.lifecycle.supersededBy: the successor `{first}` is retired: name an active successor"
                ));
            }
            // Follow the chain: back to this standard is a cycle.
            let mut path = vec![me, first];
            let mut at = j;
            while let Some(n) = next(at) {
                let Some(&k) = names.get(n) else { break };
                if path.contains(&n) {
                    if k == i {
                        path.push(n);
                        return Err(format!(
                            "spec.lifecycle.supersededBy: the successors form a cycle: {}; one standard in it must have no successor",
                            path.join(" → ")
                        ));
                    }
                    break;
                }
                path.push(n);
                at = k;
            }
            Ok(Some(j))
        })
        .collect()
}

/// The figures recorded in a review's status when it is first recorded. The
/// generation is the last one the operator evaluated (its status's), so
/// that a revision applied with the review counts as the revision.
pub fn at_review(s: &InfrastructureStandard, active: i32, matched: i32, excepted: i32) -> AtReview {
    let percent = if matched > 0 {
        i32::try_from(i64::from(excepted) * 100 / i64::from(matched)).unwrap_or(100)
    } else {
        0
    };
    AtReview {
        active_exceptions: active,
        matched,
        excepted,
        excepted_percent: percent,
        standard_generation: s
            .status
            .as_ref()
            .and_then(|st| st.observed_generation)
            .filter(|&g| g > 0)
            .or(s.metadata.generation)
            .unwrap_or(0),
        standard_uid: s.metadata.uid.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StandardReviewStatus;

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    fn standard(extra: &str) -> InfrastructureStandard {
        serde_saphyr::from_str(&format!(
            r#"
apiVersion: plumbline.dev/v1alpha1
kind: InfrastructureStandard
metadata: {{name: s, generation: 3, creationTimestamp: "2026-01-01T00:00:00Z"}}
spec:
  rules: [{{id: r, severity: High, description: d, replicas: {{minimum: 2}}}}]
{extra}
"#
        ))
        .unwrap()
    }

    fn review(name: &str, created: &str, outcome: ReviewOutcome) -> Review {
        Review {
            name: name.into(),
            standard: "s".into(),
            created: Some(at(created)),
            slim: false,
            outcome,
            reviewed_by: "carol".into(),
            next_review_by: None,
            listed: None,
            status: None,
            deleting: false,
        }
    }

    fn recorded(mut r: Review, names: &[&str], figures: AtReview) -> Review {
        r.status = Some(StandardReviewStatus {
            current: Some(true),
            exceptions: Some(
                names
                    .iter()
                    .map(|n| crate::api::review::ConsideredException {
                        name: n.to_string(),
                        generation: 1,
                    })
                    .collect(),
            ),
            at_review: Some(figures),
            ..Default::default()
        });
        r
    }

    fn figures(active: i32, matched: i32, excepted: i32, generation: i64) -> AtReview {
        AtReview {
            active_exceptions: active,
            matched,
            excepted,
            excepted_percent: if matched > 0 {
                excepted * 100 / matched
            } else {
                0
            },
            standard_generation: generation,
            standard_uid: None,
        }
    }

    fn active(names: &[(&str, &str)]) -> Vec<ActiveException> {
        names
            .iter()
            .map(|(n, c)| ActiveException {
                name: n.to_string(),
                created: Some(at(c)),
                generation: Some(1),
            })
            .collect()
    }

    fn decide(
        s: &InfrastructureStandard,
        active: &[ActiveException],
        review: Option<&Review>,
        now: &str,
    ) -> ReviewState {
        state(&Situation {
            standard: s,
            active,
            matched: 10,
            excepted: i32::try_from(active.len()).unwrap(),
            review,
            now: at(now),
        })
    }

    const THRESHOLD: &str = "  review: {maxActiveExceptions: 2}";

    /// Two exceptions, active since February.
    fn two_active() -> Vec<ActiveException> {
        active(&[
            ("a/e1", "2026-02-01T00:00:00Z"),
            ("a/e2", "2026-02-01T00:00:00Z"),
        ])
    }

    /// A Keep review of 2026-03-01 that recorded both, at 2 of 10 excepted.
    fn kept_after_both() -> Review {
        recorded(
            review("r1", "2026-03-01T10:00:00Z", ReviewOutcome::Keep),
            &["a/e1", "a/e2"],
            figures(2, 10, 2, 3),
        )
    }

    /// The state's message has these words.
    fn says(st: &ReviewState, words: &str) {
        assert!(st.message.contains(words), "{words:?} in {}", st.message);
    }

    /// The state's message ends with these words.
    fn ends(st: &ReviewState, words: &str) {
        assert!(
            st.message.ends_with(words),
            "{words:?} at the end of {}",
            st.message
        );
    }

    #[test]
    fn thresholds_without_a_review_require_one() {
        let s = standard(THRESHOLD);
        let two = two_active();
        let st = decide(&s, &two, None, "2026-03-01T00:00:00Z");
        assert!(st.required);
        assert_eq!(st.reason, reasons::ACTIVE_EXCEPTIONS_AT_THRESHOLD);
        says(&st, "StandardReview");
        let one = &two[..1];
        let st = decide(&s, one, None, "2026-03-01T00:00:00Z");
        assert!(!st.required);
        assert_eq!(st.reason, reasons::BELOW_THRESHOLD);
        let none = standard("");
        assert_eq!(
            decide(&none, &two, None, "2026-03-01T00:00:00Z").reason,
            reasons::NO_REVIEW_POLICY
        );
    }

    #[test]
    fn a_review_that_covers_every_active_exception_clears_the_alarm_until_a_new_one() {
        let s = standard(THRESHOLD);
        let two = two_active();
        let r = kept_after_both();
        let st = decide(&s, &two, Some(&r), "2026-03-02T00:00:00Z");
        assert!(!st.required);
        assert_eq!(st.reason, reasons::REVIEWED);
        for word in ["carol", "2026-03-01", "Keep", "no next review date"] {
            says(&st, word);
        }
        assert_eq!(st.current.as_ref().unwrap().name, "r1");

        // A third exception the review did not consider.
        let three = active(&[
            ("a/e1", "2026-02-01T00:00:00Z"),
            ("a/e2", "2026-02-01T00:00:00Z"),
            ("b/e3", "2026-03-05T00:00:00Z"),
        ]);
        let st = decide(&s, &three, Some(&r), "2026-03-06T00:00:00Z");
        assert!(st.required);
        assert_eq!(st.reason, reasons::NEW_EXCEPTIONS_SINCE_REVIEW);
        says(&st, "b/e3");
        assert_eq!(Class::of(st.reason), Class::Required);

        // Deleted and created again after the review, under the same name.
        let again = active(&[
            ("a/e1", "2026-02-01T00:00:00Z"),
            ("a/e2", "2026-03-05T00:00:00Z"),
        ]);
        let st = decide(&s, &again, Some(&r), "2026-03-06T00:00:00Z");
        assert_eq!(st.reason, reasons::NEW_EXCEPTIONS_SINCE_REVIEW);
        says(&st, "a/e2");

        // Back below the thresholds: a review still reads as reviewed.
        let st = decide(&s, &again[..1], Some(&r), "2026-03-06T00:00:00Z");
        assert!(!st.required);
        assert_eq!(st.reason, reasons::REVIEWED);
    }

    #[test]
    fn a_review_not_recorded_yet_covers_what_is_active_now() {
        let s = standard(THRESHOLD);
        let two = two_active();
        let r = review("r1", "2026-03-01T10:00:00Z", ReviewOutcome::Keep);
        assert_eq!(
            decide(&s, &two, Some(&r), "2026-03-01T10:00:01Z").reason,
            reasons::REVIEWED
        );
        // A spec list that misses one does not.
        let mut listed = r.clone();
        listed.listed = Some(vec!["a/e1".into()]);
        let st = decide(&s, &two, Some(&listed), "2026-03-01T10:00:01Z");
        assert_eq!(st.reason, reasons::NEW_EXCEPTIONS_SINCE_REVIEW);
    }

    #[test]
    fn a_share_crossed_after_the_review_requires_another() {
        let s = standard("  review: {maxExceptedPercent: 50}");
        let two = two_active();
        // Recorded at 2 of 10; now 2 of 4 matched (workloads were removed).
        let r = kept_after_both();
        let st = state(&Situation {
            standard: &s,
            active: &two,
            matched: 4,
            excepted: 2,
            review: Some(&r),
            now: at("2026-03-02T00:00:00Z"),
        });
        assert!(st.required);
        assert_eq!(st.reason, reasons::THRESHOLD_CROSSED_SINCE_REVIEW);
    }

    #[test]
    fn next_review_by_takes_effect_at_that_second() {
        let s = standard(THRESHOLD);
        let mut r = review("r1", "2026-03-01T10:00:00Z", ReviewOutcome::Keep);
        r.next_review_by = Some(at("2026-06-01T00:00:00Z"));
        let st = decide(&s, &[], Some(&r), "2026-05-31T23:59:59Z");
        assert!(!st.required);
        says(&st, "next review due 2026-06-01T00:00:00Z");
        assert_eq!(st.next_change, Some(at("2026-06-01T00:00:00Z")));
        let st = decide(&s, &[], Some(&r), "2026-06-01T00:00:00Z");
        assert!(st.required);
        assert_eq!(st.reason, reasons::REVIEW_DUE);
        assert_eq!(Class::of(st.reason), Class::Due);
        assert_eq!(st.next_change, None);
    }

    #[test]
    fn a_periodic_review_is_due_one_interval_after_creation_then_after_each_review() {
        let s = standard("  review: {interval: 720h}");
        // Created 2026-01-01: due 30 days later, with no exception at all.
        let st = decide(&s, &[], None, "2026-01-30T23:59:59Z");
        assert!(!st.required);
        assert_eq!(st.next_change, Some(at("2026-01-31T00:00:00Z")));
        let st = decide(&s, &[], None, "2026-01-31T00:00:00Z");
        assert!(st.required);
        assert_eq!(st.reason, reasons::PERIODIC_REVIEW_DUE);
        // Reviewed on 2026-02-10: due again 30 days later.
        let r = review("r1", "2026-02-10T00:00:00Z", ReviewOutcome::Keep);
        let st = decide(&s, &[], Some(&r), "2026-02-11T00:00:00Z");
        assert_eq!(st.reason, reasons::REVIEWED);
        assert_eq!(
            st.current.as_ref().unwrap().next_due,
            Some(at("2026-03-12T00:00:00Z"))
        );
        let st = decide(&s, &[], Some(&r), "2026-03-12T00:00:00Z");
        assert_eq!(st.reason, reasons::PERIODIC_REVIEW_DUE);
        // nextReviewBy earlier than the interval wins.
        let mut soon = r.clone();
        soon.next_review_by = Some(at("2026-02-20T00:00:00Z"));
        let st = decide(&s, &[], Some(&soon), "2026-02-11T00:00:00Z");
        assert_eq!(
            st.current.unwrap().next_due,
            Some(at("2026-02-20T00:00:00Z"))
        );
    }

    #[test]
    fn revise_is_pending_until_the_standard_changes() {
        let s = standard(THRESHOLD);
        let r = recorded(
            review("r1", "2026-03-01T10:00:00Z", ReviewOutcome::Revise),
            &[],
            figures(0, 10, 0, 3),
        );
        let st = decide(&s, &[], Some(&r), "2026-03-02T00:00:00Z");
        assert!(!st.required);
        assert_eq!(st.reason, reasons::REVISION_PENDING);
        says(&st, "revision pending");
        let mut edited = s.clone();
        edited.metadata.generation = Some(4);
        let st = decide(&edited, &[], Some(&r), "2026-03-02T00:00:00Z");
        assert_eq!(st.reason, reasons::REVIEWED);
        says(&st, "revised in generation 4");
    }

    #[test]
    fn retire_is_pending_until_the_standard_is_deprecated_and_retired_needs_no_review() {
        let r = review("r1", "2026-03-01T10:00:00Z", ReviewOutcome::Retire);
        let s = standard(THRESHOLD);
        assert_eq!(
            decide(&s, &[], Some(&r), "2026-03-02T00:00:00Z").reason,
            reasons::RETIREMENT_PENDING
        );
        let deprecated = standard(
            "  lifecycle: {stage: Deprecated, sunset: \"2026-09-01T00:00:00Z\"}\n  review: {maxActiveExceptions: 2}",
        );
        let st = decide(&deprecated, &[], Some(&r), "2026-03-02T00:00:00Z");
        assert_eq!(st.reason, reasons::REVIEWED);
        says(&st, "Deprecated");
        let retired = standard("  lifecycle: {stage: Retired}\n  review: {interval: 1h}");
        let st = decide(&retired, &[], None, "2030-01-01T00:00:00Z");
        assert!(!st.required);
        assert_eq!(st.reason, reasons::RETIRED);
    }

    #[test]
    fn the_latest_review_counts_and_a_slim_one_waits() {
        let reviews: Vec<std::sync::Arc<Review>> = [
            review("b", "2026-03-01T10:00:00Z", ReviewOutcome::Keep),
            review("c", "2026-03-01T10:00:00Z", ReviewOutcome::Keep),
            review("a", "2026-03-05T10:00:00Z", ReviewOutcome::Revise),
            review("z", "2026-02-01T10:00:00Z", ReviewOutcome::Keep),
        ]
        .into_iter()
        .map(std::sync::Arc::new)
        .collect();
        let now = at("2026-04-01T00:00:00Z");
        assert_eq!(latest(&reviews, now, |_| true)["s"].name, "a");
        // The same second: by name.
        assert_eq!(latest(&reviews[..2], now, |_| true)["s"].name, "c");
        let mut slim = review("a", "2026-03-05T10:00:00Z", ReviewOutcome::Keep);
        slim.slim = true;
        let st = decide(
            &standard(THRESHOLD),
            &[],
            Some(&slim),
            "2026-04-01T00:00:00Z",
        );
        assert!(st.waiting);
    }

    #[test]
    fn successors_name_what_is_wrong() {
        let named = |name: &str, lifecycle: &str| -> InfrastructureStandard {
            let mut s = standard(lifecycle);
            s.metadata.name = Some(name.into());
            s
        };
        let dep = |to: &str| {
            format!(
                "  lifecycle: {{stage: Deprecated, supersededBy: {to}, sunset: \"2027-01-01T00:00:00Z\"}}"
            )
        };
        let got = successors(&[
            named("a", &dep("b")),
            named("b", &dep("c")),
            named("c", &dep("a")),
            named("d", &dep("missing")),
            named("e", &dep("e")),
            named("f", &dep("g")),
            named("g", "  lifecycle: {stage: Retired}"),
            named("h", &dep("a")),
            named("i", ""),
        ]);
        let err = |i: usize| got[i].clone().unwrap_err();
        assert!(err(0).contains("a → b → c → a"), "{}", err(0));
        assert!(err(1).contains("b → c → a → b"), "{}", err(1));
        assert!(
            err(3).contains("no InfrastructureStandard `missing`"),
            "{}",
            err(3)
        );
        assert!(err(4).contains("itself"), "{}", err(4));
        assert!(err(5).contains("retired"), "{}", err(5));
        // Leading into a cycle is not itself a cycle.
        assert_eq!(got[7], Ok(Some(0)));
        assert_eq!(got[8], Ok(None));
    }

    #[test]
    fn an_exception_changed_or_created_after_the_review_is_not_covered() {
        let s = standard(THRESHOLD);
        let r = kept_after_both();
        // e2 widened (or extended, or approved again) since: generation 2.
        let mut two = two_active();
        two[1].generation = Some(2);
        let st = decide(&s, &two, Some(&r), "2026-03-02T00:00:00Z");
        assert_eq!(st.reason, reasons::NEW_EXCEPTIONS_SINCE_REVIEW);
        ends(&st, "(or changed since): a/e2; review the standard again");
        // Not recorded yet: what is active now is covered, but not what was
        // created after the review.
        let fresh = review("r2", "2026-03-01T10:00:00Z", ReviewOutcome::Keep);
        let late = active(&[
            ("a/e1", "2026-02-01T00:00:00Z"),
            ("a/e3", "2026-03-01T10:00:05Z"),
        ]);
        let st = decide(&s, &late, Some(&fresh), "2026-03-01T10:00:06Z");
        assert_eq!(st.reason, reasons::NEW_EXCEPTIONS_SINCE_REVIEW);
        ends(&st, ": a/e3; review the standard again");
    }

    #[test]
    fn a_review_records_what_it_lists_or_what_is_active_never_what_came_later() {
        let all = active(&[
            ("a/e1", "2026-02-01T00:00:00Z"),
            ("a/pending", "2026-02-01T00:00:00Z"),
            ("a/later", "2026-03-05T00:00:00Z"),
        ]);
        let active_now = [all[0].clone(), all[2].clone()];
        let now = at("2026-03-06T00:00:00Z");
        let mut r = review("r1", "2026-03-01T10:00:00Z", ReviewOutcome::Keep);
        let names = |v: Vec<crate::api::review::ConsideredException>| {
            v.into_iter().map(|c| c.name).collect::<Vec<_>>()
        };
        assert_eq!(names(record(&r, &all, &active_now, now)), ["a/e1"]);
        r.listed = Some(vec![
            "a/pending".into(),
            "a/later".into(),
            "a/missing".into(),
        ]);
        assert_eq!(names(record(&r, &all, &active_now, now)), ["a/pending"]);
        // Once recorded, approving the pending one changes its generation:
        // it is not covered.
        let mut approved = all[1].clone();
        approved.generation = Some(2);
        let mut rec = recorded(r, &["a/pending"], figures(0, 10, 0, 3));
        rec.listed = Some(vec!["a/pending".into()]);
        assert_eq!(uncovered(&rec, &[approved], now), ["a/pending"]);
    }

    #[test]
    fn a_review_of_an_earlier_standard_of_the_same_name_does_not_count() {
        let mut figures = figures(0, 10, 0, 3);
        figures.standard_uid = Some("old-uid".into());
        let r = recorded(
            review("r1", "2026-03-01T10:00:00Z", ReviewOutcome::Keep),
            &[],
            figures,
        );
        assert!(r.replaced(Some("new-uid")));
        assert!(!r.counts_for(Some("new-uid")));
        assert!(r.counts_for(Some("old-uid")));
        assert!(r.counts_for(None), "a manifest's standard has no uid");
        let mut deleting = r.clone();
        deleting.deleting = true;
        assert!(!deleting.counts_for(Some("old-uid")));
    }

    #[test]
    fn after_the_interval_falls_due_the_review_date_still_wakes_the_operator() {
        let s = standard("  review: {interval: 720h}");
        let mut r = review("r1", "2026-02-10T00:00:00Z", ReviewOutcome::Keep);
        r.next_review_by = Some(at("2026-06-01T00:00:00Z"));
        let st = decide(&s, &[], Some(&r), "2026-03-13T00:00:00Z");
        assert_eq!(st.reason, reasons::PERIODIC_REVIEW_DUE);
        assert_eq!(st.next_change, Some(at("2026-06-01T00:00:00Z")));
        let st = decide(&s, &[], Some(&r), "2026-06-01T00:00:00Z");
        assert_eq!(st.reason, reasons::REVIEW_DUE);
    }

    #[test]
    fn a_retired_standard_is_not_judged_by_its_successor() {
        let mut a = standard("  lifecycle: {stage: Retired, supersededBy: b}");
        a.metadata.name = Some("a".into());
        let mut b = standard("  lifecycle: {stage: Retired}");
        b.metadata.name = Some("b".into());
        let mut active_with_successor = standard("  lifecycle: {supersededBy: missing}");
        active_with_successor.metadata.name = Some("c".into());
        assert_eq!(
            successors(&[a, b, active_with_successor]),
            [Ok(None), Ok(None), Ok(None)]
        );
    }
}
