//! A review's status: whether it is its standard's current review, and,
//! once, what it recorded. A settled review the cache keeps slim (without
//! what it recorded) that becomes current again is only marked current.
//! No Events (its standard raises them). Pure.

use std::borrow::Cow;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Context, Status};
use crate::{
    api::{StandardReview, StandardReviewStatus},
    controller::conditions::{Desired, merge, reasons, types},
    engine::ReviewVerdict,
};

/// A settled review to mark current again: a later one was deleted. Its
/// watch event then brings it back into the cache whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promotion {
    /// The review.
    pub name: String,
    /// Its resourceVersion as the cache saw it.
    pub resource_version: Option<String>,
}

/// The reviews whose status must be written, and the settled reviews to
/// mark current.
pub fn plan(cx: Context<'_>) -> (Vec<Status<'_, StandardReview>>, Vec<Promotion>) {
    let mut statuses = Vec::new();
    let mut promotions = Vec::new();
    for (r, v) in cx.inputs.reviews.iter().zip(&cx.eval.reviews) {
        // The cache keeps the engine's model of a review, not the object:
        // its name and resourceVersion are what a write needs.
        let resource_version = cx.stores.reviews.resource_version("", &r.name).flatten();
        if r.slim {
            if v.current {
                promotions.push(Promotion {
                    name: r.name.clone(),
                    resource_version,
                });
            }
            continue;
        }
        let meta = ObjectMeta {
            name: Some(r.name.clone()),
            resource_version,
            ..Default::default()
        };
        let desired = status(v, &r.standard, r.status.as_ref(), cx.now);
        statuses.extend(Status::needed(
            Cow::Owned(meta),
            r.status.as_ref(),
            desired,
            Vec::new(),
        ));
    }
    (statuses, promotions)
}

/// The status of a review. `previous` is its status as the cluster holds
/// it: what was recorded once is kept as it is.
pub fn status(
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
