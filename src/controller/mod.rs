//! The operator's I/O: watches, reconcile, status and report writes, Events
//! and leader election. Evaluation itself is `crate::engine`'s job.
