//! Pure evaluation: workloads × standards × exceptions × baselines ×
//! ownership → verdicts. No I/O, no clock of its own (the time is an input),
//! no kube client. Shared by the controller and the offline audit, so both
//! give the same verdict on the same objects.

pub mod cel;
pub mod checks;
pub mod containers;
mod evaluate;
pub mod exception;
pub mod findings;
pub mod image;
pub mod incremental;
pub mod judged;
mod matcher;
pub mod ownership;
pub mod patch;
pub mod review;
pub mod selector;
pub mod standard;
pub mod verdict;
pub mod workload;

pub use evaluate::{Prepared, evaluate};
pub use incremental::{Incremental, Pass};
pub use ownership::Owner;
pub use verdict::*;
pub use workload::{DisruptionBudget, Namespace, Source, Workload};

use std::sync::Arc;

use crate::api::{InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException};

/// The namespace of a namespaced object; `default` when a manifest names
/// none, as `kubectl apply` would place it.
pub fn namespace_or_default(namespace: Option<&str>) -> String {
    namespace.unwrap_or("default").to_string()
}

/// Problems in a spec that the API server's validation cannot catch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A label selector that cannot be compiled.
    #[error("{at}: {reason}")]
    InvalidSelector {
        /// The field.
        at: String,
        /// Why.
        reason: String,
    },
    /// A regular expression that cannot be compiled.
    #[error("{at}: `{pattern}` is not a valid regular expression: {reason}")]
    InvalidPattern {
        /// The field.
        at: String,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Any other invalid value.
    #[error("{at}: {reason}")]
    InvalidSpec {
        /// The field.
        at: String,
        /// Why.
        reason: String,
    },
}

/// Everything the engine evaluates, as plain data.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Workloads of every supported kind. Shared, so that a caller keeping
    /// workloads between evaluations (the operator) neither copies nor
    /// converts an unchanged one again.
    pub workloads: Vec<Arc<Workload>>,
    /// Namespaces with their labels (a workload's unknown namespace has no labels).
    pub namespaces: Vec<Namespace>,
    /// PodDisruptionBudgets.
    pub budgets: Vec<DisruptionBudget>,
    /// Standards.
    pub standards: Vec<InfrastructureStandard>,
    /// Exceptions.
    pub exceptions: Vec<StandardException>,
    /// Patch baselines.
    pub baselines: Vec<PatchBaseline>,
    /// Service ownerships.
    pub ownerships: Vec<ServiceOwnership>,
    /// Standard reviews (shared with the operator's cache, like workloads).
    pub reviews: Vec<Arc<review::Review>>,
}
