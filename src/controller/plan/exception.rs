//! An exception's status: its state, what it covers, and whether it
//! expires soon; and the Events of its expiry, invalidity and warning.
//! Pure.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::{
    Context, Status, conditions, count,
    events::{Transition, condition, reasons},
};
use crate::{
    api::{ExceptionState, StandardException, StandardExceptionStatus},
    controller::conditions::{Desired, merge, reasons as condition_reasons, types},
    engine::{ExceptionVerdict, verdict::sample},
};

/// The exceptions whose status must be written.
pub fn plan(cx: Context<'_>) -> Vec<Status<'_, StandardException>> {
    cx.inputs
        .exceptions
        .iter()
        .zip(&cx.eval.exceptions)
        .filter_map(|(e, v)| {
            let previous = conditions(e.status.as_ref().map(|st| &st.conditions));
            let desired = status(
                v,
                e.metadata.generation,
                previous,
                cx.now,
                cx.expiry_warning,
            );
            let events = events(e.status.as_ref(), &desired);
            Status::of(e, desired, events)
        })
        .collect()
}

/// The status of an exception.
pub fn status(
    v: &ExceptionVerdict,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
    warning: SignedDuration,
) -> StandardExceptionStatus {
    let invalid = v.state == ExceptionState::Invalid;
    let ready = if invalid && v.awaiting_workloads {
        // Not Stalled: the workload may be on its way (applied by the same
        // sync a moment later, or by another); kstatus keeps waiting.
        vec![Desired::new(
            types::READY,
            false,
            v.reason,
            v.message.clone(),
        )]
    } else if invalid {
        crate::controller::conditions::invalid(v.reason, &v.message)
    } else {
        vec![Desired::new(
            types::READY,
            true,
            condition_reasons::VALID,
            "the exception is valid",
        )]
    };
    let active = Desired::new(types::ACTIVE, v.in_effect(), v.reason, v.message.clone());
    let stale = Desired::new(
        types::STALE,
        v.state == ExceptionState::Stale,
        if v.state == ExceptionState::Stale {
            v.reason
        } else {
            condition_reasons::NEEDED_OR_INACTIVE
        },
        if v.state == ExceptionState::Stale {
            v.message.clone()
        } else {
            "it covers a deviation, or is not in effect".to_string()
        },
    );
    let expiring = if v.expiring_soon(now, warning) {
        Desired::new(
            types::EXPIRING_SOON,
            true,
            condition_reasons::EXPIRES_WITHIN_WARNING,
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
            condition_reasons::NOT_EXPIRING_SOON,
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

/// A duration for messages: whole days when it is whole days.
fn human(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs > 0 && secs % 86_400 == 0 {
        format!("{}-day", secs / 86_400)
    } else {
        format!("{d:#}")
    }
}

/// Events for an exception, from its status before and after.
pub fn events(
    previous: Option<&StandardExceptionStatus>,
    next: &StandardExceptionStatus,
) -> Vec<Transition> {
    let before = previous.and_then(|p| p.state);
    let message = || {
        condition(&next.conditions, types::ACTIVE)
            .map(|c| c.message.clone())
            .unwrap_or_default()
    };
    let soon = |conditions: &[Condition]| {
        crate::controller::conditions::is_true(conditions, types::EXPIRING_SOON)
    };
    let was_soon = previous.is_some_and(|p| soon(&p.conditions));
    if soon(&next.conditions) && !was_soon {
        let note = condition(&next.conditions, types::EXPIRING_SOON)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return vec![Transition::new(
            true,
            reasons::EXCEPTION_EXPIRING_SOON,
            note,
        )];
    }
    match next.state {
        Some(ExceptionState::Expired) if before != Some(ExceptionState::Expired) => {
            vec![Transition::new(true, reasons::EXCEPTION_EXPIRED, message())]
        }
        Some(ExceptionState::Invalid) if before != Some(ExceptionState::Invalid) => {
            vec![Transition::new(true, reasons::EXCEPTION_INVALID, message())]
        }
        _ => Vec::new(),
    }
}
