//! A patch baseline's status: its totals per state and ring, and which
//! workloads are overdue. No Events of its own (overdue workloads raise
//! theirs, or a summary on the baseline). Pure.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::{Context, Status, conditions, count};
use crate::{
    api::{PatchBaseline, PatchBaselineStatus},
    controller::conditions::{Desired, merge, reasons, types, validity},
    engine::BaselineVerdict,
};

/// The baselines whose status must be written.
pub fn plan(cx: Context<'_>) -> Vec<Status<'_, PatchBaseline>> {
    cx.inputs
        .baselines
        .iter()
        .zip(&cx.eval.baselines)
        .filter_map(|(b, v)| {
            let previous = conditions(b.status.as_ref().map(|st| &st.conditions));
            let images = b.spec.images.len();
            let desired = status(v, images, b.metadata.generation, previous, cx.now);
            Status::of(b, desired, Vec::new())
        })
        .collect()
}

/// The status of a patch baseline.
pub fn status(
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
