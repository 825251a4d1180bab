//! The plumbline API, group `plumbline.dev`, version `v1alpha1`: custom
//! resource types and the CRDs they generate. Types only: no I/O, no evaluation.

// `printcolumn(..)` and `shortname = ..` repeat keys by design of kube's derive.
#![allow(clippy::duplicated_attributes)]

pub mod baseline;
pub mod common;
pub mod exception;
pub mod ownership;
pub mod report;
pub mod standard;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use baseline::{PatchBaseline, PatchBaselineSpec, PatchBaselineStatus, PatchState};
pub use common::{Date, Severity, WorkloadKind, WorkloadMatch};
pub use exception::{
    ExceptionState, StandardException, StandardExceptionSpec, StandardExceptionStatus,
};
pub use ownership::{ServiceOwnership, ServiceOwnershipSpec, ServiceOwnershipStatus};
pub use report::{ComplianceReport, ComplianceReportSpec, ComplianceReportStatus};
pub use standard::{
    InfrastructureStandard, InfrastructureStandardSpec, InfrastructureStandardStatus,
};

/// The API group.
pub const GROUP: &str = "plumbline.dev";
/// The API version.
pub const VERSION: &str = "v1alpha1";
/// The category every plumbline kind is in: `kubectl get plumbline -A`.
pub const CATEGORY: &str = "plumbline";

/// Every CRD, with the kind it defines, in a fixed order.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("InfrastructureStandard", InfrastructureStandard::crd()),
        ("StandardException", StandardException::crd()),
        ("PatchBaseline", PatchBaseline::crd()),
        ("ServiceOwnership", ServiceOwnership::crd()),
        ("ComplianceReport", report::crd()),
    ]
}
