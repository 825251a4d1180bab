//! The operator's I/O: watches, reconcile, status and report writes, Events
//! and leader election. Evaluation itself is `crate::engine`'s job; building
//! the desired objects from its verdicts is `build`'s, which is pure.
//!
//! In progress (issue 4): reports and statuses are written, only when they
//! change, on every change, at the next instant a verdict changes by itself
//! and at each resync, with Events on transitions. Metrics, health endpoints,
//! leader election, namespace limits and per-object re-evaluation come next.

pub mod build;
pub mod clock;
pub mod conditions;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod transitions;
pub mod watch;
pub mod write;
