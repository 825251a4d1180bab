//! A standard's status: its counts, samples, review state, lifecycle and
//! migration, whether admission enforces it (and whether the API server
//! refused its policy), and the Events of its review and sunset
//! transitions. Pure.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;

use super::{
    Context, Status, conditions,
    events::{Transition, condition, reasons},
};
use crate::{
    admission::{Coverage, Generated},
    api::{
        InfrastructureStandard,
        standard::{Enforcement, InfrastructureStandardStatus, Stage},
    },
    controller::conditions::{
        Desired, invalid, merge, reasons as condition_reasons, types, validity,
    },
    engine::{StandardVerdict, review::Class},
};

/// The standards whose status must be written. A standard whose current
/// review is being promoted waits a pass (its review state is in flux).
pub fn plan<'i>(
    cx: Context<'i>,
    generated: &[Generated],
    refused: &HashMap<String, String>,
) -> Vec<Status<'i, InfrastructureStandard>> {
    cx.inputs
        .standards
        .iter()
        .zip(&cx.eval.standards)
        .zip(generated)
        .filter(|((_, v), _)| !v.review.waiting)
        .filter_map(|((s, v), g)| {
            let previous = conditions(s.status.as_ref().map(|st| &st.conditions));
            let refused = refused.get(&s.name_any()).map(String::as_str);
            let enforced = enforced(&g.coverage, refused);
            let desired = status(v, enforced, s.metadata.generation, previous, cx.now);
            let events = events(s.status.as_ref(), &desired);
            Status::of(s, desired, events)
        })
        .collect()
}

/// The `Enforced` condition of a standard: which of its rules the API
/// server checks at admission, which only the background evaluation does,
/// and why. `refused` is the API server's answer to a policy it refused.
pub fn enforced(coverage: &Coverage, refused: Option<&str>) -> Desired {
    if coverage.retired {
        return Desired::new(
            types::ENFORCED,
            false,
            condition_reasons::RETIRED,
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
                condition_reasons::AUDIT,
                "enforcement is Audit: deviations are reported, nothing is refused or warned about at admission",
            );
        }
    };
    if coverage.invalid {
        return Desired::new(
            types::ENFORCED,
            false,
            condition_reasons::INVALID_SPEC,
            "the spec is invalid (see Ready): nothing is checked at admission until it is fixed",
        );
    }
    if let Some(err) = refused {
        return Desired::new(
            types::ENFORCED,
            false,
            condition_reasons::POLICY_REFUSED,
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
            condition_reasons::NO_RULES,
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
        Desired::new(types::ENFORCED, true, condition_reasons::ALL_RULES, message)
    } else {
        message.push_str(&format!(
            "; in the background only: {}",
            background.join("; ")
        ));
        Desired::new(
            types::ENFORCED,
            true,
            condition_reasons::SOME_RULES,
            message,
        )
    }
}

/// The status of a standard.
pub fn status(
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
        (Some(e), _, _) => invalid(condition_reasons::INVALID_SPEC, e),
        (None, Some(e), _) => invalid(
            condition_reasons::INVALID_SUCCESSOR,
            &format!("{e} (the standard is still evaluated and enforced meanwhile)"),
        ),
        (None, None, Stage::Retired) => vec![Desired::new(
            types::READY,
            true,
            condition_reasons::RETIRED,
            "the standard is retired: it is no longer evaluated or enforced, and no report lists it",
        )],
        (None, None, _) if !v.rule_errors.is_empty() => invalid(
            condition_reasons::INVALID_RULE,
            &format!(
                "{} (the other rules are still evaluated and enforced)",
                v.rule_errors.join("; ")
            ),
        ),
        (None, None, _) if !v.warnings.is_empty() => vec![Desired::new(
            types::READY,
            true,
            condition_reasons::RULE_ALWAYS_FAILS,
            v.warnings.join("; "),
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

/// Events for a standard, from its status before and after: one per change
/// of its review state (required, due, reviewed, cleared) or of its review,
/// and one when a Deprecated standard passes its sunset.
pub fn events(
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
