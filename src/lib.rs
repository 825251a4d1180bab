//! plumbline: a Kubernetes operator that holds workloads to a platform team's
//! infrastructure standards, exceptions, patch baselines and service ownership.
#![forbid(unsafe_code)]

pub mod admission;
pub mod api;
pub mod audit;
pub mod cli;
pub mod controller;
pub mod crdgen;
pub mod dashboard;
pub mod engine;
pub mod explain;
pub mod names;
