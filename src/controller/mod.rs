//! The operator's I/O: watches, reconcile, status and report writes, Events
//! and leader election. Evaluation itself is `crate::engine`'s job; building
//! the desired objects from its verdicts is `build`'s, which is pure.
//!
//! The pipeline of one pass: `watch` (read, into `cache`s; `inputs` for the
//! engine, `seen` for reports) → `crate::engine` (evaluate,
//! incrementally) → `build` (desired objects, pure) → `reconcile` and
//! `write` (apply what changed) → `transitions` (Events); `catch_up` waits
//! until the watches show the writes. `run` drives it
//! and holds the leader Lease; `metrics` serves the endpoints.

pub mod backoff;
pub mod build;
pub mod cache;
pub mod catch_up;
pub mod clock;
pub mod conditions;
pub mod inputs;
pub mod limit;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod seen;
pub mod transitions;
pub mod watch;
pub mod write;
