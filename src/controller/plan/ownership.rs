//! A service ownership's status: how many workloads it owns, its conflicts
//! with other ownerships, and what it lacks. No Events. Pure.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::{Context, Status, conditions};
use crate::{
    api::{ServiceOwnership, ServiceOwnershipStatus, common::Sample, ownership::OwnershipFinding},
    controller::conditions::{Desired, merge, reasons, types, validity},
    engine::OwnershipVerdict,
};

/// The ownerships whose status must be written.
pub fn plan(cx: Context<'_>) -> Vec<Status<'_, ServiceOwnership>> {
    cx.inputs
        .ownerships
        .iter()
        .zip(&cx.eval.ownerships)
        .filter_map(|(o, v)| {
            let previous = conditions(o.status.as_ref().map(|st| &st.conditions));
            let desired = status(v, o.metadata.generation, previous, cx.now);
            Status::of(o, desired, Vec::new())
        })
        .collect()
}

/// The status of a service ownership.
pub fn status(
    v: &OwnershipVerdict,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> ServiceOwnershipStatus {
    let complete = if v.complete() {
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
