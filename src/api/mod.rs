//! The plumbline API, group `plumbline.dev`, version `v1alpha1`: custom
//! resource types and the CRDs they generate. Types only: no I/O, no evaluation.

// `printcolumn(..)` and `shortname = ..` repeat keys by design of kube's derive.
#![allow(clippy::duplicated_attributes)]

pub mod baseline;
pub mod common;
pub mod exception;
pub mod ownership;
pub mod report;
pub mod review;
pub mod standard;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON, JSONSchemaProps,
};
use kube::CustomResourceExt;

pub use baseline::{PatchBaseline, PatchBaselineSpec, PatchBaselineStatus, PatchState};
pub use common::{Date, Severity, WorkloadKind, WorkloadMatch};
pub use exception::{
    ExceptionState, StandardException, StandardExceptionSpec, StandardExceptionStatus,
};
pub use ownership::{ServiceOwnership, ServiceOwnershipSpec, ServiceOwnershipStatus};
pub use report::{ComplianceReport, ComplianceReportSpec, ComplianceReportStatus};
pub use review::{StandardReview, StandardReviewSpec, StandardReviewStatus};
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
        (
            "InfrastructureStandard",
            status_awaits_operator(InfrastructureStandard::crd()),
        ),
        (
            "StandardException",
            status_awaits_operator(StandardException::crd()),
        ),
        (
            "PatchBaseline",
            status_awaits_operator(PatchBaseline::crd()),
        ),
        (
            "ServiceOwnership",
            status_awaits_operator(ServiceOwnership::crd()),
        ),
        (
            "StandardReview",
            status_awaits_operator(StandardReview::crd()),
        ),
        ("ComplianceReport", report::crd()),
    ]
}

/// Gives a CRD's `status` the default `{observedGeneration: 0}`: an object
/// the operator has not evaluated yet reads as generation 1 observed at 0,
/// which kstatus (Flux) and plumbline's Argo CD checks take for "in
/// progress". Without it, a new object has no status at all, which kstatus
/// takes for Current: a Flux `wait` would pass before the operator had
/// looked, and an invalid spec would never fail it. (The API server applies
/// the default when it reads the object; the operator's status write
/// replaces it.)
fn status_awaits_operator(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for (name, property) in root_properties(&mut crd) {
        if name == "status" {
            property.default = Some(JSON(serde_json::json!({ "observedGeneration": 0 })));
        }
    }
    crd
}

/// The top-level properties (`spec`, `status`) of every version's schema,
/// for the adjustments kube's derive cannot express.
pub(crate) fn root_properties(
    crd: &mut CustomResourceDefinition,
) -> impl Iterator<Item = (&String, &mut JSONSchemaProps)> {
    crd.spec
        .versions
        .iter_mut()
        .filter_map(|v| {
            v.schema
                .as_mut()?
                .open_api_v3_schema
                .as_mut()?
                .properties
                .as_mut()
        })
        .flatten()
}
