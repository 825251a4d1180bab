//! The operator's I/O, as a pipeline whose steps are files, read in this
//! order:
//!
//! 1. `watch`: one watch per kind fills the caches of `stores` with what
//!    the operator needs of each object (`stores::keep`), and signals a change;
//! 2. `crate::engine`: the stores' snapshot (`Stores::inputs`) is evaluated,
//!    incrementally, at the clock's time;
//! 3. `plan`: per output kind (report, standard, exception, baseline,
//!    ownership, review, admission policies), the desired objects that differ
//!    from the stores' copy, and the Events of their transitions. Pure;
//! 4. `writer`: applies the plan, while leading and within the rate limit,
//!    retrying a failed object; the loop then waits until the watches show
//!    the writes (`Stores::catch_up`).
//!
//! `run` drives the passes and holds the leader Lease; `metrics` serves the
//! endpoints. `cache` and `seen` are what the stores keep; `conditions` the
//! condition types, reasons and the one rule for writing them; `clock`,
//! `limit` and `backoff` the loop's time, rate and retries.

pub mod backoff;
pub mod cache;
pub mod clock;
pub mod conditions;
pub mod limit;
pub mod metrics;
pub mod plan;
pub mod run;
pub mod seen;
pub mod stores;
pub mod watch;
pub mod writer;
