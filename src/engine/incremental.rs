//! Evaluation that keeps the verdicts of the previous pass and evaluates
//! again only the workloads a change can affect. Pure: the caller passes the
//! inputs and the time; nothing here reads a clock or the cluster.
//!
//! A workload's verdict depends on itself, its namespace (labels,
//! PodDisruptionBudgets, exceptions, ownerships), the standards and
//! baselines that match it, and the time. So a workload is evaluated again
//! when it changed, when anything in its namespace changed, when a standard
//! or baseline that matches it now or matched it before changed, or when
//! its own verdict said it would change by now. Every other verdict is kept;
//! the per-object verdicts are folded again from all of them, which is cheap.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use super::{
    Evaluation, Inputs, Owner, Workload, WorkloadVerdict, evaluate::Prepared, matcher::Matcher,
    patch::CompiledBaseline, standard::CompiledStandard,
};
use crate::api::WorkloadKind;

/// The inputs and verdicts of the last pass.
#[derive(Default)]
pub struct Incremental {
    last: Option<(Inputs, Evaluation)>,
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Workloads evaluated.
    pub evaluated: usize,
    /// Workloads whose previous verdict was kept.
    pub reused: usize,
    /// Per workload of the inputs, in order: whether its verdict was kept
    /// (so whatever was built from it last time still holds).
    pub kept: Vec<bool>,
}

type Key<'a> = (&'a str, WorkloadKind, &'a str);

fn key(w: &Workload) -> Key<'_> {
    (w.namespace.as_str(), w.kind, w.name.as_str())
}

impl Incremental {
    /// An empty cache: the first pass evaluates everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Evaluates `inputs` at `now`, reusing what it can; the inputs and the
    /// evaluation stay in the cache for the next pass.
    pub fn evaluate(&mut self, inputs: Inputs, now: Timestamp) -> (&Inputs, &Evaluation, Pass) {
        let mut pass = Pass::default();
        let evaluation = {
            let prepared = Prepared::new(&inputs, now);
            let verdicts = match self.last.take() {
                None => {
                    pass.evaluated = inputs.workloads.len();
                    pass.kept = vec![false; inputs.workloads.len()];
                    inputs
                        .workloads
                        .iter()
                        .map(|w| prepared.workload(w))
                        .collect()
                }
                Some((old, previous)) => reuse(&old, previous, &inputs, &prepared, now, &mut pass),
            };
            prepared.fold(verdicts)
        };
        let (inputs, evaluation) = self.last.insert((inputs, evaluation));
        (inputs, evaluation, pass)
    }

    /// Forgets everything: the next pass evaluates every workload.
    pub fn clear(&mut self) {
        self.last = None;
    }
}

fn reuse(
    old: &Inputs,
    previous: Evaluation,
    inputs: &Inputs,
    prepared: &Prepared<'_>,
    now: Timestamp,
    pass: &mut Pass,
) -> Vec<WorkloadVerdict> {
    let affected = Affected::new(old, inputs, prepared);
    let standard_map = index_map(
        old.standards.iter().map(|s| s.metadata.name.as_deref()),
        inputs.standards.iter().map(|s| s.metadata.name.as_deref()),
    );
    let baseline_map = index_map(
        old.baselines.iter().map(|s| s.metadata.name.as_deref()),
        inputs.baselines.iter().map(|s| s.metadata.name.as_deref()),
    );
    // Whether the verdict on the old inputs' workload `i` still holds for `w`.
    let holds = |i: usize, v: &WorkloadVerdict, w: &std::sync::Arc<Workload>| {
        // The operator hands over the same Arc for an unchanged object.
        (std::sync::Arc::ptr_eq(&old.workloads[i], w) || old.workloads[i] == *w)
            && v.next_change.is_none_or(|t| t > now)
            && !affected.hits(w, prepared)
    };
    let mut verdicts = previous.workloads;
    let aligned = old.workloads.len() == inputs.workloads.len()
        && old
            .workloads
            .iter()
            .zip(&inputs.workloads)
            .all(|(a, b)| key(a) == key(b));
    if aligned {
        // The same workloads in the same order (edits, no workload added or
        // removed): each verdict is replaced where it stands, so that such a
        // pass allocates nothing the size of the cluster.
        for (i, w) in inputs.workloads.iter().enumerate() {
            let v = &mut verdicts[i];
            let kept = holds(i, v, w) && remap(v, &standard_map, &baseline_map, prepared, w);
            pass.kept.push(kept);
            if kept {
                pass.reused += 1;
            } else {
                pass.evaluated += 1;
                *v = prepared.workload(w);
            }
        }
        return verdicts;
    }
    let old_index: HashMap<Key<'_>, usize> = old
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| (key(w), i))
        .collect();
    let mut kept: Vec<Option<WorkloadVerdict>> = verdicts.into_iter().map(Some).collect();
    inputs
        .workloads
        .iter()
        .map(|w| {
            let reusable = old_index
                .get(&key(w))
                .copied()
                .filter(|&i| kept[i].as_ref().is_some_and(|v| holds(i, v, w)));
            let Some(i) = reusable else {
                pass.evaluated += 1;
                pass.kept.push(false);
                return prepared.workload(w);
            };
            let mut v = kept[i].take().expect("each old verdict is taken once");
            let remapped = remap(&mut v, &standard_map, &baseline_map, prepared, w);
            pass.kept.push(remapped);
            if remapped {
                pass.reused += 1;
                v
            } else {
                pass.evaluated += 1;
                prepared.workload(w)
            }
        })
        .collect()
}

/// Old index → new index, by name.
fn index_map<'a>(
    old: impl Iterator<Item = Option<&'a str>>,
    new: impl Iterator<Item = Option<&'a str>>,
) -> Vec<Option<usize>> {
    let new: HashMap<&str, usize> = new.enumerate().filter_map(|(i, n)| Some((n?, i))).collect();
    old.map(|n| n.and_then(|n| new.get(n).copied())).collect()
}

/// Points a kept verdict at the new inputs' standards, baselines and owner;
/// false when something it refers to is gone (then it is evaluated again).
fn remap(
    v: &mut WorkloadVerdict,
    standards: &[Option<usize>],
    baselines: &[Option<usize>],
    prepared: &Prepared<'_>,
    w: &Workload,
) -> bool {
    for (si, _) in &mut v.standards {
        match standards.get(*si).copied().flatten() {
            Some(n) => *si = n,
            None => return false,
        }
    }
    for o in &mut v.rules {
        match standards.get(o.standard).copied().flatten() {
            Some(n) => o.standard = n,
            None => return false,
        }
    }
    for b in &mut v.baselines {
        match baselines.get(b.baseline).copied().flatten() {
            Some(n) => b.baseline = n,
            None => return false,
        }
    }
    // In the order a fresh evaluation gives: by the new inputs' order.
    v.standards.sort_by_key(|&(si, _)| si);
    v.rules.sort_by_key(|o| (o.standard, o.rule));
    v.baselines.sort_by_key(|b| b.baseline);
    v.patch
        .sort_by_cached_key(|p| prepared.baselines.iter().position(|b| b.name == p.baseline));
    if let Owner::Owned(info) = &mut v.owner {
        match prepared.ownership(&w.namespace, &info.name) {
            Some(o) => *info = o.info.clone(),
            None => return false,
        }
    }
    true
}

/// What changed between two inputs, as far as workloads can tell.
struct Affected {
    /// Namespaces whose labels, budgets, exceptions or ownerships changed.
    namespaces: HashSet<String>,
    /// Matchers of changed standards and baselines, before and after.
    matchers: Vec<Matcher>,
}

impl Affected {
    fn new(old: &Inputs, new: &Inputs, prepared: &Prepared<'_>) -> Self {
        // Only what evaluation reads counts: a status write is not a change.
        let mut namespaces = HashSet::new();
        let ns = &mut namespaces;
        let meta = |m: &'_ k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            (
                m.namespace.clone().unwrap_or_default(),
                m.name.clone().unwrap_or_default(),
            )
        };
        changed_in(
            old.namespaces
                .iter()
                .map(|n| ((n.name.clone(), String::new()), &n.labels)),
            new.namespaces
                .iter()
                .map(|n| ((n.name.clone(), String::new()), &n.labels)),
            ns,
        );
        changed_in(
            old.budgets
                .iter()
                .map(|b| ((b.namespace.clone(), b.name.clone()), b)),
            new.budgets
                .iter()
                .map(|b| ((b.namespace.clone(), b.name.clone()), b)),
            ns,
        );
        changed_in(
            old.exceptions.iter().map(|e| (meta(&e.metadata), &e.spec)),
            new.exceptions.iter().map(|e| (meta(&e.metadata), &e.spec)),
            ns,
        );
        changed_in(
            old.ownerships.iter().map(|o| (meta(&o.metadata), &o.spec)),
            new.ownerships.iter().map(|o| (meta(&o.metadata), &o.spec)),
            ns,
        );

        let mut matchers = Vec::new();
        let (gone, came) = changed(&old.standards, &new.standards, |s| {
            (s.metadata.name.as_deref(), &s.spec)
        });
        for before in gone {
            matchers.extend(CompiledStandard::new(before).compiled.ok().map(|(m, _)| m));
        }
        for i in came {
            matchers.extend(
                prepared.standards[i]
                    .compiled
                    .as_ref()
                    .ok()
                    .map(|(m, _)| m.clone()),
            );
        }
        let (gone, came) = changed(&old.baselines, &new.baselines, |b| {
            (b.metadata.name.as_deref(), &b.spec)
        });
        for before in gone {
            matchers.extend(CompiledBaseline::new(before).compiled.ok().map(|(m, ..)| m));
        }
        for i in came {
            matchers.extend(
                prepared.baselines[i]
                    .compiled
                    .as_ref()
                    .ok()
                    .map(|(m, ..)| m.clone()),
            );
        }
        Self {
            namespaces,
            matchers,
        }
    }

    /// Whether a change can affect this workload.
    fn hits(&self, w: &Workload, prepared: &Prepared<'_>) -> bool {
        if self.namespaces.contains(&w.namespace) {
            return true;
        }
        let labels = prepared.namespace_labels(&w.namespace);
        self.matchers.iter().any(|m| m.matches(w, labels))
    }
}

/// Objects whose spec changed, was added or removed: their old versions,
/// and the indexes of their new versions.
fn changed<'a, T, S: PartialEq + 'a>(
    old: &'a [T],
    new: &'a [T],
    parts: impl Fn(&'a T) -> (Option<&'a str>, &'a S),
) -> (Vec<&'a T>, Vec<usize>) {
    let before: HashMap<Option<&str>, &S> = old.iter().map(&parts).collect();
    let after: HashMap<Option<&str>, &S> = new.iter().map(&parts).collect();
    let gone = old
        .iter()
        .filter(|o| {
            let (name, spec) = parts(o);
            after.get(&name) != Some(&spec)
        })
        .collect();
    let came = new
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            let (name, spec) = parts(n);
            before.get(&name) != Some(&spec)
        })
        .map(|(i, _)| i)
        .collect();
    (gone, came)
}

/// Adds to `into` the namespace of every object (keyed by namespace and
/// name) that was added, removed or changed.
fn changed_in<'a, T: PartialEq + 'a>(
    old: impl Iterator<Item = ((String, String), &'a T)>,
    new: impl Iterator<Item = ((String, String), &'a T)>,
    into: &mut HashSet<String>,
) {
    let before: HashMap<(String, String), &T> = old.collect();
    let after: HashMap<(String, String), &T> = new.collect();
    for (key, value) in &before {
        if after.get(key) != Some(value) {
            into.insert(key.0.clone());
        }
    }
    for key in after.keys() {
        if !before.contains_key(key) {
            into.insert(key.0.clone());
        }
    }
}
