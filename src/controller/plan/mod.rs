//! What the cluster should hold after one evaluation: per output kind, one
//! module that turns the engine's verdicts into the desired objects that
//! differ from what the stores hold, and the Events their transitions raise.
//! Whether an object needs a write is decided here, once; the writer writes
//! what a plan holds and decides nothing. Pure: reads the stores and the
//! evaluation, never a client or a clock (the time is in `Context`).
//!
//! The admission policies are planned, and written, before the rest
//! (`admission`): a standard's status says whether the API server refused
//! its policy.

pub mod admission;
pub mod baseline;
pub mod events;
pub mod exception;
pub mod ownership;
pub mod report;
pub mod review;
pub mod standard;
#[cfg(test)]
mod tests;

use std::{borrow::Cow, collections::HashMap, marker::PhantomData};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::core::object::HasStatus;

use super::stores::Stores;
use crate::{
    admission::Generated,
    api::{
        InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException, StandardReview,
    },
    engine::{Evaluation, Inputs},
};
use events::Transition;

/// What planning a pass reads.
#[derive(Clone, Copy)]
pub struct Context<'i> {
    /// What the cluster holds, as the watches show it.
    pub stores: &'i Stores,
    /// What was evaluated (a snapshot of the stores).
    pub inputs: &'i Inputs,
    /// The verdicts.
    pub eval: &'i Evaluation,
    /// Per workload of `inputs`: whether its verdict was kept from the last pass.
    pub kept: &'i [bool],
    /// The time of the evaluation.
    pub now: Timestamp,
    /// How long before its expiry an exception in effect warns.
    pub expiry_warning: SignedDuration,
}

/// Every write a pass needs, but for the admission policies.
pub struct Plan<'i> {
    /// Reports to write and delete, and the Events of their transitions.
    pub reports: report::Reports<'i>,
    /// Standards' statuses.
    pub standards: Vec<Status<'i, InfrastructureStandard>>,
    /// Exceptions' statuses.
    pub exceptions: Vec<Status<'i, StandardException>>,
    /// Baselines' statuses.
    pub baselines: Vec<Status<'i, PatchBaseline>>,
    /// Ownerships' statuses.
    pub ownerships: Vec<Status<'i, ServiceOwnership>>,
    /// Reviews' statuses.
    pub reviews: Vec<Status<'i, StandardReview>>,
    /// Settled reviews to mark current again (by name and resourceVersion).
    pub promotions: Vec<review::Promotion>,
}

impl<'i> Plan<'i> {
    /// Plans every write of a pass. `generated` are the admission policies
    /// the standards ask for, and `refused` the API server's refusal of a
    /// standard's policy (by standard name), from writing them.
    pub fn new(
        cx: Context<'i>,
        built: &report::Built,
        generated: &[Generated],
        refused: &HashMap<String, String>,
    ) -> Self {
        let (reviews, promotions) = review::plan(cx);
        Self {
            reports: report::plan(cx, built),
            standards: standard::plan(cx, generated, refused),
            exceptions: exception::plan(cx),
            baselines: baseline::plan(cx),
            ownerships: ownership::plan(cx),
            reviews,
            promotions,
        }
    }

    /// Whether the plan writes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes() == 0
    }

    /// How many writes it plans.
    pub fn writes(&self) -> usize {
        self.reports.pending.len()
            + self.reports.deletes.len()
            + self.standards.len()
            + self.exceptions.len()
            + self.baselines.len()
            + self.ownerships.len()
            + self.reviews.len()
            + self.promotions.len()
    }
}

/// One object's desired status, which differs from the cluster's, and the
/// Events of reaching it.
pub struct Status<'a, K: HasStatus> {
    /// The object's name, namespace, uid and the resourceVersion it was read at.
    pub meta: Cow<'a, ObjectMeta>,
    /// Its status as it should be.
    pub desired: K::Status,
    /// What to raise once it is written.
    pub events: Vec<Transition>,
    kind: PhantomData<fn() -> K>,
}

impl<'a, K: HasStatus> Status<'a, K>
where
    K::Status: PartialEq,
{
    /// The write that brings `object`'s status to `desired`, or none when
    /// it holds that already.
    pub fn of(object: &'a K, desired: K::Status, events: Vec<Transition>) -> Option<Self>
    where
        K: kube::Resource,
    {
        Self::needed(
            Cow::Borrowed(object.meta()),
            object.status(),
            desired,
            events,
        )
    }

    /// The write to reach `desired`, or none when the cluster holds it already.
    pub fn needed(
        meta: Cow<'a, ObjectMeta>,
        current: Option<&K::Status>,
        desired: K::Status,
        events: Vec<Transition>,
    ) -> Option<Self> {
        (current != Some(&desired)).then_some(Self {
            meta,
            desired,
            events,
            kind: PhantomData,
        })
    }
}

/// The conditions of a status, or none.
fn conditions(c: Option<&Vec<Condition>>) -> &[Condition] {
    c.map_or(&[], Vec::as_slice)
}

/// A count for a status field.
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
