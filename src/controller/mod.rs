//! The operator's I/O: watches, reconcile, status and report writes, Events
//! and leader election. Evaluation itself is `crate::engine`'s job; building
//! the desired objects from its verdicts is `build`'s, which is pure.
//!
//! In progress (issue 4): `conditions` and `build` are done and tested; the
//! watches, the writer and `plumbline run` come next.

pub mod build;
pub mod conditions;
