//! ServiceOwnership: who owns a service (the workloads it selects in its
//! namespace), how to reach them, and where the service is in its life. Types only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Date, Sample, Severity, WorkloadRef};

/// The owners of a service: the team, the people who know it, the support
/// lines, how to reach on-call, the runbook, and its lifecycle. Selects the
/// workloads of its own namespace that make up the service.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "ServiceOwnership",
    doc = "A ServiceOwnership names who owns the workloads it selects: team, maintainers, support lines, runbook and lifecycle.",
    plural = "serviceownerships",
    namespaced,
    shortname = "sown",
    shortname = "ownership",
    category = "plumbline",
    status = "ServiceOwnershipStatus",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Team", type_ = "string", json_path = ".spec.team"),
    printcolumn(name = "Stage", type_ = "string", json_path = ".spec.lifecycle.stage"),
    printcolumn(name = "Workloads", type_ = "integer", json_path = ".status.matched"),
    printcolumn(
        name = "Complete",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Complete")].status"#
    ),
    printcolumn(
        name = "Conflicts",
        type_ = "integer",
        priority = 1,
        json_path = ".status.conflicts.omitted"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOwnershipSpec {
    /// What the service does, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,

    /// The workloads of this namespace that make up the service, by their
    /// labels. An empty selector selects every workload of the namespace.
    pub selector: LabelSelector,

    /// The owning team.
    #[schemars(length(min = 1, max = 253))]
    pub team: String,

    /// The people who know the service well enough to run and fix it.
    #[serde(default)]
    #[schemars(length(max = 50))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub maintainers: Vec<Maintainer>,

    /// Who answers which line of support: first, second, third.
    #[serde(default)]
    #[schemars(length(max = 3))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["tier".into()]))]
    pub support_tiers: Vec<SupportTier>,

    /// How to reach whoever is on call for the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_call: Option<OnCall>,

    /// Where an incident goes when on-call cannot resolve it: a person, team or policy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub escalation: Option<String>,

    /// The runbook's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), pattern(r"^https?://"))]
    pub runbook: Option<String>,

    /// The source repository's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub repository: Option<String>,

    /// The cost center billed for the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub cost_center: Option<String>,

    /// How much the business depends on the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<Severity>,

    /// Where the service is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,

    /// The vendor behind the service's technology, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Vendor>,
}

/// A person who maintains the service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Maintainer {
    /// The person's name or user name, unique in the list.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// How to reach them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 320), pattern(r"^[^@\s]+@[^@\s]+$"))]
    pub email: Option<String>,
    /// Their role, e.g. `tech lead`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub role: Option<String>,
}

/// A line of support.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Tier {
    /// First line: takes the call, triages, applies the runbook.
    First,
    /// Second line: the owning team, for what the runbook does not cover.
    Second,
    /// Third line: the vendor or the technology's experts.
    Third,
}

/// Who answers one line of support.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupportTier {
    /// The line.
    pub tier: Tier,
    /// The team that answers it.
    #[schemars(length(min = 1, max = 253))]
    pub team: String,
    /// How to reach it: a channel, address, queue or phone number.
    #[schemars(length(min = 1, max = 1024))]
    pub contact: String,
}

/// How to reach on-call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnCall {
    /// The rotation or schedule, e.g. its name in the paging tool.
    #[schemars(length(min = 1, max = 253))]
    pub rotation: String,
    /// How to page it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub contact: Option<String>,
}

/// Lifecycle stages of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LifecycleStage {
    /// Being built; not for production use yet.
    Development,
    /// In production and supported.
    Production,
    /// Still running, supported, but to be replaced: no new users.
    Deprecated,
    /// Past end of support: runs at the owner's risk until end of life.
    Retiring,
    /// Gone or about to be: should no longer run.
    Retired,
}

/// Where the service is in its life, and when support and life end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.endOfSupport) || !has(self.endOfLife) || self.endOfLife >= self.endOfSupport")
    .message("lifecycle: endOfLife must not be before endOfSupport")
    .field_path(".endOfLife"))]
pub struct Lifecycle {
    /// The stage.
    pub stage: LifecycleStage,
    /// The last day the service (or its technology) is supported, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_support: Option<Date>,
    /// The day the service must be gone, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_life: Option<Date>,
}

/// The vendor behind the service's technology.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vendor {
    /// The vendor's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The day the support contract ends, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_end: Option<Date>,
    /// How to reach the vendor's support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub support_contact: Option<String>,
}

/// What the operator observed about a service ownership.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOwnershipStatus {
    /// `Ready` (the spec is valid) and `Complete` (nothing is missing).
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// How many workloads it selects.
    #[serde(default)]
    pub matched: i32,

    /// Workloads that another ServiceOwnership selects too (a capped sample).
    #[serde(default)]
    pub conflicts: Sample<OwnershipConflict>,

    /// What is missing or out of date, one entry per finding.
    #[serde(default)]
    pub findings: Vec<OwnershipFinding>,
}

/// A workload claimed by two ServiceOwnerships.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipConflict {
    /// The workload.
    pub workload: WorkloadRef,
    /// The other ServiceOwnerships that select it.
    pub others: Vec<String>,
}

/// Something missing or out of date in an ownership.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipFinding {
    /// A CamelCase reason, e.g. `TooFewMaintainers`, `NoRunbook`, `EndOfSupportPassed`.
    pub reason: String,
    /// What to do about it.
    pub message: String,
}
