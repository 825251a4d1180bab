//! A workload's ComplianceReport: the desired report from its verdict,
//! whether the cluster's copy differs, the Events of the change, and the
//! summaries that replace an Event storm when many workloads change for one
//! standard at once. Also which reports no workload needs any more. Pure.

use std::collections::{BTreeSet, HashMap, HashSet};

use jiff::Timestamp;
use k8s_openapi::{
    api::core::v1::ObjectReference,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time},
};
use kube::{Resource, ResourceExt};

use super::{
    Context, count,
    events::{Bulk, Changes, Tally, Transition, reasons},
};
use crate::{
    admission::policy::MANAGED_BY,
    api::{
        ComplianceReport, ComplianceReportSpec, ComplianceReportStatus, PatchState,
        report::{
            ExceptedRule, ImagePatch, MAX_REPORTED_IMAGES, OwnerSummary, PatchReport,
            ReportedWorkload, StandardDeviations,
        },
    },
    controller::{
        cache::{Entry, Key},
        conditions::{Desired, merge, reasons as condition_reasons, types},
        seen::{SeenReport, digest, open},
    },
    engine::{Compliance, Owner, Workload, WorkloadVerdict},
};

/// The reports a pass writes and deletes.
pub struct Reports<'i> {
    /// Reports whose desired content differs from the cluster's copy.
    pub pending: Vec<Pending<'i>>,
    /// Reports no workload needs any more (namespace, name).
    pub deletes: Vec<Key>,
    /// The standards and baselines whose changes are summarised in one
    /// Event each, decided before any write.
    pub bulk: Bulk,
    inputs: &'i crate::engine::Inputs,
    now: Timestamp,
}

/// A report to write: its workload and verdict, and the cluster's copy as
/// last seen. The report itself is built when it is written (`Reports::writes`):
/// 10,000 desired reports held at once, on a first start, would cost tens
/// of MiB for the few milliseconds each one waits.
pub struct Pending<'i> {
    workload: &'i Workload,
    verdict: &'i WorkloadVerdict,
    current: Option<Entry<SeenReport>>,
}

/// One report to write, and what writing it changes.
pub struct ReportWrite {
    /// The report, spec and status, as it should be.
    pub desired: ComplianceReport,
    /// The resourceVersion of the cluster's copy as last seen (none: new).
    pub before: Option<String>,
    /// The workload, which its Events regard.
    pub regarding: ObjectReference,
    /// Its changes, counted per standard and baseline once written.
    pub changes: Changes,
    /// Its Events, but for what the bulk summaries say.
    pub events: Vec<Transition>,
}

/// The digest of each report as last built. A workload whose verdict was
/// kept, and whose report the cluster holds as last built, needs no new
/// report: building and digesting 10,000 of them to find the one that
/// changed took most of a pass, and churned the allocator. Nothing to clear:
/// after the engine's cache is cleared (a resync) no verdict is kept, so
/// every report is built again and its entry replaced.
#[derive(Default)]
pub struct Built(std::sync::Mutex<HashMap<u64, u64>>);

/// A report's namespace and name as one number: the per-pass sets of 10,000
/// reports hold no strings. (Two reports sharing one would need a 64-bit
/// hash collision; the worst it could do is leave one report unbuilt until
/// the next resync.)
fn report_key(namespace: &str, name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (namespace, name).hash(&mut hasher);
    hasher.finish()
}

/// Whether a desired report differs from the cluster's copy as last seen
/// (or there is none): whether it must be written.
pub fn differs(desired: &ComplianceReport, current: Option<&SeenReport>) -> bool {
    current.is_none_or(|c| c.digest != digest(desired))
}

/// Plans the reports: one per workload, and none for workloads that are
/// gone. Each report is built once here to see whether it differs; those
/// that do are built again when written, and their changes are counted per
/// standard (and baseline) first: beyond a few, a standard gets one summary
/// Event instead of one per workload.
pub fn plan<'i>(cx: Context<'i>, built: &Built) -> Reports<'i> {
    let Context {
        stores,
        inputs,
        eval,
        kept,
        now,
        ..
    } = cx;
    // Nothing can be created in a namespace being deleted: its reports go with it.
    let terminating: HashSet<String> = stores
        .namespaces
        .values()
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_some())
        .map(|n| n.name_any())
        .collect();
    let mut wanted = HashSet::new();
    let mut planned = Tally::default();
    let mut pending = Vec::new();
    let mut built = built.0.lock().unwrap_or_else(|e| e.into_inner());
    for (i, (w, v)) in inputs.workloads.iter().zip(&eval.workloads).enumerate() {
        if w.uid.is_none() || terminating.contains(&w.namespace) {
            continue;
        }
        let name = report_name(w);
        let key = report_key(&w.namespace, &name);
        wanted.insert(key);
        let current = stores.reports.get(&w.namespace, &name);
        let seen = current.as_ref().map(|c| c.value.as_ref());
        let as_built = seen.is_some_and(|s| built.get(&key) == Some(&s.digest));
        if as_built && kept.get(i).copied().unwrap_or(false) {
            continue;
        }
        let desired = report(w, v, seen, now);
        built.insert(key, digest(&desired));
        if !differs(&desired, seen) {
            continue;
        }
        if let Some(next) = desired.status.as_ref() {
            planned.add(&changes(seen, next));
        }
        pending.push(Pending {
            workload: w,
            verdict: v,
            current,
        });
    }
    built.retain(|key, _| wanted.contains(key));
    // A report without an owner is being garbage-collected already.
    let deletes = stores.reports.select(|(ns, name), report| {
        report.value.owned && !terminating.contains(ns) && !wanted.contains(&report_key(ns, name))
    });
    Reports {
        pending,
        deletes,
        bulk: planned.bulk(),
        inputs,
        now,
    }
}

impl Reports<'_> {
    /// The reports to write, each built as it is taken.
    pub fn writes(&self) -> impl Iterator<Item = ReportWrite> + '_ {
        self.pending.iter().map(|p| {
            let previous = p.current.as_ref().map(|c| c.value.as_ref());
            let w = p.workload;
            let desired = report(w, p.verdict, previous, self.now);
            let (changes, events) = match desired.status.as_ref() {
                Some(next) => {
                    let c = changes(previous, next);
                    let e = events(&c, next, p.verdict, &self.bulk);
                    (c, e)
                }
                None => Default::default(),
            };
            ReportWrite {
                desired,
                before: p.current.as_ref().and_then(|c| c.resource_version.clone()),
                regarding: ObjectReference {
                    api_version: Some(w.kind.api_version().into()),
                    kind: Some(w.kind.as_str().into()),
                    name: Some(w.name.clone()),
                    namespace: Some(w.namespace.clone()),
                    uid: w.uid.clone(),
                    ..Default::default()
                },
                changes,
                events,
            }
        })
    }

    /// The summary Events on standards and baselines of `bulk`, counting
    /// what was written (`written`): a report whose write failed raises its
    /// own Events when it is written later.
    pub fn summaries(&self, written: &Tally) -> Vec<(ObjectReference, Transition)> {
        let (standards, baselines) = written.summaries(&self.bulk);
        let standard = |name: &str| {
            self.inputs
                .standards
                .iter()
                .find(|s| s.name_any() == name)
                .map(|s| s.object_ref(&()))
        };
        let baseline = |name: &str| {
            self.inputs
                .baselines
                .iter()
                .find(|b| b.name_any() == name)
                .map(|b| b.object_ref(&()))
        };
        standards
            .into_iter()
            .filter_map(|(name, t)| standard(&name).map(|r| (r, t)))
            .chain(
                baselines
                    .into_iter()
                    .filter_map(|(name, t)| baseline(&name).map(|r| (r, t))),
            )
            .collect()
    }
}

/// The name of a workload's report: its kind and name, e.g. `deployment-web`,
/// shortened with a hash suffix when that would be too long.
pub fn report_name(w: &Workload) -> String {
    let name = format!("{}-{}", w.kind.as_str().to_ascii_lowercase(), w.name);
    crate::names::shorten(&name, crate::names::MAX_NAME)
}

/// The desired ComplianceReport of a workload, owned by it (so it is
/// garbage-collected with it). `previous` is the report's current status.
pub fn report(
    w: &Workload,
    v: &WorkloadVerdict,
    previous: Option<&SeenReport>,
    now: Timestamp,
) -> ComplianceReport {
    let open: Vec<_> = v.open_deviations().collect();
    let compliant = match v.compliance() {
        Compliance::Deviating => {
            let worst = open[0];
            Desired::new(
                types::COMPLIANT,
                false,
                condition_reasons::DEVIATING,
                // The deviations list names every rule; the most severe one's
                // message says what is wrong and how to fix it, so that
                // `kubectl describe` shows where to start.
                format!(
                    "{} open deviation{}; most severe: {}/{} ({}): {}",
                    open.len(),
                    if open.len() == 1 { "" } else { "s" },
                    worst.standard,
                    worst.rule,
                    worst.severity,
                    worst.message,
                ),
            )
        }
        Compliance::Compliant => Desired::new(
            types::COMPLIANT,
            true,
            condition_reasons::COMPLIANT,
            if v.standards.is_empty() {
                "no standard applies".to_string()
            } else {
                format!("follows all {} standards that apply", v.standards.len())
            },
        ),
        Compliance::Excepted => {
            let by: Vec<&str> = v
                .deviations
                .iter()
                .filter_map(|d| d.exception.as_deref())
                .collect();
            Desired::new(
                types::COMPLIANT,
                true,
                condition_reasons::EXCEPTED,
                format!(
                    "{} deviation{} covered by exceptions: {}",
                    v.deviations.len(),
                    if v.deviations.len() == 1 { "" } else { "s" },
                    dedup(by).join(", ")
                ),
            )
        }
    };
    let patch = match v.patch_state {
        None => Desired::new(
            types::PATCH_CURRENT,
            true,
            condition_reasons::NO_BASELINE,
            "no patch baseline applies",
        ),
        Some(state) => {
            let worst = v
                .patch
                .iter()
                .filter(|p| p.state == state)
                .map(|p| {
                    // The report's patch list has every figure; the message
                    // says what is wrong in a few words.
                    let why = match (&p.reason, p.state, p.due) {
                        (Some(r), _, _) => r.clone(),
                        (None, PatchState::Overdue, Some(d)) => {
                            format!("below {}, overdue since {d}", p.minimum_version)
                        }
                        (None, PatchState::Behind, Some(d)) => {
                            format!("below {}, due {d}", p.minimum_version)
                        }
                        (None, _, _) => format!("below {}", p.minimum_version),
                    };
                    format!("{} `{}`: {why}", p.container, p.image)
                })
                .collect::<Vec<_>>()
                .join("; ");
            let current = matches!(state, PatchState::Current | PatchState::Excepted);
            Desired::new(
                types::PATCH_CURRENT,
                current,
                state.reason(),
                if state == PatchState::Current {
                    "every image meets its baselines".into()
                } else {
                    worst
                },
            )
        }
    };
    let owned = match (&v.owner, v.owner.problem()) {
        (Owner::Owned(o), _) => Desired::new(
            types::OWNED,
            true,
            condition_reasons::OWNED,
            // What an incomplete ownership lacks is in its own status.
            if o.complete() {
                format!("team {} (ServiceOwnership {})", o.team, o.name)
            } else {
                format!("team {} (ServiceOwnership {}, incomplete)", o.team, o.name)
            },
        ),
        (Owner::Orphan, problem) => Desired::new(
            types::OWNED,
            false,
            condition_reasons::ORPHAN,
            problem.unwrap_or_default(),
        ),
        (Owner::Conflict(_), problem) => Desired::new(
            types::OWNED,
            false,
            condition_reasons::CONFLICT,
            problem.unwrap_or_default(),
        ),
    };
    // No observedGeneration: a report is written whole, so there is no
    // spec of its own for the status to catch up with.
    let conditions = merge(
        &previous.map(SeenReport::conditions).unwrap_or_default(),
        [compliant, patch, owned]
            .into_iter()
            .chain(supported(&v.deprecated))
            .collect(),
        None,
        now,
    );
    let status = ComplianceReportStatus {
        conditions,
        workload_generation: w.generation,
        deviation_count: count(v.deviations.len()),
        deviations: by_standard(&v.deviations),
        patch: v.patch_state.map(|state| {
            // The worst first, so that what is cut is the least urgent.
            let mut images: Vec<&crate::engine::verdict::ImagePatch> = v.patch.iter().collect();
            images.sort_by_key(|p| std::cmp::Reverse(crate::engine::verdict::patch_rank(p.state)));
            let omitted = images.len().saturating_sub(MAX_REPORTED_IMAGES);
            images.truncate(MAX_REPORTED_IMAGES);
            PatchReport {
                state,
                due: v.patch_due.map(Time),
                images: images.into_iter().map(ImagePatch::from).collect(),
                images_omitted: count(omitted),
            }
        }),
        owner: match &v.owner {
            Owner::Owned(o) => Some(OwnerSummary {
                service_ownership: o.name.clone(),
                team: o.team.clone(),
                complete: o.complete(),
            }),
            _ => None,
        },
    };
    let mut report = ComplianceReport::new(
        &report_name(w),
        ComplianceReportSpec {
            workload: ReportedWorkload {
                kind: w.kind.as_str().into(),
                name: w.name.clone(),
            },
        },
    );
    report.metadata = ObjectMeta {
        name: Some(report_name(w)),
        namespace: Some(w.namespace.clone()),
        labels: Some([(MANAGED_BY.0.into(), MANAGED_BY.1.into())].into()),
        owner_references: w.uid.as_ref().map(|uid| {
            vec![OwnerReference {
                api_version: w.kind.api_version().into(),
                kind: w.kind.as_str().into(),
                name: w.name.clone(),
                uid: uid.clone(),
                // Neither: the workload does not manage its report, and
                // deleting the workload need not wait for it.
                controller: None,
                block_owner_deletion: None,
            }]
        }),
        ..Default::default()
    };
    report.status = Some(status);
    report
}

/// The deviations grouped by standard, in the engine's order (most severe
/// first): the standard with the most severe deviation comes first.
pub fn by_standard(deviations: &[crate::engine::Deviation]) -> Vec<StandardDeviations> {
    let mut groups: Vec<StandardDeviations> = Vec::new();
    for d in deviations {
        let i = match groups.iter().position(|g| *g.standard == *d.standard) {
            Some(i) => i,
            None => {
                groups.push(StandardDeviations {
                    standard: d.standard.to_string(),
                    ..Default::default()
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        match &d.exception {
            None => g.open_mut(d.severity).push(d.rule.to_string()),
            Some(e) => g.excepted.push(ExceptedRule {
                rule: d.rule.to_string(),
                severity: d.severity,
                exception: e.clone(),
            }),
        }
    }
    groups
}

/// The `StandardsSupported` condition of a report, present only while a
/// Deprecated standard matches the workload: True until its sunset, False
/// after.
fn supported(deprecated: &[crate::engine::DeprecatedStandard]) -> Option<Desired> {
    if deprecated.is_empty() {
        return None;
    }
    let words = |d: &crate::engine::DeprecatedStandard| {
        let to = d
            .superseded_by
            .as_deref()
            .map_or(String::new(), |s| format!(": move to standard {s}"));
        match (d.sunset, d.sunset_passed) {
            (Some(t), true) => format!("{} was sunset at {t}{to}", d.standard),
            (Some(t), false) => format!("{} is deprecated, sunset {t}{to}", d.standard),
            (None, _) => format!("{} is deprecated{to}", d.standard),
        }
    };
    let passed: Vec<String> = deprecated
        .iter()
        .filter(|d| d.sunset_passed)
        .map(words)
        .collect();
    Some(if passed.is_empty() {
        Desired::new(
            types::STANDARDS_SUPPORTED,
            true,
            condition_reasons::DEPRECATED_STANDARD,
            format!(
                "runs on a deprecated standard: {}",
                deprecated.iter().map(words).collect::<Vec<_>>().join("; ")
            ),
        )
    } else {
        Desired::new(
            types::STANDARDS_SUPPORTED,
            false,
            condition_reasons::SUNSET_PASSED,
            format!("past the sunset of: {}", passed.join("; ")),
        )
    })
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

/// What changed between a report as last seen and its status now.
pub fn changes(previous: Option<&SeenReport>, next: &ComplianceReportStatus) -> Changes {
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

/// Events for a workload, from what its write changes (`changes`)
/// and its verdict (whose messages say what is wrong and how to fix it),
/// leaving out what `bulk` summarises on the standard or baseline instead.
pub fn events(
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
