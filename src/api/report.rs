//! ComplianceReport: one per workload, written by the operator only, owned by
//! the workload so it is garbage-collected with it. Types only.

use k8s_openapi::{
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{baseline::PatchState, common::Severity};

/// Whether one workload follows the standards, runs patched images and has an
/// owner. Written by the plumbline operator; do not edit.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "ComplianceReport",
    doc = "A ComplianceReport holds the plumbline operator's verdict on one workload. Written by the operator only.",
    plural = "compliancereports",
    namespaced,
    shortname = "crep",
    shortname = "report",
    category = "plumbline",
    selectable = ".spec.workload.kind",
    selectable = ".spec.workload.name",
    status = "ComplianceReportStatus",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.workload.kind"),
    printcolumn(name = "Workload", type_ = "string", json_path = ".spec.workload.name"),
    printcolumn(
        name = "Compliant",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Compliant")].status"#
    ),
    printcolumn(
        name = "Deviations",
        type_ = "integer",
        json_path = ".status.deviationCount"
    ),
    printcolumn(name = "Patch", type_ = "string", json_path = ".status.patch.state"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".status.owner.team"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        priority = 1,
        json_path = r#".status.conditions[?(@.type=="Compliant")].reason"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReportSpec {
    /// The workload the report is about.
    pub workload: ReportedWorkload,
}

/// The workload a report is about. Its apiVersion and uid are in the
/// report's owner reference (which garbage-collects the report with it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedWorkload {
    /// The workload's kind, e.g. `Deployment`.
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// The workload's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The verdict on one workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReportStatus {
    /// `Compliant`, `PatchCurrent` and `Owned`, each with a reason and a message.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The generation of the workload this report describes. (A report has
    /// no `observedGeneration`: the operator writes all of it at once, so
    /// there is no spec for a status to catch up with.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_generation: Option<i64>,

    /// How many deviations there are, covered by an exception or not.
    #[serde(default)]
    pub deviation_count: i32,

    /// Every deviation, by standard (the standard with the most severe
    /// first), its rules by severity. What each one is and how to fix it:
    /// the rule's description on the standard, `plumbline audit` on the
    /// workload, the DeviationFound Event, and for the most severe, the
    /// `Compliant` condition's message.
    #[serde(default)]
    pub deviations: Vec<StandardDeviations>,

    /// The patch state of the workload's images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchReport>,

    /// The workload's owner, if a ServiceOwnership selects it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerSummary>,
}

/// The rules of one standard that the workload does not follow: the open
/// ones by severity, and those an exception covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StandardDeviations {
    /// The InfrastructureStandard.
    pub standard: String,
    /// Open deviations from its Critical rules (rule ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critical: Vec<String>,
    /// Open deviations from its High rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub high: Vec<String>,
    /// Open deviations from its Medium rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub medium: Vec<String>,
    /// Open deviations from its Low rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub low: Vec<String>,
    /// Deviations an active StandardException covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excepted: Vec<ExceptedRule>,
}

impl StandardDeviations {
    /// The open deviations' rules, most severe first.
    pub fn open(&self) -> impl Iterator<Item = &str> {
        [&self.critical, &self.high, &self.medium, &self.low]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The list of open deviations of this severity.
    pub fn open_mut(&mut self, severity: Severity) -> &mut Vec<String> {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
        }
    }
}

/// A deviation an active StandardException covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptedRule {
    /// The rule's id.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The StandardException.
    pub exception: String,
}

/// The workload's patch state: the worst over its images and baselines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchReport {
    /// The worst state of any image.
    pub state: PatchState,
    /// The earliest deadline of an image that is behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Time>,
    /// Per image and baseline, the worst first; at most
    /// `MAX_REPORTED_IMAGES`, so that a workload of thousands of containers
    /// still gets a report the API server accepts.
    #[serde(default)]
    pub images: Vec<ImagePatch>,
    /// How many image and baseline pairs `images` leaves out (the least
    /// urgent ones).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images_omitted: i32,
}

/// The most image and baseline pairs a report lists.
pub const MAX_REPORTED_IMAGES: usize = 100;

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// One image against one baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePatch {
    /// The container running the image.
    pub container: String,
    /// The image reference.
    pub image: String,
    /// The PatchBaseline.
    pub baseline: String,
    /// The ring the workload is in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<String>,
    /// The least version required.
    pub minimum_version: String,
    /// The state.
    pub state: PatchState,
    /// When it is (or was) due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Time>,
    /// Why, for Unknown and Excepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Who owns the workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerSummary {
    /// The ServiceOwnership.
    pub service_ownership: String,
    /// The owning team.
    pub team: String,
    /// Whether that ownership is complete.
    pub complete: bool,
}

/// The ComplianceReport CRD. The operator writes a report whole, spec and
/// status in one server-side apply, so that a report costs one request:
/// the status subresource kube's derive adds (which would take a second
/// request) is removed. Spec and status are atomic, owned as a whole by the
/// operator, which also keeps the report's managed fields to one short entry.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = ComplianceReport::crd();
    for version in &mut crd.spec.versions {
        version.subresources = None;
    }
    for (name, property) in super::root_properties(&mut crd) {
        if name == "spec" || name == "status" {
            property.x_kubernetes_map_type = Some("atomic".into());
        }
    }
    crd
}
