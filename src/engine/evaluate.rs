//! The evaluation pass: compile every spec once (`Prepared`), evaluate each
//! workload on its own (`Prepared::workload`), then fold the per-workload
//! verdicts into per-object verdicts (`Prepared::fold`). Pure. Because each
//! workload's verdict depends only on the compiled specs and its own
//! namespace, a caller may keep verdicts from an earlier pass and evaluate
//! only the workloads a change can affect (see `incremental`).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rayon::prelude::*;

use super::{
    Inputs, Workload,
    checks::Context,
    containers::Role,
    exception::CompiledException,
    image::ImageRef,
    ownership::{CompiledOwnership, DEFAULT_MIN_MAINTAINERS, Owner},
    patch::{CompiledBaseline, image_state, ring_of},
    selector::Labels,
    standard::CompiledStandard,
    verdict::*,
    workload::DisruptionBudget,
};
use crate::api::{
    ExceptionState, PatchState,
    baseline::{OverdueWorkload, PatchCounts, RingCounts},
    ownership::OwnershipConflict,
    standard::{DeviationSummary, RuleCounts},
};

/// The ring name under which workloads in no ring are counted.
pub const NO_RING: &str = "none";

/// Evaluates everything at `now`.
pub fn evaluate(inputs: &Inputs, now: Timestamp) -> Evaluation {
    let prepared = Prepared::new(inputs, now);
    // Each workload is judged on its own: on every core.
    let verdicts = inputs
        .workloads
        .par_iter()
        .map(|w| prepared.workload(w))
        .collect();
    prepared.fold(verdicts)
}

/// Every spec compiled at one instant, with the per-namespace indexes a
/// workload's evaluation needs.
pub struct Prepared<'a> {
    inputs: &'a Inputs,
    now: Timestamp,
    pub(super) standards: Vec<CompiledStandard>,
    pub(super) baselines: Vec<CompiledBaseline>,
    exceptions: Vec<CompiledException>,
    ownerships: Vec<CompiledOwnership>,
    namespace_labels: HashMap<&'a str, &'a Labels>,
    budgets: HashMap<&'a str, Vec<&'a DisruptionBudget>>,
    /// Valid ownerships, by namespace.
    ownerships_by_ns: HashMap<String, Vec<usize>>,
    /// Every exception, by namespace.
    exceptions_by_ns: HashMap<String, Vec<usize>>,
    /// Each distinct deviation message, shared by every verdict that has it.
    messages: Mutex<HashSet<Arc<str>>>,
}

impl<'a> Prepared<'a> {
    /// Compiles every spec of `inputs` at `now`.
    pub fn new(inputs: &'a Inputs, now: Timestamp) -> Self {
        let standards: Vec<CompiledStandard> =
            inputs.standards.iter().map(CompiledStandard::new).collect();
        let baselines: Vec<CompiledBaseline> =
            inputs.baselines.iter().map(CompiledBaseline::new).collect();
        let exceptions: Vec<CompiledException> = inputs
            .exceptions
            .iter()
            .map(|e| CompiledException::new(e, &standards, &baselines, now))
            .collect();
        let ownerships: Vec<CompiledOwnership> = inputs
            .ownerships
            .iter()
            .map(|o| CompiledOwnership::new(o, now))
            .collect();
        let namespace_labels = inputs
            .namespaces
            .iter()
            .map(|n| (n.name.as_str(), &n.labels))
            .collect();
        let mut budgets: HashMap<&str, Vec<&DisruptionBudget>> = HashMap::new();
        for b in &inputs.budgets {
            budgets.entry(b.namespace.as_str()).or_default().push(b);
        }
        let mut ownerships_by_ns: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, o) in ownerships.iter().enumerate() {
            if o.selector.is_ok() {
                ownerships_by_ns
                    .entry(o.info.namespace.clone())
                    .or_default()
                    .push(i);
            }
        }
        let mut exceptions_by_ns: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in exceptions.iter().enumerate() {
            exceptions_by_ns
                .entry(e.namespace.clone())
                .or_default()
                .push(i);
        }
        Self {
            inputs,
            now,
            standards,
            baselines,
            exceptions,
            ownerships,
            namespace_labels,
            budgets,
            ownerships_by_ns,
            exceptions_by_ns,
            messages: Mutex::default(),
        }
    }

    /// The labels of a workload's namespace.
    pub(super) fn namespace_labels(&self, namespace: &str) -> &Labels {
        static EMPTY: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(Labels::new);
        self.namespace_labels
            .get(namespace)
            .copied()
            .unwrap_or(&EMPTY)
    }

    /// Evaluates one workload.
    pub fn workload(&self, w: &Workload) -> WorkloadVerdict {
        let now = self.now;
        let exceptions = &self.exceptions;
        let ns_labels = self.namespace_labels(&w.namespace);
        let views = &w.pod.containers;
        let in_ns: &[usize] = self
            .exceptions_by_ns
            .get(w.namespace.as_str())
            .map_or(&[], Vec::as_slice);
        let mut selected: Vec<usize> = in_ns
            .iter()
            .copied()
            .filter(|&i| exceptions[i].selects(w))
            .collect();
        // By name, so that when two exceptions could cover a deviation the
        // same one does, whatever the order of the inputs.
        selected.sort_by(|&a, &b| exceptions[a].name.cmp(&exceptions[b].name));
        // Exceptions that can take effect (valid, approved, not expired).
        let selecting: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| exceptions[i].in_force(now))
            .collect();
        let mut used = vec![false; exceptions.len()];
        let mut next_change: Option<Timestamp> = None;
        let mut note = |t: Timestamp| {
            if t > now {
                next_change = Some(next_change.map_or(t, |n| n.min(t)));
            }
        };
        for &i in &selecting {
            note(exceptions[i].expires_at);
        }

        // Ownership.
        let owners: Vec<usize> = self
            .ownerships_by_ns
            .get(w.namespace.as_str())
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| {
                        self.ownerships[i]
                            .selector
                            .as_ref()
                            .is_ok_and(|s| s.matches(&w.labels))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let owner = match owners.as_slice() {
            [] => Owner::Orphan,
            [one] => {
                let info = &self.ownerships[*one].info;
                if let Some(t) = info.next_change() {
                    note(t);
                }
                Owner::Owned(info.clone())
            }
            many => Owner::Conflict(
                many.iter()
                    .map(|&i| self.ownerships[i].info.name.clone())
                    .collect(),
            ),
        };

        // Standards.
        let budgets_here: &[&DisruptionBudget] = self
            .budgets
            .get(w.namespace.as_str())
            .map_or(&[], Vec::as_slice);
        let activation = super::cel::LazyActivation::new(
            w.kind.as_str(),
            w.source.as_ref(),
            &w.namespace,
            ns_labels,
        );
        let cx = Context {
            containers: views,
            budgets: budgets_here,
            owner: &owner,
            cel: &activation,
        };
        let mut deviations = Vec::new();
        let mut outcomes_by_rule = Vec::new();
        let mut compliance = Vec::new();
        let mut deprecated = Vec::new();
        for (si, std) in self.standards.iter().enumerate() {
            let Ok((matcher, rules)) = &std.compiled else {
                continue;
            };
            if std.stage == crate::api::standard::Stage::Retired || !matcher.matches(w, ns_labels) {
                continue;
            }
            if let Some(d) = &std.deprecation {
                if let Some(t) = d.sunset {
                    note(t);
                }
                deprecated.push(DeprecatedStandard {
                    standard: std.name.clone(),
                    superseded_by: d.superseded_by.clone(),
                    sunset: d.sunset,
                    sunset_passed: d.sunset.is_some_and(|t| now >= t),
                });
            }
            let mut open = 0;
            let mut covered = 0;
            for (ri, rule) in rules.iter().enumerate() {
                let findings = rule.check.run(w, &cx);
                if findings.is_empty() {
                    continue;
                }
                let exception = selecting
                    .iter()
                    .copied()
                    .find(|&i| exceptions[i].waives_rule(si, &rule.id));
                if let Some(i) = exception {
                    used[i] = true;
                    covered += 1;
                } else {
                    open += 1;
                }
                outcomes_by_rule.push(RuleOutcome {
                    standard: si,
                    rule: ri,
                    severity: rule.severity,
                    excepted: exception.is_some(),
                });
                deviations.push(Deviation {
                    standard: std.name.clone(),
                    rule: rule.id.clone(),
                    severity: rule.severity,
                    message: self.intern(findings.join("; ")),
                    exception: exception.map(|i| exceptions[i].name.clone()),
                });
            }
            let c = match (open, covered) {
                (0, 0) => Compliance::Compliant,
                (0, _) => Compliance::Excepted,
                _ => Compliance::Deviating,
            };
            compliance.push((si, c));
        }
        deviations.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.standard.cmp(&b.standard))
                .then_with(|| a.rule.cmp(&b.rule))
        });

        // Patch baselines.
        let mut patch = Vec::new();
        let mut outcomes = Vec::new();
        let mut worst: Option<PatchState> = None;
        let mut patch_due: Option<Timestamp> = None;
        for (bi, base) in self.baselines.iter().enumerate() {
            let Ok((matcher, entries, rings)) = &base.compiled else {
                continue;
            };
            if !matcher.matches(w, ns_labels) {
                continue;
            }
            let ring = ring_of(rings, ns_labels);
            let mut state_here: Option<(PatchState, Option<Timestamp>, String, String)> = None;
            for c in views.iter().filter(|c| c.role() != Role::Ephemeral) {
                let image = ImageRef::parse(&c.image);
                let repository = image.repository();
                for entry in entries.iter().filter(|e| e.names(&repository)) {
                    if entry.effective_from > now {
                        note(entry.effective_from);
                        continue;
                    }
                    let (mut state, due, mut reason) = image_state(&image, entry, ring, now);
                    if matches!(state, PatchState::Behind | PatchState::Overdue)
                        && let Some(i) = selecting
                            .iter()
                            .copied()
                            .find(|&i| exceptions[i].waives_image(bi, &repository))
                    {
                        used[i] = true;
                        state = PatchState::Excepted;
                        reason = Some(format!("excepted by {}", exceptions[i].name));
                    }
                    if state == PatchState::Behind
                        && let Some(due) = due
                    {
                        note(due);
                        patch_due = Some(patch_due.map_or(due, |d| d.min(due)));
                    }
                    if state_here
                        .as_ref()
                        .is_none_or(|(s, ..)| patch_rank(state) > patch_rank(*s))
                    {
                        state_here =
                            Some((state, due, c.image.to_string(), entry.minimum_text.clone()));
                    }
                    patch.push(ImagePatch {
                        container: c.name.clone(),
                        image: c.image.clone(),
                        baseline: base.name.clone(),
                        ring: ring.map(|r| r.name.clone()),
                        minimum_version: entry.minimum_text.clone(),
                        state,
                        due,
                        reason,
                    });
                }
            }
            if let Some((state, due, image, minimum)) = state_here {
                outcomes.push(BaselineOutcome {
                    baseline: bi,
                    ring: ring.map(|r| r.name.clone()),
                    state,
                    overdue: (state == PatchState::Overdue).then(|| OverdueWorkload {
                        workload: w.reference(),
                        image,
                        minimum_version: minimum,
                        overdue_since: Time(due.unwrap_or(now)),
                    }),
                });
                if worst.is_none_or(|s| patch_rank(state) > patch_rank(s)) {
                    worst = Some(state);
                }
            }
        }

        // Verdicts are kept between passes, one per workload: no spare
        // capacity from growing the lists (it was a third of their memory).
        deviations.shrink_to_fit();
        compliance.shrink_to_fit();
        patch.shrink_to_fit();
        outcomes.shrink_to_fit();
        outcomes_by_rule.shrink_to_fit();
        WorkloadVerdict {
            deviations,
            standards: compliance,
            patch,
            patch_state: worst,
            patch_due,
            owner,
            baselines: outcomes,
            rules: outcomes_by_rule,
            selected_by: selected
                .iter()
                .map(|&i| exceptions[i].name.clone())
                .collect(),
            used_exceptions: selected
                .iter()
                .filter(|&&i| used[i])
                .map(|&i| exceptions[i].name.clone())
                .collect(),
            deprecated,
            next_change,
        }
    }

    /// The shared copy of a deviation message.
    fn intern(&self, message: String) -> Arc<str> {
        // A poisoned lock only means another thread panicked mid-insert;
        // the set is still a valid set of messages.
        let mut messages = self
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(shared) = messages.get(message.as_str()) {
            return shared.clone();
        }
        let shared: Arc<str> = message.into();
        messages.insert(shared.clone());
        shared
    }

    /// The compiled ownership of this namespace and name, for refreshing the
    /// owner of a verdict kept from an earlier pass.
    pub(super) fn ownership(&self, namespace: &str, name: &str) -> Option<&CompiledOwnership> {
        self.ownerships_by_ns
            .get(namespace)?
            .iter()
            .map(|&i| &self.ownerships[i])
            .find(|o| o.info.name == name)
    }

    /// Folds the verdicts of every workload (one per input workload, in
    /// input order) into the verdicts of standards, exceptions, baselines
    /// and ownerships.
    pub fn fold(self, verdicts: Vec<WorkloadVerdict>) -> Evaluation {
        let Self {
            inputs,
            now,
            standards,
            baselines,
            exceptions,
            ownerships,
            ..
        } = self;
        let mut next_change: Option<Timestamp> = None;
        let mut note = |t: Timestamp| {
            if t > now {
                next_change = Some(next_change.map_or(t, |n| n.min(t)));
            }
        };
        let exception_index: HashMap<(&str, &str), usize> = exceptions
            .iter()
            .enumerate()
            .map(|(i, e)| ((e.namespace.as_str(), e.name.as_str()), i))
            .collect();
        let ownership_index: HashMap<(&str, &str), usize> = ownerships
            .iter()
            .enumerate()
            .map(|(i, o)| ((o.info.namespace.as_str(), o.info.name.as_str()), i))
            .collect();

        let mut exception_covers = vec![Vec::new(); exceptions.len()];
        let mut exception_used = vec![false; exceptions.len()];
        let mut ownership_matched = vec![0i32; ownerships.len()];
        let mut conflicts: Vec<Vec<OwnershipConflict>> = vec![Vec::new(); ownerships.len()];
        let mut std_acc: Vec<StandardAcc> = standards.iter().map(StandardAcc::new).collect();
        let successors = super::review::successors(&inputs.standards);
        // Per Deprecated standard with a valid successor: (successor, migration).
        let mut migrations: Vec<Option<(usize, MigrationAcc)>> = standards
            .iter()
            .zip(&successors)
            .map(|(s, succ)| {
                s.deprecation.as_ref()?;
                Some((*succ.as_ref().ok()?.as_ref()?, MigrationAcc::default()))
            })
            .collect();
        let mut base_acc: Vec<BaselineAcc> = baselines.iter().map(BaselineAcc::new).collect();

        for (wi, (w, v)) in inputs.workloads.iter().zip(&verdicts).enumerate() {
            if let Some(t) = v.next_change {
                note(t);
            }
            let ns = w.namespace.as_str();
            for name in &v.selected_by {
                if let Some(&i) = exception_index.get(&(ns, name.as_str())) {
                    exception_covers[i].push(w.reference());
                }
            }
            for name in &v.used_exceptions {
                if let Some(&i) = exception_index.get(&(ns, name.as_str())) {
                    exception_used[i] = true;
                }
            }
            match &v.owner {
                Owner::Orphan => {}
                Owner::Owned(info) => {
                    if let Some(&i) = ownership_index.get(&(ns, info.name.as_str())) {
                        ownership_matched[i] += 1;
                    }
                }
                Owner::Conflict(names) => {
                    for name in names {
                        let Some(&i) = ownership_index.get(&(ns, name.as_str())) else {
                            continue;
                        };
                        ownership_matched[i] += 1;
                        conflicts[i].push(OwnershipConflict {
                            workload: w.reference(),
                            others: names.iter().filter(|n| *n != name).cloned().collect(),
                        });
                    }
                }
            }
            for &(si, c) in &v.standards {
                if let Some((successor, m)) = &mut migrations[si] {
                    let name = &*standards[*successor].name;
                    m.count((*successor, name), wi, v, &inputs.workloads);
                }
                let acc = &mut std_acc[si];
                acc.matched += 1;
                match c {
                    Compliance::Compliant => acc.compliant += 1,
                    Compliance::Excepted => acc.excepted += 1,
                    Compliance::Deviating => acc.deviating += 1,
                }
            }
            for o in &v.rules {
                let acc = &mut std_acc[o.standard];
                if o.excepted {
                    acc.rules[o.rule].excepted += 1;
                } else {
                    acc.rules[o.rule].deviating += 1;
                    let s = &standards[o.standard];
                    acc.sample.push((o.severity, wi, o.rule), |e| {
                        sample_key(s, &inputs.workloads, *e)
                    });
                }
            }
            for b in &v.baselines {
                let acc = &mut base_acc[b.baseline];
                acc.count(b.ring.as_deref(), b.state);
                if let Some(o) = &b.overdue {
                    acc.overdue.push(o, overdue_key);
                }
            }
        }

        // Exceptions.
        let exception_verdicts: Vec<ExceptionVerdict> = exceptions
            .iter()
            .enumerate()
            .map(|(i, e)| {
                if e.invalid.is_none() && now < e.expires_at {
                    note(e.expires_at);
                }
                let covered = std::mem::take(&mut exception_covers[i]);
                let (state, reason, message) =
                    exception_state(e, !covered.is_empty(), exception_used[i], now);
                ExceptionVerdict {
                    namespace: e.namespace.clone(),
                    name: e.name.clone(),
                    state,
                    reason,
                    message,
                    covered,
                    expires_at: e.expires_at,
                    in_force: e.in_force(now),
                    // Invalid for want of a workload, not for its spec.
                    awaiting_workloads: state == ExceptionState::Invalid && e.invalid.is_none(),
                }
            })
            .collect();

        // Standards, and their reviews.
        let standard_index: HashMap<&str, usize> = standards
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_ref(), i))
            .collect();
        let uid = |name: &str| {
            standard_index
                .get(name)
                .and_then(|&i| inputs.standards[i].metadata.uid.as_deref())
        };
        let latest =
            super::review::latest(&inputs.reviews, now, |r| r.counts_for(uid(&r.standard)));
        // Per standard, its exceptions by state, all of them (for a review to
        // record) and its active ones, in one pass over the exceptions.
        let mut counts_of = vec![crate::api::standard::ExceptionCounts::default(); standards.len()];
        let mut all_of: Vec<Vec<super::review::ActiveException>> =
            vec![Vec::new(); standards.len()];
        let mut active_of: Vec<Vec<super::review::ActiveException>> =
            vec![Vec::new(); standards.len()];
        for ((e, ev), spec) in exceptions
            .iter()
            .zip(&exception_verdicts)
            .zip(&inputs.exceptions)
        {
            if let Some(super::exception::Target::Standard { index, .. }) = e.target {
                count_exception(&mut counts_of[index], ev.state);
                let seen = super::review::ActiveException {
                    name: format!("{}/{}", e.namespace, e.name),
                    created: spec.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    generation: spec.metadata.generation,
                };
                if ev.state == ExceptionState::Active {
                    active_of[index].push(seen.clone());
                }
                all_of[index].push(seen);
            }
        }
        for a in active_of.iter_mut().chain(&mut all_of) {
            a.sort_by(|x, y| x.name.cmp(&y.name));
        }
        let standard_verdicts: Vec<StandardVerdict> = standards
            .iter()
            .zip(std_acc)
            .zip(&inputs.standards)
            .zip(migrations)
            .enumerate()
            .map(|(si, (((std, acc), spec), migration))| {
                let mut v = acc.finish(std, &inputs.workloads, &verdicts);
                v.exceptions = std::mem::take(&mut counts_of[si]);
                v.lifecycle_error = successors[si].as_ref().err().cloned();
                if let Some(d) = &std.deprecation {
                    if let Some(t) = d.sunset {
                        note(t);
                    }
                    let (successor, acc) = migration.unzip();
                    v.migration = Some(acc.unwrap_or_default().finish(
                        successor.map(|j| standards[j].name.to_string()),
                        d.sunset,
                        now,
                        v.matched,
                        &inputs.workloads,
                    ));
                }
                if v.error.is_none() {
                    v.review = super::review::state(&super::review::Situation {
                        standard: spec,
                        active: &active_of[si],
                        matched: v.matched,
                        excepted: v.excepted,
                        review: latest.get(std.name.as_ref()).copied(),
                        now,
                    });
                    if let Some(t) = v.review.next_change {
                        note(t);
                    }
                }
                v
            })
            .collect();

        // Reviews: which one counts, and what a new current one records.
        let review_verdicts = inputs
            .reviews
            .iter()
            .map(|r| {
                let index = standard_index.get(r.standard.as_str()).copied();
                let current = index.is_some()
                    && latest
                        .get(r.standard.as_str())
                        .is_some_and(|l| l.name == r.name);
                let record = match index {
                    Some(si) if current && !r.slim && r.at_review().is_none() => {
                        let v = &standard_verdicts[si];
                        let active = &active_of[si];
                        let names = super::review::record(r, &all_of[si], active, now);
                        let figures = super::review::at_review(
                            &inputs.standards[si],
                            i32::try_from(active.len()).unwrap_or(i32::MAX),
                            v.matched,
                            v.excepted,
                        );
                        Some((names, figures))
                    }
                    _ => None,
                };
                ReviewVerdict {
                    name: r.name.clone(),
                    standard_exists: index.is_some(),
                    replaced: index.is_some() && r.replaced(uid(&r.standard)),
                    current,
                    record,
                }
            })
            .collect();

        // Ownerships.
        let ownership_verdicts = ownerships
            .iter()
            .zip(ownership_matched)
            .zip(conflicts)
            .map(|((o, matched), conflicts)| {
                if let Some(t) = o.info.next_change() {
                    note(t);
                }
                OwnershipVerdict {
                    namespace: o.info.namespace.clone(),
                    name: o.info.name.clone(),
                    error: o.selector.as_ref().err().map(ToString::to_string),
                    matched,
                    conflicts: sample(conflicts),
                    findings: o.info.findings(DEFAULT_MIN_MAINTAINERS),
                }
            })
            .collect();

        let baseline_verdicts = baselines
            .iter()
            .zip(base_acc)
            .map(|(b, acc)| acc.finish(b))
            .collect();

        Evaluation {
            at: now,
            workloads: verdicts,
            standards: standard_verdicts,
            exceptions: exception_verdicts,
            baselines: baseline_verdicts,
            ownerships: ownership_verdicts,
            reviews: review_verdicts,
            next_change,
        }
    }
}

/// The state of an exception, given whether it selects any workload and
/// whether it covered a real deviation.
fn exception_state(
    e: &CompiledException,
    selects_any: bool,
    used: bool,
    now: Timestamp,
) -> (ExceptionState, &'static str, String) {
    if let Some((reason, message)) = &e.invalid {
        return (ExceptionState::Invalid, reason, message.clone());
    }
    if now >= e.expires_at {
        return (
            ExceptionState::Expired,
            super::exception::reasons::EXPIRED,
            format!(
                "expired at {}: the workloads must comply, or a new exception must be approved",
                e.expires_at
            ),
        );
    }
    if !selects_any {
        return (
            ExceptionState::Invalid,
            super::exception::SELECTS_NOTHING,
            format!(
                "it selects no workload of namespace {}: correct spec.workloads",
                e.namespace
            ),
        );
    }
    if !e.approved {
        return (
            ExceptionState::Pending,
            super::exception::reasons::AWAITING_APPROVAL,
            "not approved yet, so it has no effect: an approver must set spec.approvedBy".into(),
        );
    }
    if !used {
        return (
            ExceptionState::Stale,
            super::exception::reasons::NOTHING_TO_EXCEPT,
            "the workloads it covers comply without it: delete it".into(),
        );
    }
    (
        ExceptionState::Active,
        super::exception::reasons::APPROVED,
        format!("in effect until {}", e.expires_at),
    )
}

fn count_exception(counts: &mut crate::api::standard::ExceptionCounts, state: ExceptionState) {
    match state {
        ExceptionState::Active => counts.active += 1,
        ExceptionState::Stale => counts.stale += 1,
        ExceptionState::Expired => counts.expired += 1,
        ExceptionState::Pending => counts.pending += 1,
        ExceptionState::Invalid => counts.invalid += 1,
    }
}

struct StandardAcc {
    matched: i32,
    compliant: i32,
    deviating: i32,
    excepted: i32,
    rules: Vec<RuleCounts>,
    /// The first open deviations as (severity, workload index, rule index),
    /// most severe first: nothing is copied per deviation.
    sample: Capped<SampleEntry>,
}

/// An open deviation as (severity, workload index, rule index).
type SampleEntry = (crate::api::Severity, usize, usize);

/// The order of a standard's deviation sample: most severe first, then by
/// workload and rule (unique, so the sample never depends on input order).
fn sample_key<'a>(
    s: &'a CompiledStandard,
    workloads: &'a [std::sync::Arc<super::Workload>],
    (sev, wi, ri): SampleEntry,
) -> impl Ord + 'a {
    let w = &workloads[wi];
    (
        std::cmp::Reverse(sev),
        w.kind,
        &w.namespace,
        &w.name,
        &s.rule_ids[ri],
    )
}

impl StandardAcc {
    fn new(s: &CompiledStandard) -> Self {
        Self {
            matched: 0,
            compliant: 0,
            deviating: 0,
            excepted: 0,
            rules: s
                .rule_ids
                .iter()
                .map(|id| RuleCounts {
                    id: id.clone(),
                    ..Default::default()
                })
                .collect(),
            sample: Capped::default(),
        }
    }

    fn finish(
        self,
        s: &CompiledStandard,
        workloads: &[std::sync::Arc<super::Workload>],
        verdicts: &[WorkloadVerdict],
    ) -> StandardVerdict {
        let (sample, total) = self.sample.finish(|e| sample_key(s, workloads, *e));
        let items: Vec<DeviationSummary> = sample
            .iter()
            .map(|&(severity, wi, ri)| {
                let rule = &s.rule_ids[ri];
                let message = verdicts[wi]
                    .deviations
                    .iter()
                    .find(|d| d.standard == s.name && *d.rule == **rule)
                    .map(|d| d.message.to_string())
                    .unwrap_or_default();
                DeviationSummary {
                    workload: workloads[wi].reference(),
                    rule: rule.clone(),
                    severity,
                    message,
                }
            })
            .collect();
        StandardVerdict {
            name: s.name.to_string(),
            error: s.compiled.as_ref().err().cloned(),
            rule_errors: s.rule_errors.clone(),
            warnings: s.warnings.clone(),
            matched: self.matched,
            compliant: self.compliant,
            deviating: self.deviating,
            excepted: self.excepted,
            rules: self.rules,
            exceptions: Default::default(),
            review: Default::default(),
            deviations: crate::api::common::Sample {
                omitted: i32::try_from(total - items.len()).unwrap_or(i32::MAX),
                items,
            },
            stage: s.stage,
            lifecycle_error: None,
            migration: None,
        }
    }
}

/// A Deprecated standard's migration, counted as the workloads come.
#[derive(Default)]
struct MigrationAcc {
    migrated: i32,
    /// Workloads not migrated, by index, with whether the successor matches
    /// them and its open rules.
    pending: Capped<Pending>,
}

type Pending = (usize, bool, Vec<String>);

/// The order of a migration's sample: by workload.
fn pending_key<'a>(
    workloads: &'a [Arc<super::Workload>],
    (wi, ..): &Pending,
) -> (crate::api::WorkloadKind, &'a str, &'a str) {
    let w = &workloads[*wi];
    (w.kind, w.namespace.as_str(), w.name.as_str())
}

impl MigrationAcc {
    /// Counts one workload the deprecated standard matches, against its
    /// successor (by index and name).
    fn count(
        &mut self,
        (successor, name): (usize, &str),
        wi: usize,
        v: &WorkloadVerdict,
        workloads: &[Arc<super::Workload>],
    ) {
        match v.standards.iter().find(|(si, _)| *si == successor) {
            Some((_, Compliance::Compliant | Compliance::Excepted)) => self.migrated += 1,
            found => {
                let rules = v
                    .open_deviations()
                    .filter(|d| &*d.standard == name)
                    .map(|d| d.rule.to_string())
                    .collect();
                self.pending
                    .push((wi, found.is_some(), rules), |p| pending_key(workloads, p));
            }
        }
    }

    fn finish(
        self,
        superseded_by: Option<String>,
        sunset: Option<Timestamp>,
        now: Timestamp,
        matched: i32,
        workloads: &[Arc<super::Workload>],
    ) -> MigrationVerdict {
        let (items, total) = self.pending.finish(|p| pending_key(workloads, p));
        let items: Vec<crate::api::standard::PendingMigration> = items
            .into_iter()
            .map(
                |(wi, successor_matches, open_rules)| crate::api::standard::PendingMigration {
                    workload: workloads[wi].reference(),
                    successor_matches,
                    open_rules,
                },
            )
            .collect();
        MigrationVerdict {
            superseded_by,
            sunset,
            sunset_passed: sunset.is_some_and(|t| now >= t),
            matched,
            migrated: self.migrated,
            pending: crate::api::common::Sample {
                omitted: i32::try_from(total - items.len()).unwrap_or(i32::MAX),
                items,
            },
        }
    }
}

struct BaselineAcc<'v> {
    rings: Vec<RingCounts>,
    totals: PatchCounts,
    /// The most overdue workloads (borrowed from the verdicts).
    overdue: Capped<&'v OverdueWorkload>,
}

/// The order of a baseline's overdue sample: most overdue first.
fn overdue_key<'a>(o: &&'a OverdueWorkload) -> (&'a Time, &'a crate::api::common::WorkloadRef) {
    (&o.overdue_since, &o.workload)
}

impl<'v> BaselineAcc<'v> {
    fn new(b: &CompiledBaseline) -> Self {
        let rings = b
            .ring_names
            .iter()
            .map(String::as_str)
            .chain([NO_RING])
            .map(|name| RingCounts {
                name: name.to_string(),
                counts: PatchCounts::default(),
            })
            .collect();
        Self {
            rings,
            totals: PatchCounts::default(),
            overdue: Capped::default(),
        }
    }

    fn count(&mut self, ring: Option<&str>, state: PatchState) {
        let name = ring.unwrap_or(NO_RING);
        let bump = |c: &mut PatchCounts| match state {
            PatchState::Current => c.current += 1,
            PatchState::Behind => c.behind += 1,
            PatchState::Overdue => c.overdue += 1,
            PatchState::Excepted => c.excepted += 1,
            PatchState::Unknown => c.unknown += 1,
        };
        bump(&mut self.totals);
        if let Some(r) = self.rings.iter_mut().find(|r| r.name == name) {
            bump(&mut r.counts);
        }
    }

    fn finish(mut self, b: &CompiledBaseline) -> BaselineVerdict {
        let (overdue, total) = self.overdue.finish(overdue_key);
        // `none` is listed only when some workload is in no ring.
        if let Some(last) = self.rings.last()
            && last.counts == PatchCounts::default()
        {
            self.rings.pop();
        }
        BaselineVerdict {
            name: b.name.clone(),
            error: b.compiled.as_ref().err().cloned(),
            totals: self.totals,
            rings: self.rings,
            overdue: crate::api::common::Sample {
                omitted: i32::try_from(total - overdue.len()).unwrap_or(i32::MAX),
                items: overdue.into_iter().cloned().collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{InfrastructureStandard, StandardException};

    fn standard() -> InfrastructureStandard {
        serde_saphyr::from_str(
            r#"
apiVersion: plumbline.dev/v1alpha1
kind: InfrastructureStandard
metadata: {name: s}
spec:
  rules: [{id: replicas, severity: High, description: d, replicas: {minimum: 2}}]
"#,
        )
        .unwrap()
    }

    fn exception(approver: &str) -> StandardException {
        serde_saphyr::from_str(&format!(
            r#"
apiVersion: plumbline.dev/v1alpha1
kind: StandardException
metadata: {{name: e, namespace: ns}}
spec:
  target: {{standard: s}}
  workloads: {{names: [{{kind: Deployment, name: w}}]}}
  justification: long enough text
  requestedBy: alice
  approvedBy: {approver}
  expiresAt: "2027-01-01T00:00:00Z"
"#
        ))
        .unwrap()
    }

    fn inputs(e: StandardException) -> Inputs {
        let w: k8s_openapi::api::apps::v1::Deployment = serde_saphyr::from_str(
            "metadata: {name: w, namespace: ns}\nspec: {replicas: 1, selector: {}, template: {spec: {containers: [{name: c, image: 'a:1'}]}}}",
        )
        .unwrap();
        Inputs {
            workloads: vec![std::sync::Arc::new(
                super::super::Workload::from_deployment(w),
            )],
            standards: vec![standard()],
            exceptions: vec![e],
            ..Default::default()
        }
    }

    #[test]
    fn expiry_takes_effect_at_the_exact_instant_and_is_the_next_change() {
        let inputs = inputs(exception("bob"));
        let before: Timestamp = "2026-12-31T23:59:59.999Z".parse().unwrap();
        let eval = evaluate(&inputs, before);
        assert_eq!(eval.exceptions[0].state, ExceptionState::Active);
        assert_eq!(
            eval.workloads[0].deviations[0].exception.as_deref(),
            Some("e")
        );
        assert_eq!(
            eval.next_change,
            Some("2027-01-01T00:00:00Z".parse().unwrap())
        );

        let at: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let eval = evaluate(&inputs, at);
        assert_eq!(eval.exceptions[0].state, ExceptionState::Expired);
        assert_eq!(eval.workloads[0].deviations[0].exception, None);
        assert_eq!(eval.standards[0].deviating, 1);
        assert_eq!(eval.next_change, None);
    }

    #[test]
    fn self_approval_is_invalid_even_when_the_schema_was_bypassed() {
        let eval = evaluate(
            &inputs(exception("ALICE")),
            "2026-11-24T00:00:00Z".parse().unwrap(),
        );
        assert_eq!(eval.exceptions[0].state, ExceptionState::Invalid);
        assert_eq!(eval.exceptions[0].reason, "SelfApproved");
        assert_eq!(
            eval.workloads[0].deviations[0].exception, None,
            "an invalid exception covers nothing"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_verdict() {
        let inputs = inputs(exception("bob"));
        let now: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let a = format!("{:?}", evaluate(&inputs, now));
        let b = format!("{:?}", evaluate(&inputs, now));
        assert_eq!(a, b);
    }

    #[test]
    fn a_deprecated_standard_counts_its_migration_and_its_sunset_to_the_instant() {
        let mut old = standard();
        old.spec.lifecycle = Some(crate::api::standard::Lifecycle {
            stage: crate::api::standard::Stage::Deprecated,
            superseded_by: Some("next".into()),
            sunset: Some(Time("2026-11-30T00:00:00Z".parse().unwrap())),
        });
        let mut next = standard();
        next.metadata.name = Some("next".into());
        let mut inputs = inputs(exception("bob"));
        inputs.exceptions.clear();
        inputs.standards = vec![old, next];
        // A sunset already past when the standard is deprecated: allowed, and passed.
        let eval = evaluate(&inputs, "2026-12-01T00:00:00Z".parse().unwrap());
        let m = eval.standards[0].migration.as_ref().expect("a migration");
        assert_eq!((m.matched, m.migrated, m.sunset_passed), (1, 0, true));
        assert_eq!(m.superseded_by.as_deref(), Some("next"));
        assert_eq!(m.pending.items[0].open_rules, ["replicas"]);
        assert!(m.pending.items[0].successor_matches);
        assert!(eval.workloads[0].deprecated[0].sunset_passed);
        assert!(eval.standards[1].migration.is_none());
        // Before the sunset: not passed, and the sunset is the next change.
        let eval = evaluate(&inputs, "2026-11-29T23:59:59Z".parse().unwrap());
        assert!(!eval.standards[0].migration.as_ref().unwrap().sunset_passed);
        assert!(!eval.workloads[0].deprecated[0].sunset_passed);
        assert_eq!(
            eval.next_change,
            Some("2026-11-30T00:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn a_retired_standard_matches_nothing_and_its_exceptions_are_invalid() {
        let mut retired = standard();
        retired.spec.lifecycle = Some(crate::api::standard::Lifecycle {
            stage: crate::api::standard::Stage::Retired,
            ..Default::default()
        });
        let mut inputs = inputs(exception("bob"));
        inputs.standards = vec![retired];
        let eval = evaluate(&inputs, "2026-12-01T00:00:00Z".parse().unwrap());
        assert_eq!(eval.standards[0].matched, 0);
        assert!(eval.workloads[0].deviations.is_empty());
        assert!(eval.workloads[0].standards.is_empty());
        assert_eq!(eval.exceptions[0].state, ExceptionState::Invalid);
        assert_eq!(eval.exceptions[0].reason, "StandardRetired");
        assert_eq!(
            eval.standards[0].review.reason,
            super::super::review::reasons::RETIRED
        );
    }
}
