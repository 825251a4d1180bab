//! Builds what the cluster should hold from the engine's verdicts: one
//! ComplianceReport per workload, and the status of every standard,
//! exception, baseline and ownership. Pure: no client, no clock (the time is
//! passed in), and given the previous status it returns an identical value
//! when nothing changed, so the writer can skip the write.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference, Time};

use super::{
    conditions::{Desired, merge, reasons, types},
    seen::SeenReport,
};
use crate::{
    admission::{Coverage, policy::MANAGED_BY},
    api::{
        ComplianceReport, ComplianceReportSpec, ComplianceReportStatus, ExceptionState,
        PatchBaselineStatus, PatchState, ServiceOwnershipStatus, StandardExceptionStatus,
        StandardReviewStatus,
        common::Sample,
        ownership::OwnershipFinding,
        report::{
            ExceptedRule, ImagePatch, OwnerSummary, PatchReport, ReportedWorkload,
            StandardDeviations,
        },
        standard::{Enforcement, InfrastructureStandardStatus, Stage},
    },
    engine::{
        BaselineVerdict, ExceptionVerdict, Owner, OwnershipVerdict, ReviewVerdict, StandardVerdict,
        Workload, WorkloadVerdict, ownership::DEFAULT_MIN_MAINTAINERS, verdict::sample,
    },
};

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
    let compliant = if !open.is_empty() {
        let worst = open[0];
        Desired::new(
            types::COMPLIANT,
            false,
            reasons::DEVIATING,
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
    } else if v.deviations.is_empty() {
        Desired::new(
            types::COMPLIANT,
            true,
            reasons::COMPLIANT,
            if v.standards.is_empty() {
                "no standard applies".to_string()
            } else {
                format!("follows all {} standards that apply", v.standards.len())
            },
        )
    } else {
        let by: Vec<&str> = v
            .deviations
            .iter()
            .filter_map(|d| d.exception.as_deref())
            .collect();
        Desired::new(
            types::COMPLIANT,
            true,
            reasons::EXCEPTED,
            format!(
                "{} deviation{} covered by exceptions: {}",
                v.deviations.len(),
                if v.deviations.len() == 1 { "" } else { "s" },
                dedup(by).join(", ")
            ),
        )
    };
    let patch = match v.patch_state {
        None => Desired::new(
            types::PATCH_CURRENT,
            true,
            reasons::NO_BASELINE,
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
                format!("{state:?}"),
                if state == PatchState::Current {
                    "every image meets its baselines".into()
                } else {
                    worst
                },
            )
        }
    };
    let owned = match &v.owner {
        Owner::Owned(o) => {
            let gaps = o.gaps(DEFAULT_MIN_MAINTAINERS);
            Desired::new(
                types::OWNED,
                true,
                reasons::OWNED,
                // What an incomplete ownership lacks is in its own status.
                if gaps.is_empty() {
                    format!("team {} (ServiceOwnership {})", o.team, o.name)
                } else {
                    format!("team {} (ServiceOwnership {}, incomplete)", o.team, o.name)
                },
            )
        }
        Owner::Orphan => Desired::new(
            types::OWNED,
            false,
            reasons::ORPHAN,
            "no ServiceOwnership selects it: create one in its namespace whose selector matches its labels",
        ),
        Owner::Conflict(names) => Desired::new(
            types::OWNED,
            false,
            reasons::CONFLICT,
            format!(
                "several ServiceOwnerships select it ({}): narrow their selectors so exactly one does",
                names.join(", ")
            ),
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
        patch: v.patch_state.map(|state| PatchReport {
            state,
            due: v.patch_due.map(Time),
            images: v.patch.iter().map(ImagePatch::from).collect(),
        }),
        owner: match &v.owner {
            Owner::Owned(o) => Some(OwnerSummary {
                service_ownership: o.name.clone(),
                team: o.team.clone(),
                complete: o.gaps(DEFAULT_MIN_MAINTAINERS).is_empty(),
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

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `Ready`, and `Stalled` while the spec is invalid: the conditions that
/// say whether an object's spec is valid.
fn validity(error: &Option<String>) -> Vec<Desired> {
    match error {
        None => vec![Desired::new(
            types::READY,
            true,
            reasons::VALID,
            "the spec is valid and evaluated",
        )],
        Some(e) => invalid(reasons::INVALID_SPEC, e),
    }
}

/// `Ready=False` and `Stalled=True`, with the reason and what to fix.
fn invalid(reason: &str, message: &str) -> Vec<Desired> {
    vec![
        Desired::new(types::READY, false, reason, message),
        Desired::new(types::STALLED, true, reason, message),
    ]
}

/// The `Enforced` condition of a standard: which of its rules the API
/// server checks at admission, which only the background evaluation does,
/// and why. `refused` is the API server's answer to a policy it refused.
pub fn enforced(coverage: &Coverage, refused: Option<&str>) -> Desired {
    if coverage.retired {
        return Desired::new(
            types::ENFORCED,
            false,
            reasons::RETIRED,
            "the standard is retired: nothing is checked at admission",
        );
    }
    let verb = match coverage.enforcement {
        Enforcement::Enforce => "refused",
        Enforcement::Warn => "warned about",
        Enforcement::Audit => {
            return Desired::new(
                types::ENFORCED,
                false,
                reasons::AUDIT,
                "enforcement is Audit: deviations are reported, nothing is refused or warned about at admission",
            );
        }
    };
    if coverage.invalid {
        return Desired::new(
            types::ENFORCED,
            false,
            reasons::INVALID_SPEC,
            "the spec is invalid (see Ready): nothing is checked at admission until it is fixed",
        );
    }
    if let Some(err) = refused {
        return Desired::new(
            types::ENFORCED,
            false,
            reasons::POLICY_REFUSED,
            format!("the API server refused the generated ValidatingAdmissionPolicy: {err}"),
        );
    }
    let background: Vec<String> = coverage
        .background
        .iter()
        .map(|n| format!("{} ({})", n.rule, n.reason))
        .collect();
    if coverage.enforced.is_empty() {
        return Desired::new(
            types::ENFORCED,
            false,
            reasons::NO_RULES,
            format!(
                "no rule can be checked at admission; in the background only: {}",
                background.join("; ")
            ),
        );
    }
    let mut message = format!(
        "deviations are {verb} at admission for rules {}",
        coverage.enforced.join(", ")
    );
    if background.is_empty() {
        Desired::new(types::ENFORCED, true, reasons::ALL_RULES, message)
    } else {
        message.push_str(&format!(
            "; in the background only: {}",
            background.join("; ")
        ));
        Desired::new(types::ENFORCED, true, reasons::SOME_RULES, message)
    }
}

/// The status of a standard.
pub fn standard_status(
    v: &StandardVerdict,
    enforced: Desired,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> InfrastructureStandardStatus {
    let review = Desired::new(
        types::REVIEW_REQUIRED,
        v.review.required,
        v.review.reason,
        v.review.message.clone(),
    );
    let ready = match (&v.error, &v.lifecycle_error, v.stage) {
        (Some(e), _, _) => invalid(reasons::INVALID_SPEC, e),
        (None, Some(e), _) => invalid(
            reasons::INVALID_SUCCESSOR,
            &format!("{e} (the standard is still evaluated and enforced meanwhile)"),
        ),
        (None, None, Stage::Retired) => vec![Desired::new(
            types::READY,
            true,
            reasons::RETIRED,
            "the standard is retired: it is no longer evaluated or enforced, and no report lists it",
        )],
        (None, None, _) => validity(&None),
    };
    InfrastructureStandardStatus {
        conditions: merge(
            previous,
            [ready, vec![review, enforced]].concat(),
            generation,
            now,
        ),
        observed_generation: generation,
        matched: v.matched,
        compliant: v.compliant,
        deviating: v.deviating,
        excepted: v.excepted,
        rules: v.rules.clone(),
        exceptions: v.exceptions.clone(),
        deviations: v.deviations.clone(),
        stage: Some(v.stage),
        review: v.review.current.as_ref().map(Into::into),
        migration: v.migration.as_ref().map(Into::into),
    }
}

/// The status of a review. `previous` is its status as the cluster holds
/// it: what was recorded once is kept as it is.
pub fn review_status(
    v: &ReviewVerdict,
    standard: &str,
    previous: Option<&StandardReviewStatus>,
    now: Timestamp,
) -> StandardReviewStatus {
    let (recorded, reason, message) = if v.replaced {
        (
            false,
            reasons::STANDARD_REPLACED,
            format!(
                "recorded for an earlier InfrastructureStandard `{standard}`, deleted since: it does not count for the standard of that name now"
            ),
        )
    } else if !v.standard_exists {
        (
            false,
            reasons::UNKNOWN_STANDARD,
            format!(
                "there is no InfrastructureStandard `{standard}`: correct spec.standard in a new review (this one takes effect if the standard appears)"
            ),
        )
    } else if v.current {
        (
            true,
            reasons::CURRENT_REVIEW,
            format!("recorded: the current review of standard {standard}"),
        )
    } else {
        (
            true,
            reasons::SUPERSEDED,
            format!("recorded: a later review of standard {standard} supersedes it"),
        )
    };
    let ready = Desired::new(types::READY, recorded, reason, message);
    let (recorded_exceptions, recorded_at) = v.record.clone().unzip();
    StandardReviewStatus {
        conditions: merge(
            previous.map_or(&[][..], |p| &p.conditions),
            vec![ready],
            Some(1),
            now,
        ),
        observed_generation: Some(1),
        current: Some(v.current),
        // What was recorded once stays as the cluster holds it.
        exceptions: previous
            .and_then(|p| p.exceptions.clone())
            .or(recorded_exceptions),
        at_review: previous.and_then(|p| p.at_review.clone()).or(recorded_at),
    }
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
            reasons::DEPRECATED_STANDARD,
            format!(
                "runs on a deprecated standard: {}",
                deprecated.iter().map(words).collect::<Vec<_>>().join("; ")
            ),
        )
    } else {
        Desired::new(
            types::STANDARDS_SUPPORTED,
            false,
            reasons::SUNSET_PASSED,
            format!("past the sunset of: {}", passed.join("; ")),
        )
    })
}

/// The status of an exception.
pub fn exception_status(
    v: &ExceptionVerdict,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
    warning: SignedDuration,
) -> StandardExceptionStatus {
    let invalid = v.state == ExceptionState::Invalid;
    let ready = if invalid && v.reason == crate::engine::exception::SELECTS_NOTHING {
        // Not Stalled: the workload may be on its way (applied by the same
        // sync a moment later, or by another); kstatus keeps waiting.
        vec![Desired::new(
            types::READY,
            false,
            v.reason,
            v.message.clone(),
        )]
    } else if invalid {
        self::invalid(v.reason, &v.message)
    } else {
        vec![Desired::new(
            types::READY,
            true,
            reasons::VALID,
            "the exception is valid",
        )]
    };
    let active = Desired::new(
        types::ACTIVE,
        v.state == ExceptionState::Active || v.state == ExceptionState::Stale,
        v.reason,
        v.message.clone(),
    );
    let stale = Desired::new(
        types::STALE,
        v.state == ExceptionState::Stale,
        if v.state == ExceptionState::Stale {
            v.reason
        } else {
            "NeededOrInactive"
        },
        if v.state == ExceptionState::Stale {
            v.message.clone()
        } else {
            "it covers a deviation, or is not in effect".to_string()
        },
    );
    let expiring = if in_effect(v.state) && now >= expiry_warning_at(v.expires_at, warning) {
        Desired::new(
            types::EXPIRING_SOON,
            true,
            reasons::EXPIRES_WITHIN_WARNING,
            format!(
                "expires at {}, within the {} warning window: fix the workloads, or have a new exception approved",
                v.expires_at,
                human(warning)
            ),
        )
    } else {
        Desired::new(
            types::EXPIRING_SOON,
            false,
            reasons::NOT_EXPIRING_SOON,
            "not in effect, or expires after the warning window",
        )
    };
    StandardExceptionStatus {
        conditions: merge(
            previous,
            [ready, vec![active, stale, expiring]].concat(),
            generation,
            now,
        ),
        observed_generation: generation,
        state: Some(v.state),
        covered: count(v.covered.len()),
        workloads: sample(v.covered.clone()),
    }
}

/// Whether an exception in this state is in effect (and so can expire).
pub fn in_effect(state: ExceptionState) -> bool {
    matches!(state, ExceptionState::Active | ExceptionState::Stale)
}

/// When the expiry warning of an exception starts.
pub fn expiry_warning_at(expires_at: Timestamp, warning: SignedDuration) -> Timestamp {
    expires_at.checked_sub(warning).unwrap_or(Timestamp::MIN)
}

/// A duration for messages: whole days when it is whole days.
fn human(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs > 0 && secs % 86_400 == 0 {
        format!("{}-day", secs / 86_400)
    } else {
        format!("{d:#}")
    }
}

/// The status of a patch baseline.
pub fn baseline_status(
    v: &BaselineVerdict,
    images: usize,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> PatchBaselineStatus {
    let overdue = if v.totals.overdue > 0 {
        Desired::new(
            types::OVERDUE,
            true,
            reasons::WORKLOADS_OVERDUE,
            format!(
                "{} workloads are past their ring's deadline",
                v.totals.overdue
            ),
        )
    } else {
        Desired::new(
            types::OVERDUE,
            false,
            reasons::NONE_OVERDUE,
            "no workload is past its deadline",
        )
    };
    PatchBaselineStatus {
        conditions: merge(
            previous,
            [validity(&v.error), vec![overdue]].concat(),
            generation,
            now,
        ),
        observed_generation: generation,
        images: count(images),
        totals: v.totals.clone(),
        rings: v.rings.clone(),
        overdue: v.overdue.clone(),
    }
}

/// The status of a service ownership.
pub fn ownership_status(
    v: &OwnershipVerdict,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> ServiceOwnershipStatus {
    let complete = if v.findings.is_empty() {
        Desired::new(
            types::COMPLETE,
            true,
            reasons::COMPLETE,
            "nothing is missing",
        )
    } else {
        Desired::new(
            types::COMPLETE,
            false,
            if v.findings.len() == 1 {
                v.findings[0].reason
            } else {
                reasons::INCOMPLETE
            },
            v.findings
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    };
    ServiceOwnershipStatus {
        conditions: merge(
            previous,
            [validity(&v.error), vec![complete]].concat(),
            generation,
            now,
        ),
        observed_generation: generation,
        matched: v.matched,
        conflicts: Sample {
            items: v.conflicts.items.clone(),
            omitted: v.conflicts.omitted,
        },
        findings: v
            .findings
            .iter()
            .map(|f| OwnershipFinding {
                reason: f.reason.into(),
                message: f.message.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit() -> Desired {
        enforced(
            &Coverage {
                enforcement: Enforcement::Audit,
                invalid: false,
                retired: false,
                enforced: Vec::new(),
                background: Vec::new(),
            },
            None,
        )
    }
    use crate::{
        audit::load::{Loaded, Source, Take},
        engine::{Evaluation, evaluate},
    };

    const YAML: &str = r#"
apiVersion: plumbline.dev/v1alpha1
kind: InfrastructureStandard
metadata: {name: ready, generation: 4}
spec:
  rules:
  - {id: replicas, severity: High, description: d, replicas: {minimum: 2}}
  review: {maxActiveExceptions: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: 1234-abcd, generation: 7}
spec:
  replicas: 1
  template: {spec: {containers: [{name: c, image: "nginx:1.27.3"}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, uid: 5678-efgh}
spec:
  replicas: 1
  template: {spec: {containers: [{name: c, image: "nginx:1.27.3"}]}}
---
apiVersion: plumbline.dev/v1alpha1
kind: StandardException
metadata: {name: api-single, namespace: shop}
spec:
  target: {standard: ready}
  workloads: {names: [{kind: Deployment, name: api}]}
  justification: one replica for now
  requestedBy: alice
  approvedBy: bob
  expiresAt: "2027-01-01T00:00:00Z"
"#;

    fn evaluated(now: &str) -> (Loaded, Evaluation) {
        let mut loaded = Loaded::default();
        loaded.add(
            &Source {
                name: "t.yaml".into(),
                text: YAML.into(),
                json: false,
            },
            Take::All,
        );
        assert!(loaded.malformed.is_empty(), "{:?}", loaded.malformed);
        let eval = evaluate(&loaded.inputs, now.parse().unwrap());
        (loaded, eval)
    }

    fn condition<'a>(c: &'a [Condition], t: &str) -> &'a Condition {
        c.iter()
            .find(|c| c.type_ == t)
            .unwrap_or_else(|| panic!("no {t} condition"))
    }

    #[test]
    fn a_deviating_workload_gets_a_report_it_owns_saying_what_to_fix() {
        let (loaded, eval) = evaluated("2026-11-24T12:00:00Z");
        let r = report(
            &loaded.inputs.workloads[0],
            &eval.workloads[0],
            None,
            eval.at,
        );
        assert_eq!(r.metadata.name.as_deref(), Some("deployment-web"));
        assert_eq!(r.metadata.namespace.as_deref(), Some("shop"));
        let owner = &r.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Deployment", "1234-abcd")
        );
        let status = r.status.unwrap();
        let compliant = condition(&status.conditions, types::COMPLIANT);
        assert_eq!(compliant.status, "False");
        assert_eq!(compliant.reason, reasons::DEVIATING);
        assert!(
            compliant.message.contains("ready/replicas"),
            "{}",
            compliant.message
        );
        // The workload's generation; no observedGeneration of the report's own.
        assert_eq!(status.workload_generation, Some(7));
        assert_eq!(compliant.observed_generation, None);
        assert_eq!(
            condition(&status.conditions, types::OWNED).reason,
            reasons::ORPHAN
        );
        assert_eq!(
            condition(&status.conditions, types::PATCH_CURRENT).reason,
            reasons::NO_BASELINE
        );
        assert_eq!(status.deviation_count, 1);
    }

    #[test]
    fn an_excepted_workload_is_compliant_with_reason_excepted() {
        let (loaded, eval) = evaluated("2026-11-24T12:00:00Z");
        let r = report(
            &loaded.inputs.workloads[1],
            &eval.workloads[1],
            None,
            eval.at,
        );
        let status = r.status.unwrap();
        let c = condition(&status.conditions, types::COMPLIANT);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", reasons::EXCEPTED)
        );
        assert!(c.message.contains("api-single"));
        assert_eq!(
            status.deviations[0]
                .excepted
                .first()
                .map(|e| e.exception.as_str()),
            Some("api-single")
        );
    }

    #[test]
    fn the_same_verdict_later_builds_an_identical_status() {
        let (loaded, eval) = evaluated("2026-11-24T12:00:00Z");
        let first = report(
            &loaded.inputs.workloads[0],
            &eval.workloads[0],
            None,
            eval.at,
        );
        let (loaded2, later) = evaluated("2026-11-25T12:00:00Z");
        let second = report(
            &loaded2.inputs.workloads[0],
            &later.workloads[0],
            Some(&SeenReport::new(&first)),
            later.at,
        );
        assert_eq!(
            first, second,
            "nothing changed, so nothing is to be written"
        );
        assert_eq!(
            crate::controller::seen::digest(&first),
            SeenReport::new(&second).digest,
            "and the writer sees that from what it keeps"
        );

        let s1 = standard_status(&eval.standards[0], audit(), Some(4), &[], eval.at);
        let s2 = standard_status(
            &later.standards[0],
            audit(),
            Some(4),
            &s1.conditions,
            later.at,
        );
        assert_eq!(s1, s2);
    }

    #[test]
    fn expiry_flips_the_report_and_moves_the_transition_time() {
        let (loaded, before) = evaluated("2026-12-31T23:59:59Z");
        let r1 = report(
            &loaded.inputs.workloads[1],
            &before.workloads[1],
            None,
            before.at,
        );
        let (_, after) = evaluated("2027-01-01T00:00:00Z");
        let r2 = report(
            &loaded.inputs.workloads[1],
            &after.workloads[1],
            Some(&SeenReport::new(&r1)),
            after.at,
        );
        let c = condition(&r2.status.as_ref().unwrap().conditions, types::COMPLIANT).clone();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", reasons::DEVIATING)
        );
        assert_eq!(c.last_transition_time, Time(after.at));
    }

    #[test]
    fn review_required_follows_the_threshold() {
        let (_, eval) = evaluated("2026-11-24T12:00:00Z");
        let s = standard_status(&eval.standards[0], audit(), Some(4), &[], eval.at);
        let review = condition(&s.conditions, types::REVIEW_REQUIRED);
        assert_eq!(review.status, "True");
        assert_eq!(review.reason, "ActiveExceptionsAtThreshold");
        assert_eq!(condition(&s.conditions, types::READY).status, "True");
        assert_eq!(s.observed_generation, Some(4));
        let e = exception_status(&eval.exceptions[0], None, &[], eval.at, WEEK);
        assert_eq!(e.state, Some(ExceptionState::Active));
        assert_eq!(condition(&e.conditions, types::ACTIVE).status, "True");
    }

    const WEEK: SignedDuration = SignedDuration::from_hours(7 * 24);

    #[test]
    fn expiring_soon_starts_exactly_when_the_warning_window_does() {
        let (_, eval) = evaluated("2026-11-24T12:00:00Z");
        let v = &eval.exceptions[0];
        let left = eval.at.duration_until(v.expires_at);
        let second = SignedDuration::from_secs(1);
        let outside = exception_status(v, None, &[], eval.at, left - second);
        let c = condition(&outside.conditions, types::EXPIRING_SOON);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", reasons::NOT_EXPIRING_SOON)
        );
        assert!(super::super::transitions::exception(None, &outside).is_empty());

        let inside = exception_status(v, None, &outside.conditions, eval.at, left);
        let c = condition(&inside.conditions, types::EXPIRING_SOON);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", reasons::EXPIRES_WITHIN_WARNING)
        );
        assert!(
            c.message.contains(&v.expires_at.to_string()),
            "{}",
            c.message
        );
        let events = super::super::transitions::exception(Some(&outside), &inside);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "ExceptionExpiringSoon");
        assert!(
            super::super::transitions::exception(Some(&inside), &inside).is_empty(),
            "warned once"
        );
        assert_eq!(
            expiry_warning_at(v.expires_at, left),
            eval.at,
            "the loop wakes exactly when the window opens"
        );
    }

    #[test]
    fn long_names_are_shortened_stably() {
        let (loaded, _) = evaluated("2026-11-24T12:00:00Z");
        let mut w = (*loaded.inputs.workloads[0]).clone();
        w.name = "x".repeat(253);
        let a = report_name(&w);
        assert_eq!(a.len(), 253);
        assert_eq!(a, report_name(&w));
        w.name.push('y');
        assert_ne!(a, report_name(&w));
    }

    #[test]
    fn invalid_specs_are_stalled_but_an_exception_waiting_for_its_workload_is_not() {
        let verdict = |reason: &'static str| ExceptionVerdict {
            namespace: "ns".into(),
            name: "e".into(),
            state: ExceptionState::Invalid,
            reason,
            message: format!("{reason}: what to fix"),
            covered: Vec::new(),
            expires_at: "2027-01-01T00:00:00Z".parse().unwrap(),
            in_force: false,
        };
        let at: Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
        let has = |c: &[Condition], t: &str, status: &str| {
            c.iter().any(|c| c.type_ == t && c.status == status)
        };
        // An edit is needed: Ready=False and Stalled=True (kstatus: Failed).
        let e = exception_status(&verdict("RequesterApproved"), Some(1), &[], at, WEEK);
        assert!(has(&e.conditions, types::READY, "False"));
        assert!(has(&e.conditions, types::STALLED, "True"));
        // The workload may be on its way: not Stalled (kstatus: in progress).
        let e = exception_status(
            &verdict(crate::engine::exception::SELECTS_NOTHING),
            Some(1),
            &[],
            at,
            WEEK,
        );
        assert!(has(&e.conditions, types::READY, "False"));
        assert!(!e.conditions.iter().any(|c| c.type_ == types::STALLED));
        // A valid one has no Stalled condition at all.
        let s = standard_status(
            &StandardVerdict {
                name: "s".into(),
                error: Some("spec.rules[0]: what to fix".into()),
                ..Default::default()
            },
            audit(),
            Some(2),
            &[],
            at,
        );
        assert!(has(&s.conditions, types::STALLED, "True"));
        assert!(
            s.conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
    }
}
