//! What the dashboard's pages show, computed from one snapshot of the
//! operator's state (its inputs and their evaluation). Pure: no I/O, no
//! clock (the snapshot's instant is the time), no HTML.

use std::{
    collections::{BTreeMap, HashMap},
    sync::OnceLock,
};

use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;

use crate::{
    admission::Coverage,
    api::{ExceptionState, PatchState, Severity, WorkloadKind, standard::Enforcement},
    engine::{self, Evaluation, Inputs, Owner},
    explain,
};

/// How many items a list on a page shows before saying how many more.
pub const LIST_CAP: usize = 50;

/// How many workloads a namespace's page lists (most open deviations first).
pub const NAMESPACE_CAP: usize = 500;

/// The operator's state after one pass, as the dashboard reads it.
#[derive(Debug)]
pub struct Snapshot {
    /// The instant it was evaluated at.
    pub at: Timestamp,
    /// How long before expiry an exception counts as expiring.
    pub expiry_warning: SignedDuration,
    /// What was evaluated.
    pub inputs: Inputs,
    /// The verdicts.
    pub eval: Evaluation,
    /// What admission checks of each standard, in input order.
    pub coverage: Vec<Coverage>,
    /// Namespaces admission never judges besides the system ones.
    pub also_exempt: Vec<String>,
    index: OnceLock<HashMap<(String, WorkloadKind, String), usize>>,
    overview: OnceLock<Overview>,
    scorecard: OnceLock<Scorecard>,
}

impl Snapshot {
    /// A snapshot of one pass; the pages' figures are computed on first view.
    pub fn new(
        inputs: Inputs,
        eval: Evaluation,
        coverage: Vec<Coverage>,
        expiry_warning: SignedDuration,
        also_exempt: Vec<String>,
    ) -> Self {
        Self {
            at: eval.at,
            expiry_warning,
            inputs,
            eval,
            coverage,
            also_exempt,
            index: OnceLock::new(),
            overview: OnceLock::new(),
            scorecard: OnceLock::new(),
        }
    }

    /// The workload's position in the inputs.
    pub fn find(&self, namespace: &str, kind: WorkloadKind, name: &str) -> Option<usize> {
        self.index
            .get_or_init(|| {
                self.inputs
                    .workloads
                    .iter()
                    .enumerate()
                    .map(|(i, w)| ((w.namespace.clone(), w.kind, w.name.clone()), i))
                    .collect()
            })
            .get(&(namespace.to_string(), kind, name.to_string()))
            .copied()
    }

    /// The overview's figures.
    pub fn overview(&self) -> &Overview {
        self.overview.get_or_init(|| Overview::new(self))
    }

    /// The scorecards' figures.
    pub fn scorecard(&self) -> &Scorecard {
        self.scorecard.get_or_init(|| Scorecard::new(self))
    }

    /// Workload `index` explained: the explanation `plumbline explain`
    /// prints, with what approving its pending exceptions would cover
    /// (evaluated for this workload alone, so that a page costs one
    /// workload's evaluation, not the cluster's).
    pub fn explain(&self, index: usize) -> explain::Explanation {
        let setup = explain::Setup {
            also_exempt: &self.also_exempt,
        };
        let mut e = explain::build(&self.inputs, &self.eval, &self.coverage, None, index, setup);
        let alone = self.alone(index);
        if let Some(approved) = explain::approving_pending(&alone) {
            let approved = engine::evaluate(&approved, self.at);
            e.would_cover = explain::would_cover(
                &alone,
                &self.inputs.workloads[index].namespace,
                &self.eval.workloads[index],
                Some(&approved.workloads[0]),
            );
        }
        e
    }

    /// The inputs of one workload: it, and its namespace's objects.
    fn alone(&self, index: usize) -> Inputs {
        let w = &self.inputs.workloads[index];
        let ns = w.namespace.as_str();
        let i = &self.inputs;
        let here = |n: Option<&str>| engine::namespace_or_default(n) == ns;
        Inputs {
            workloads: vec![w.clone()],
            namespaces: i
                .namespaces
                .iter()
                .filter(|n| n.name == ns)
                .cloned()
                .collect(),
            budgets: i
                .budgets
                .iter()
                .filter(|b| b.namespace == ns)
                .cloned()
                .collect(),
            standards: i.standards.clone(),
            exceptions: i
                .exceptions
                .iter()
                .filter(|e| here(e.metadata.namespace.as_deref()))
                .cloned()
                .collect(),
            baselines: i.baselines.clone(),
            ownerships: i
                .ownerships
                .iter()
                .filter(|o| here(o.metadata.namespace.as_deref()))
                .cloned()
                .collect(),
            reviews: Vec::new(),
        }
    }
}

/// A workload named on a page.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkloadLink {
    /// Its namespace.
    pub namespace: String,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
}

impl WorkloadLink {
    fn of(w: &engine::Workload) -> Self {
        Self {
            namespace: w.namespace.clone(),
            kind: w.kind,
            name: w.name.clone(),
        }
    }

    /// Its page.
    pub fn href(&self) -> String {
        format!("/workloads/{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// A bar of three parts, as percentages of its whole.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bar {
    /// Compliant.
    pub compliant: f64,
    /// Excepted.
    pub excepted: f64,
    /// Deviating.
    pub deviating: f64,
}

impl Bar {
    fn new(compliant: i32, excepted: i32, deviating: i32) -> Self {
        let total = f64::from((compliant + excepted + deviating).max(1));
        let pct = |n: i32| (f64::from(n) * 1000.0 / total).round() / 10.0;
        Self {
            compliant: pct(compliant),
            excepted: pct(excepted),
            deviating: pct(deviating),
        }
    }
}

/// A standard on the overview.
#[derive(Clone, Debug)]
pub struct StandardRow {
    /// Its name.
    pub name: String,
    /// How it is enforced.
    pub enforcement: Enforcement,
    /// Why its spec is invalid, if it is.
    pub error: Option<String>,
    /// Workloads it matches.
    pub matched: i32,
    /// Of those, compliant without exceptions.
    pub compliant: i32,
    /// Compliant through exceptions.
    pub excepted: i32,
    /// With an open deviation.
    pub deviating: i32,
    /// Active exceptions to it.
    pub active_exceptions: i32,
    /// The bar.
    pub bar: Bar,
}

/// A rule with many deviations.
#[derive(Clone, Debug)]
pub struct RuleRow {
    /// The standard.
    pub standard: String,
    /// The rule's id.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// Open deviations.
    pub deviating: i32,
    /// Deviations covered by exceptions.
    pub excepted: i32,
}

/// A standard that needs review.
#[derive(Clone, Debug)]
pub struct ReviewRow {
    /// The standard.
    pub standard: String,
    /// Why (a CamelCase reason).
    pub reason: String,
    /// What to do.
    pub message: String,
}

/// An exception close to its expiry.
#[derive(Clone, Debug)]
pub struct ExpiringRow {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What it waives.
    pub target: String,
    /// When it expires.
    pub expires_at: String,
    /// How many workloads it covers.
    pub covered: usize,
}

/// One rollout ring of a baseline.
#[derive(Clone, Debug)]
pub struct RingRow {
    /// The ring.
    pub name: String,
    /// Its deadline after an image's effective date.
    pub deadline: String,
    /// Workloads current, behind, overdue, excepted, unknown.
    pub current: i32,
    /// Behind.
    pub behind: i32,
    /// Overdue.
    pub overdue: i32,
    /// Excepted.
    pub excepted: i32,
    /// Unknown.
    pub unknown: i32,
}

/// A baseline with its rings in order.
#[derive(Clone, Debug)]
pub struct BaselineRow {
    /// Its name.
    pub name: String,
    /// Why its spec is invalid, if it is.
    pub error: Option<String>,
    /// Its rings, in the spec's order.
    pub rings: Vec<RingRow>,
}

/// A ServiceOwnership that is incomplete or invalid.
#[derive(Clone, Debug)]
pub struct GapRow {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its team.
    pub team: String,
    /// What it lacks.
    pub gaps: Vec<String>,
}

/// The overview page.
#[derive(Clone, Debug, Default)]
pub struct Overview {
    /// Workloads judged.
    pub workloads: usize,
    /// With no open deviation (excepted ones included).
    pub compliant: usize,
    /// With an open deviation.
    pub deviating: usize,
    /// Open deviations.
    pub open_deviations: usize,
    /// Each standard, by name.
    pub standards: Vec<StandardRow>,
    /// The rules with the most open deviations, most first.
    pub top_rules: Vec<RuleRow>,
    /// Standards needing review.
    pub reviews: Vec<ReviewRow>,
    /// Exceptions within the warning window of their expiry, soonest first
    /// (the first `LIST_CAP`).
    pub expiring: Vec<ExpiringRow>,
    /// How many more expire within the window.
    pub expiring_omitted: usize,
    /// Each baseline with its rings.
    pub baselines: Vec<BaselineRow>,
    /// How many workloads no ServiceOwnership selects.
    pub orphans: usize,
    /// The first of them, sorted.
    pub orphan_sample: Vec<WorkloadLink>,
    /// How many workloads several ServiceOwnerships select.
    pub conflicts: usize,
    /// Incomplete or invalid ServiceOwnerships (the first `LIST_CAP`).
    pub gaps: Vec<GapRow>,
    /// How many more there are.
    pub gaps_omitted: usize,
}

/// `part` of `whole` in whole percent, rounded down; 100 of nothing.
pub fn percent(part: usize, whole: usize) -> u32 {
    (part * 100).checked_div(whole).map_or(100, |p| p as u32)
}

/// A duration as people say it: 7d, 36h, 90m.
pub fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s > 0 && s.is_multiple_of(3_600) {
        format!("{}h", s / 3_600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

impl Overview {
    fn new(s: &Snapshot) -> Self {
        let (inputs, eval) = (&s.inputs, &s.eval);
        let mut o = Overview {
            workloads: inputs.workloads.len(),
            ..Default::default()
        };
        let mut orphans = Vec::new();
        for (w, v) in inputs.workloads.iter().zip(&eval.workloads) {
            let open = v.open_deviations().count();
            o.open_deviations += open;
            if open > 0 {
                o.deviating += 1;
            } else {
                o.compliant += 1;
            }
            match v.owner {
                Owner::Orphan => orphans.push(WorkloadLink::of(w)),
                Owner::Conflict(_) => o.conflicts += 1,
                Owner::Owned(_) => {}
            }
        }
        o.orphans = orphans.len();
        orphans.sort();
        orphans.truncate(LIST_CAP);
        o.orphan_sample = orphans;

        for (std, v) in inputs.standards.iter().zip(&eval.standards) {
            o.standards.push(StandardRow {
                name: v.name.clone(),
                enforcement: std.spec.enforcement,
                error: v.error.clone(),
                matched: v.matched,
                compliant: v.compliant,
                excepted: v.excepted,
                deviating: v.deviating,
                active_exceptions: v.exceptions.active + v.exceptions.stale,
                bar: Bar::new(v.compliant, v.excepted, v.deviating),
            });
            for r in &v.rules {
                if r.deviating == 0 {
                    continue;
                }
                let severity = std
                    .spec
                    .rules
                    .iter()
                    .find(|x| x.id == r.id)
                    .map_or(Severity::Low, |x| x.severity);
                o.top_rules.push(RuleRow {
                    standard: v.name.clone(),
                    rule: r.id.clone(),
                    severity,
                    deviating: r.deviating,
                    excepted: r.excepted,
                });
            }
            if v.review.required {
                o.reviews.push(ReviewRow {
                    standard: v.name.clone(),
                    reason: v.review.reason.to_string(),
                    message: v.review.message.clone(),
                });
            }
        }
        o.standards.sort_by(|a, b| a.name.cmp(&b.name));
        o.top_rules.sort_by(|a, b| {
            (b.deviating, b.severity, &a.standard, &a.rule).cmp(&(
                a.deviating,
                a.severity,
                &b.standard,
                &b.rule,
            ))
        });
        o.top_rules.truncate(10);
        o.reviews.sort_by(|a, b| a.standard.cmp(&b.standard));

        let mut expiring: Vec<(Timestamp, ExpiringRow)> = inputs
            .exceptions
            .iter()
            .zip(&eval.exceptions)
            .filter(|(_, v)| v.expiring_soon(s.at, s.expiry_warning))
            .map(|(e, v)| {
                (
                    v.expires_at,
                    ExpiringRow {
                        namespace: v.namespace.clone(),
                        name: v.name.clone(),
                        target: explain::waives(e),
                        expires_at: v.expires_at.to_string(),
                        covered: v.covered.len(),
                    },
                )
            })
            .collect();
        expiring.sort_by(|a, b| {
            (a.0, &a.1.namespace, &a.1.name).cmp(&(b.0, &b.1.namespace, &b.1.name))
        });
        o.expiring_omitted = expiring.len().saturating_sub(LIST_CAP);
        o.expiring = expiring
            .into_iter()
            .take(LIST_CAP)
            .map(|(_, r)| r)
            .collect();

        for (b, v) in inputs.baselines.iter().zip(&eval.baselines) {
            let rings = v
                .rings
                .iter()
                .map(|r| RingRow {
                    name: r.name.clone(),
                    deadline: b
                        .spec
                        .rings
                        .iter()
                        .find(|x| x.name == r.name)
                        .map(|x| human(std::time::Duration::from(x.deadline)))
                        .unwrap_or_default(),
                    current: r.counts.current,
                    behind: r.counts.behind,
                    overdue: r.counts.overdue,
                    excepted: r.counts.excepted,
                    unknown: r.counts.unknown,
                })
                .collect();
            o.baselines.push(BaselineRow {
                name: v.name.clone(),
                error: v.error.clone(),
                rings,
            });
        }
        o.baselines.sort_by(|a, b| a.name.cmp(&b.name));

        for (so, v) in inputs.ownerships.iter().zip(&eval.ownerships) {
            if v.error.is_none() && v.findings.is_empty() {
                continue;
            }
            let mut gaps: Vec<String> = v.error.iter().cloned().collect();
            gaps.extend(v.findings.iter().map(|f| f.message.clone()));
            o.gaps.push(GapRow {
                namespace: v.namespace.clone(),
                name: v.name.clone(),
                team: so.spec.team.clone(),
                gaps,
            });
        }
        o.gaps
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        o.gaps_omitted = o.gaps.len().saturating_sub(LIST_CAP);
        o.gaps.truncate(LIST_CAP);
        o
    }
}

/// One row of a scorecard: a namespace or a team.
#[derive(Clone, Debug, Default)]
pub struct ScoreRow {
    /// The namespace or team.
    pub name: String,
    /// Teams owning workloads here (namespaces), or namespaces (teams).
    pub related: Vec<String>,
    /// Workloads.
    pub workloads: usize,
    /// Without an open deviation.
    pub compliant: usize,
    /// With one.
    pub deviating: usize,
    /// Open deviations by severity, most severe first.
    pub by_severity: Vec<(Severity, usize)>,
    /// Orphans.
    pub orphans: usize,
    /// Workloads with an overdue patch.
    pub overdue: usize,
    /// The share of workloads without an open deviation, 0 to 100.
    pub score: u32,
    /// The rules with the most open deviations here, as `standard/rule`, with counts.
    pub top_issues: Vec<(String, usize)>,
}

#[derive(Default)]
struct Tally {
    workloads: usize,
    compliant: usize,
    orphans: usize,
    overdue: usize,
    severities: BTreeMap<Severity, usize>,
    rules: HashMap<(String, String), usize>,
    related: std::collections::BTreeSet<String>,
}

impl Tally {
    fn row(self, name: String) -> ScoreRow {
        let mut top: Vec<(String, usize)> = self
            .rules
            .into_iter()
            .map(|((s, r), n)| (format!("{s}/{r}"), n))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(3);
        ScoreRow {
            name,
            related: self.related.into_iter().collect(),
            workloads: self.workloads,
            compliant: self.compliant,
            deviating: self.workloads - self.compliant,
            by_severity: self.severities.into_iter().rev().collect(),
            orphans: self.orphans,
            overdue: self.overdue,
            score: percent(self.compliant, self.workloads),
            top_issues: top,
        }
    }
}

/// The scorecards: per namespace and per owning team, worst score first.
#[derive(Clone, Debug, Default)]
pub struct Scorecard {
    /// Per namespace.
    pub namespaces: Vec<ScoreRow>,
    /// Per owning team (orphans under "no owner").
    pub teams: Vec<ScoreRow>,
}

/// The team of workloads no ServiceOwnership selects.
pub const NO_OWNER: &str = "(no owner)";

impl Scorecard {
    fn new(s: &Snapshot) -> Self {
        let mut namespaces: BTreeMap<String, Tally> = BTreeMap::new();
        let mut teams: BTreeMap<String, Tally> = BTreeMap::new();
        for (w, v) in s.inputs.workloads.iter().zip(&s.eval.workloads) {
            let team = match &v.owner {
                Owner::Owned(info) => info.team.clone(),
                Owner::Orphan => NO_OWNER.to_string(),
                Owner::Conflict(_) => "(conflict)".to_string(),
            };
            for (key, related, map) in [
                (&w.namespace, &team, &mut namespaces),
                (&team, &w.namespace, &mut teams),
            ] {
                let t = map.entry(key.clone()).or_default();
                t.workloads += 1;
                t.related.insert(related.clone());
                let mut open = 0;
                for d in v.open_deviations() {
                    open += 1;
                    *t.severities.entry(d.severity).or_default() += 1;
                    *t.rules
                        .entry((d.standard.to_string(), d.rule.to_string()))
                        .or_default() += 1;
                }
                if open == 0 {
                    t.compliant += 1;
                }
                if matches!(v.owner, Owner::Orphan) {
                    t.orphans += 1;
                }
                if v.patch_state == Some(PatchState::Overdue) {
                    t.overdue += 1;
                }
            }
        }
        let rank = |mut rows: Vec<ScoreRow>| {
            rows.sort_by(|a, b| a.score.cmp(&b.score).then_with(|| a.name.cmp(&b.name)));
            rows
        };
        Scorecard {
            namespaces: rank(namespaces.into_iter().map(|(k, t)| t.row(k)).collect()),
            teams: rank(teams.into_iter().map(|(k, t)| t.row(k)).collect()),
        }
    }
}

/// One workload in a namespace's list.
#[derive(Clone, Debug)]
pub struct WorkloadRow {
    /// The workload.
    pub link: WorkloadLink,
    /// Open deviations.
    pub open: usize,
    /// Deviations covered by exceptions.
    pub excepted: usize,
    /// Its patch state.
    pub patch: Option<PatchState>,
    /// Its owner's team, or what is wrong.
    pub owner: String,
}

/// A namespace's workloads on its page.
#[derive(Clone, Debug, Default)]
pub struct NamespaceRows {
    /// The first `NAMESPACE_CAP`, most open deviations first.
    pub workloads: Vec<WorkloadRow>,
    /// How many more.
    pub omitted: usize,
}

/// A namespace's workloads, most open deviations first.
pub fn namespace(s: &Snapshot, ns: &str) -> NamespaceRows {
    let mut rows: Vec<WorkloadRow> = s
        .inputs
        .workloads
        .iter()
        .zip(&s.eval.workloads)
        .filter(|(w, _)| w.namespace == ns)
        .map(|(w, v)| {
            let open = v.open_deviations().count();
            WorkloadRow {
                link: WorkloadLink::of(w),
                open,
                excepted: v.deviations.len() - open,
                patch: v.patch_state,
                owner: match &v.owner {
                    Owner::Owned(info) => info.team.clone(),
                    Owner::Orphan => "orphan".into(),
                    Owner::Conflict(_) => "conflict".into(),
                },
            }
        })
        .collect();
    rows.sort_by(|a, b| b.open.cmp(&a.open).then_with(|| a.link.cmp(&b.link)));
    let omitted = rows.len().saturating_sub(NAMESPACE_CAP);
    rows.truncate(NAMESPACE_CAP);
    NamespaceRows {
        workloads: rows,
        omitted,
    }
}

/// A rule on a standard's page.
#[derive(Clone, Debug)]
pub struct StandardRule {
    /// Its id.
    pub id: String,
    /// Its severity.
    pub severity: Severity,
    /// What it asks.
    pub description: String,
    /// Open deviations.
    pub deviating: i32,
    /// Covered by exceptions.
    pub excepted: i32,
    /// What admission does with it.
    pub admission: String,
}

/// An exception on a standard's page.
#[derive(Clone, Debug)]
pub struct StandardExceptionRow {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: ExceptionState,
    /// The rules it waives.
    pub rules: String,
    /// When it expires.
    pub expires_at: String,
    /// Workloads it selects.
    pub covered: usize,
}

/// A standard's page.
#[derive(Clone, Debug)]
pub struct StandardPage {
    /// The overview's row for it.
    pub row: StandardRow,
    /// Its description.
    pub description: String,
    /// Its lifecycle stage.
    pub stage: String,
    /// Its rules with counts.
    pub rules: Vec<StandardRule>,
    /// The exceptions that target it (the first `LIST_CAP`).
    pub exceptions: Vec<StandardExceptionRow>,
    /// How many more target it.
    pub exceptions_omitted: usize,
    /// Whether it needs review, and why.
    pub review_required: bool,
    /// The review state in words.
    pub review_message: String,
    /// The migration view of a deprecated standard: successor, sunset,
    /// matched and migrated workloads.
    pub migration: Option<(String, String, i32, i32)>,
    /// A sample of deviating workloads, with how many are left out.
    pub deviating: Vec<WorkloadLink>,
    /// How many deviating workloads the sample leaves out.
    pub deviating_omitted: i32,
}

/// The page of standard `name`, if there is one.
pub fn standard(s: &Snapshot, name: &str) -> Option<StandardPage> {
    let i = s
        .inputs
        .standards
        .iter()
        .position(|x| x.name_any() == name)?;
    let std = &s.inputs.standards[i];
    let v = &s.eval.standards[i];
    let row = s
        .overview()
        .standards
        .iter()
        .find(|r| r.name == name)?
        .clone();
    let coverage = s.coverage.get(i);
    let rules = std
        .spec
        .rules
        .iter()
        .map(|r| {
            let counts = v.rules.iter().find(|c| c.id == r.id);
            let admission = match coverage {
                _ if std.spec.enforcement == Enforcement::Audit => {
                    "recorded only (Audit)".to_string()
                }
                Some(c) if c.enforced.contains(&r.id) => {
                    format!("{:?} at admission", std.spec.enforcement)
                }
                Some(c) => c
                    .background
                    .iter()
                    .find(|n| n.rule == r.id)
                    .map(|n| format!("background only: {}", n.reason))
                    .unwrap_or_else(|| "background only".into()),
                None => "background only".into(),
            };
            StandardRule {
                id: r.id.clone(),
                severity: r.severity,
                description: r.description.clone(),
                deviating: counts.map_or(0, |c| c.deviating),
                excepted: counts.map_or(0, |c| c.excepted),
                admission,
            }
        })
        .collect();
    let mut exceptions: Vec<StandardExceptionRow> = s
        .inputs
        .exceptions
        .iter()
        .zip(&s.eval.exceptions)
        .filter(|(e, _)| e.spec.target.standard.as_deref() == Some(name))
        .map(|(e, x)| StandardExceptionRow {
            namespace: x.namespace.clone(),
            name: x.name.clone(),
            state: x.state,
            rules: e
                .spec
                .target
                .rules
                .as_ref()
                .map_or_else(|| "every rule".to_string(), |r| r.join(", ")),
            expires_at: x.expires_at.to_string(),
            covered: x.covered.len(),
        })
        .collect();
    exceptions.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let exceptions_omitted = exceptions.len().saturating_sub(LIST_CAP);
    exceptions.truncate(LIST_CAP);
    let deviating = v
        .deviations
        .items
        .iter()
        .map(|d| WorkloadLink {
            namespace: d.workload.namespace.clone(),
            kind: d.workload.kind,
            name: d.workload.name.clone(),
        })
        .collect();
    Some(StandardPage {
        description: std.spec.description.clone().unwrap_or_default(),
        stage: format!("{:?}", v.stage),
        rules,
        exceptions,
        exceptions_omitted,
        review_required: v.review.required,
        review_message: v.review.message.clone(),
        migration: v.migration.as_ref().map(|m| {
            (
                m.superseded_by.clone().unwrap_or_default(),
                m.sunset.map(|t| t.to_string()).unwrap_or_default(),
                m.matched,
                m.migrated,
            )
        }),
        deviating,
        deviating_omitted: v.deviations.omitted,
        row,
    })
}
