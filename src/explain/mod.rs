//! Why one workload gets its verdict, and what to change: every deviation
//! with its full text and fix, what admission would refuse or warn about,
//! the exceptions that cover it (and those that would, once approved), its
//! patch state and its owner with support lines and runbook. Pure: built
//! from the engine's inputs and evaluation, so `plumbline explain` (which
//! reads the cluster) and the dashboard (which reads the operator's memory)
//! say the same thing as the reports.

pub mod text;

use jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use crate::{
    admission,
    api::{
        ExceptionState, PatchState, Severity, WorkloadKind,
        ownership::{Maintainer, OnCall, SupportTier},
        standard::Enforcement,
    },
    engine::{self, Evaluation, Inputs, Owner, WorkloadVerdict},
};

/// The approver a hypothetical approval is given: no real user name can
/// be it (a colon and spaces), so no exception is taken as self-approved.
const HYPOTHETICAL_APPROVER: &str = "plumbline explain: if approved";

/// Everything said about one workload.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The instant the verdict holds at.
    pub evaluated_at: String,
    /// The workload's kind.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// No open deviation (excepted ones allowed).
    pub compliant: bool,
    /// The standards that match it, with its compliance to each.
    pub standards: Vec<StandardLine>,
    /// Every deviation, open ones first, most severe first.
    pub deviations: Vec<DeviationLine>,
    /// What admission does with it now.
    pub admission: Admission,
    /// The exceptions of its namespace that select it, whatever their state.
    pub exceptions: Vec<ExceptionLine>,
    /// Pending exceptions that would cover some of its open deviations once
    /// approved, with what they would cover.
    pub would_cover: Vec<WouldCover>,
    /// Its patch state, when a baseline applies.
    pub patch: Option<Patch>,
    /// Who owns it.
    pub owner: OwnerLine,
    /// Standards it follows that are deprecated: what to move to and when.
    pub deprecated: Vec<DeprecatedLine>,
}

/// A matching standard.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StandardLine {
    /// Its name.
    pub name: String,
    /// How it is enforced.
    pub enforcement: Enforcement,
    /// `Compliant`, `Excepted` or `Deviating`.
    pub compliance: &'static str,
}

/// One deviation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviationLine {
    /// The standard.
    pub standard: String,
    /// The rule's id.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// What the rule asks, as its description says.
    pub description: String,
    /// What is wrong and what to change.
    pub message: String,
    /// The exception that covers it, if one does.
    pub exception: Option<Covering>,
    /// What admission does about it.
    pub admission: AdmissionAction,
    /// Why admission does not check it, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_note: Option<String>,
}

/// The exception covering a deviation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Covering {
    /// Its name (in the workload's namespace).
    pub name: String,
    /// When it expires; the deviation is open again from then.
    pub expires_at: String,
}

/// What admission does about one deviation of a workload created or changed now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AdmissionAction {
    /// Refused (the standard is `Enforce`).
    Refuse,
    /// Admitted with a warning (the standard is `Warn`).
    Warn,
    /// Admitted: an exception covers it.
    Excepted,
    /// Recorded in the report only: the standard is `Audit`.
    Audit,
    /// Not checked at admission (it needs other objects, or the rule cannot
    /// be evaluated there identically); the report records it.
    Background,
    /// The namespace is never judged at admission.
    Exempt,
}

/// Admission's verdict, as a developer applying the workload now would meet it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Admission {
    /// The request would be refused.
    pub refused: bool,
    /// The refused rules, as `standard/rule`.
    pub refusals: Vec<String>,
    /// The rules it would warn about, as `standard/rule`.
    pub warnings: Vec<String>,
    /// Why admission does not judge it at all, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt: Option<String>,
}

/// An exception that selects the workload.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionLine {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: ExceptionState,
    /// The state in words, with what to do.
    pub message: String,
    /// When it expires.
    pub expires_at: String,
    /// What it waives: a standard (with its rules, or all) or a baseline.
    pub target: String,
    /// Who asked for it.
    pub requested_by: String,
    /// Who approved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// A pending exception and what it would cover once approved.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WouldCover {
    /// Its name.
    pub name: String,
    /// Who asked for it.
    pub requested_by: String,
    /// The open deviations it would cover, as `standard/rule`.
    pub deviations: Vec<String>,
    /// When it would expire.
    pub expires_at: String,
}

/// The workload's patch state.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    /// The worst state of its images.
    pub state: PatchState,
    /// The earliest deadline of an image that is behind or overdue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// One line per container image a baseline applies to.
    pub images: Vec<ImageLine>,
}

/// One image under a baseline.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageLine {
    /// The container.
    pub container: String,
    /// The image as written.
    pub image: String,
    /// The baseline.
    pub baseline: String,
    /// The rollout ring the workload is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring: Option<String>,
    /// The least version.
    pub minimum_version: String,
    /// Its state.
    pub state: PatchState,
    /// Its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Who owns the workload.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerLine {
    /// `Owned`, `Orphan` or `Conflict`.
    pub state: &'static str,
    /// What is wrong and what to do (orphans and conflicts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The ServiceOwnerships that select it.
    pub service_ownerships: Vec<String>,
    /// The owner's details, when exactly one owns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

/// The owning service, from its ServiceOwnership.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// The owning team.
    pub team: String,
    /// People who can run and fix it.
    pub maintainers: Vec<Maintainer>,
    /// First, second and third line.
    pub support_tiers: Vec<SupportTier>,
    /// On-call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_call: Option<OnCall>,
    /// Where incidents escalate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    /// The runbook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// The source repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// What the ServiceOwnership still lacks (too few maintainers, no runbook…).
    pub gaps: Vec<String>,
}

/// A deprecated standard the workload is held to.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeprecatedLine {
    /// The standard.
    pub standard: String,
    /// Its successor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// When it stops being evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sunset: Option<String>,
}

/// What admission checks of each standard, in input order (see
/// `admission::generate_all`), with CEL rules the API server accepts (the
/// operator knows which it refused; a reader of the cluster does not).
pub fn coverage(inputs: &Inputs, eval: &Evaluation) -> Vec<admission::Coverage> {
    admission::generate_all(inputs, eval, &admission::Options::default(), eval.at)
        .into_iter()
        .map(|g| g.coverage)
        .collect()
}

/// The same inputs with every exception not yet approved approved by
/// someone other than its requester: evaluating them shows what approval
/// would change (an invalid or expired one stays without effect, as it
/// would once approved). `None` when every exception is approved.
pub fn approving_pending(inputs: &Inputs) -> Option<Inputs> {
    let unapproved = |e: &crate::api::StandardException| {
        e.spec
            .approved_by
            .as_deref()
            .is_none_or(|a| a.trim().is_empty())
    };
    if !inputs.exceptions.iter().any(unapproved) {
        return None;
    }
    let mut approved = inputs.clone();
    for e in approved.exceptions.iter_mut().filter(|e| unapproved(e)) {
        e.spec.approved_by = Some(HYPOTHETICAL_APPROVER.into());
    }
    Some(approved)
}

/// What an exception waives, in words: a standard (its rules, or all) or a
/// baseline (its images, or all).
pub fn waives(e: &crate::api::StandardException) -> String {
    let t = &e.spec.target;
    match (&t.standard, &t.patch_baseline) {
        (Some(s), _) => match &t.rules {
            Some(rules) => format!("standard {s}, rules {}", rules.join(", ")),
            None => format!("standard {s}, every rule"),
        },
        (None, Some(b)) => match &t.images {
            Some(images) => format!("baseline {b}, images {}", images.join(", ")),
            None => format!("baseline {b}, every image"),
        },
        (None, None) => String::new(),
    }
}

/// What admission is set up with, as far as an explanation needs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Setup<'a> {
    /// Namespaces no generated policy matches besides the system ones (the
    /// operator's own: `admission::Options::also_exempt`).
    pub also_exempt: &'a [String],
}

/// Explains workload `index` of `inputs`, from their evaluation `eval`, the
/// admission coverage of every standard (`coverage`), and the evaluation of
/// `approving_pending` of them, if any.
pub fn build(
    inputs: &Inputs,
    eval: &Evaluation,
    coverage: &[admission::Coverage],
    if_approved: Option<&Evaluation>,
    index: usize,
    setup: Setup<'_>,
) -> Explanation {
    let w = &inputs.workloads[index];
    let v = &eval.workloads[index];
    let at = eval.at;
    let exempt = admission::policy::exempt_namespaces(setup.also_exempt).contains(&w.namespace);
    let mut deviations: Vec<DeviationLine> = v
        .deviations
        .iter()
        .map(|d| {
            let si = inputs
                .standards
                .iter()
                .position(|s| s.name_any() == *d.standard);
            let standard = si.map(|i| &inputs.standards[i]);
            let description = standard
                .and_then(|s| s.spec.rules.iter().find(|r| r.id == *d.rule))
                .map(|r| r.description.clone())
                .unwrap_or_default();
            let cov = si.and_then(|i| coverage.get(i));
            let (action, note) = admission_action(cov, &d.rule, d.exception.is_some(), exempt);
            DeviationLine {
                standard: d.standard.to_string(),
                rule: d.rule.to_string(),
                severity: d.severity,
                description,
                message: d.message.to_string(),
                exception: d.exception.as_ref().map(|name| Covering {
                    name: name.clone(),
                    expires_at: exception_verdict(eval, &w.namespace, name)
                        .map(|e| e.expires_at.to_string())
                        .unwrap_or_default(),
                }),
                admission: action,
                admission_note: note,
            }
        })
        .collect();
    deviations.sort_by(|a, b| {
        (
            a.exception.is_some(),
            std::cmp::Reverse(a.severity),
            &a.standard,
            &a.rule,
        )
            .cmp(&(
                b.exception.is_some(),
                std::cmp::Reverse(b.severity),
                &b.standard,
                &b.rule,
            ))
    });
    let key = |d: &DeviationLine| format!("{}/{}", d.standard, d.rule);
    let admission = Admission {
        refused: deviations
            .iter()
            .any(|d| d.admission == AdmissionAction::Refuse),
        refusals: deviations
            .iter()
            .filter(|d| d.admission == AdmissionAction::Refuse)
            .map(key)
            .collect(),
        warnings: deviations
            .iter()
            .filter(|d| d.admission == AdmissionAction::Warn)
            .map(key)
            .collect(),
        exempt: exempt.then(|| {
            format!(
                "namespace {} is never judged at admission (a system namespace, or the operator's own)",
                w.namespace
            )
        }),
    };
    Explanation {
        evaluated_at: at.to_string(),
        kind: w.kind,
        namespace: w.namespace.clone(),
        name: w.name.clone(),
        compliant: v.open_deviations().next().is_none(),
        standards: standards(inputs, v),
        exceptions: exceptions(inputs, eval, w),
        would_cover: would_cover(
            inputs,
            &w.namespace,
            v,
            if_approved.map(|e| &e.workloads[index]),
        ),
        patch: patch(v),
        owner: owner(inputs, eval, &v.owner),
        deprecated: v
            .deprecated
            .iter()
            .map(|d| DeprecatedLine {
                standard: d.standard.to_string(),
                superseded_by: d.superseded_by.as_deref().map(str::to_string),
                sunset: d.sunset.map(|t| t.to_string()),
            })
            .collect(),
        deviations,
        admission,
    }
}

fn admission_action(
    coverage: Option<&admission::Coverage>,
    rule: &str,
    excepted: bool,
    exempt: bool,
) -> (AdmissionAction, Option<String>) {
    let Some(c) = coverage else {
        return (AdmissionAction::Background, None);
    };
    if c.enforcement == Enforcement::Audit {
        return (AdmissionAction::Audit, None);
    }
    if exempt {
        return (AdmissionAction::Exempt, None);
    }
    if let Some(n) = c.background.iter().find(|n| n.rule == rule) {
        return (AdmissionAction::Background, Some(n.reason.clone()));
    }
    if !c.enforced.iter().any(|r| r == rule) {
        // Invalid or retired standards generate nothing.
        return (AdmissionAction::Background, None);
    }
    if excepted {
        return (AdmissionAction::Excepted, None);
    }
    match c.enforcement {
        Enforcement::Enforce => (AdmissionAction::Refuse, None),
        _ => (AdmissionAction::Warn, None),
    }
}

fn exception_verdict<'e>(
    eval: &'e Evaluation,
    namespace: &str,
    name: &str,
) -> Option<&'e engine::ExceptionVerdict> {
    eval.exceptions
        .iter()
        .find(|e| e.namespace == namespace && e.name == name)
}

fn standards(inputs: &Inputs, v: &WorkloadVerdict) -> Vec<StandardLine> {
    v.standards
        .iter()
        .map(|(i, c)| StandardLine {
            name: inputs.standards[*i].name_any(),
            enforcement: inputs.standards[*i].spec.enforcement,
            compliance: match c {
                engine::Compliance::Compliant => "Compliant",
                engine::Compliance::Excepted => "Excepted",
                engine::Compliance::Deviating => "Deviating",
            },
        })
        .collect()
}

fn exceptions(inputs: &Inputs, eval: &Evaluation, w: &engine::Workload) -> Vec<ExceptionLine> {
    inputs
        .exceptions
        .iter()
        .zip(&eval.exceptions)
        .filter(|(_, v)| {
            v.namespace == w.namespace
                && v.covered
                    .iter()
                    .any(|c| c.kind == w.kind && c.name == w.name)
        })
        .map(|(e, v)| ExceptionLine {
            name: v.name.clone(),
            state: v.state,
            message: v.message.clone(),
            expires_at: v.expires_at.to_string(),
            target: waives(e),
            requested_by: e.spec.requested_by.clone(),
            approved_by: e.spec.approved_by.clone(),
        })
        .collect()
}

/// The pending exceptions that would cover an open deviation (or excuse an
/// image) of a workload: its verdict `now`, and `approved` with every
/// pending exception approved (see `approving_pending`).
pub fn would_cover(
    inputs: &Inputs,
    namespace: &str,
    now: &WorkloadVerdict,
    approved: Option<&WorkloadVerdict>,
) -> Vec<WouldCover> {
    let Some(approved) = approved else {
        return Vec::new();
    };
    let mut out: Vec<WouldCover> = Vec::new();
    let find = |name: &str| {
        inputs.exceptions.iter().find(|e| {
            e.metadata.name.as_deref() == Some(name)
                && e.metadata.namespace.as_deref() == Some(namespace)
        })
    };
    let add = |out: &mut Vec<WouldCover>, name: &str, what: String| match out
        .iter_mut()
        .find(|w| w.name == name)
    {
        Some(w) => w.deviations.push(what),
        None => {
            let e = find(name);
            out.push(WouldCover {
                name: name.to_string(),
                requested_by: e.map(|e| e.spec.requested_by.clone()).unwrap_or_default(),
                expires_at: e
                    .map(|e| e.spec.expires_at.0.to_string())
                    .unwrap_or_default(),
                deviations: vec![what],
            });
        }
    };
    for d in &approved.deviations {
        let Some(name) = &d.exception else { continue };
        let open_now = now
            .open_deviations()
            .any(|o| o.standard == d.standard && o.rule == d.rule);
        if !open_now {
            continue;
        }
        add(&mut out, name, format!("{}/{}", d.standard, d.rule));
    }
    // Images a pending baseline exception would excuse: the newly Excepted
    // ones, by the pending exceptions of their baseline that select it.
    for (before, after) in now.patch.iter().zip(&approved.patch) {
        if after.state != PatchState::Excepted || before.state == PatchState::Excepted {
            continue;
        }
        for name in &now.selected_by {
            let targets_it = find(name).is_some_and(|e| {
                e.spec.target.patch_baseline.as_deref() == Some(before.baseline.as_str())
            });
            if targets_it {
                add(
                    &mut out,
                    name,
                    format!("patch {}: {}", before.baseline, before.image),
                );
            }
        }
    }
    out
}

fn patch(v: &WorkloadVerdict) -> Option<Patch> {
    let state = v.patch_state?;
    Some(Patch {
        state,
        due: v.patch_due.map(|t| t.to_string()),
        images: v
            .patch
            .iter()
            .map(|p| ImageLine {
                container: p.container.clone(),
                image: p.image.clone(),
                baseline: p.baseline.clone(),
                ring: p.ring.clone(),
                minimum_version: p.minimum_version.clone(),
                state: p.state,
                due: p.due.map(|t| t.to_string()),
                reason: p.reason.clone(),
            })
            .collect(),
    })
}

fn owner(inputs: &Inputs, eval: &Evaluation, owner: &Owner) -> OwnerLine {
    match owner {
        Owner::Owned(info) => {
            let so = inputs.ownerships.iter().find(|o| {
                o.metadata.name.as_deref() == Some(info.name.as_str())
                    && o.metadata.namespace.as_deref() == Some(info.namespace.as_str())
            });
            let gaps = eval
                .ownerships
                .iter()
                .find(|o| o.namespace == info.namespace && o.name == info.name)
                .map(|o| o.findings.iter().map(|f| f.message.clone()).collect())
                .unwrap_or_default();
            OwnerLine {
                state: "Owned",
                problem: None,
                service_ownerships: vec![info.name.clone()],
                service: so.map(|so| {
                    let s = &so.spec;
                    Service {
                        team: s.team.clone(),
                        maintainers: s.maintainers.clone(),
                        support_tiers: s.support_tiers.clone(),
                        on_call: s.on_call.clone(),
                        escalation: s.escalation.clone(),
                        runbook: s.runbook.clone(),
                        repository: s.repository.clone(),
                        gaps,
                    }
                }),
            }
        }
        Owner::Orphan => OwnerLine {
            state: "Orphan",
            problem: owner.problem(),
            service_ownerships: Vec::new(),
            service: None,
        },
        Owner::Conflict(names) => OwnerLine {
            state: "Conflict",
            problem: owner.problem(),
            service_ownerships: names.clone(),
            service: None,
        },
    }
}

/// Evaluates `inputs` at `at` and explains workload `index`, with what
/// approving the pending exceptions would change: the whole pipeline of
/// `plumbline explain`, pure.
pub fn explain(inputs: &Inputs, at: Timestamp, index: usize, setup: Setup<'_>) -> Explanation {
    let eval = engine::evaluate(inputs, at);
    let coverage = coverage(inputs, &eval);
    let approved = approving_pending(inputs).map(|i| engine::evaluate(&i, at));
    build(inputs, &eval, &coverage, approved.as_ref(), index, setup)
}
