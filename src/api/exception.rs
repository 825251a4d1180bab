//! StandardException: an approved, time-boxed waiver of a standard or a patch
//! baseline for some workloads of the exception's own namespace. Types only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Sample, WorkloadName, WorkloadRef};

/// A request to excuse some workloads of this namespace from a standard (or
/// some of its rules) or from a patch baseline (or some of its images), until
/// `expiresAt`. It takes effect once `approvedBy` is set by someone allowed to
/// approve exceptions, who is not the requester.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "StandardException",
    doc = "A StandardException is an approved, time-boxed waiver of a standard or patch baseline for workloads of its own namespace.",
    plural = "standardexceptions",
    namespaced,
    shortname = "sexc",
    shortname = "exception",
    category = "plumbline",
    status = "StandardExceptionStatus",
    derive = "PartialEq",
    cel,
    printcolumn(
        name = "Standard",
        type_ = "string",
        json_path = ".spec.target.standard"
    ),
    printcolumn(
        name = "Baseline",
        type_ = "string",
        json_path = ".spec.target.patchBaseline"
    ),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Covered", type_ = "integer", json_path = ".status.covered"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt"),
    printcolumn(
        name = "Approved-By",
        type_ = "string",
        priority = 1,
        json_path = ".spec.approvedBy"
    ),
    printcolumn(
        name = "Ticket",
        type_ = "string",
        priority = 1,
        json_path = ".spec.ticket"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.approvedBy) || self.approvedBy.lowerAscii() != self.requestedBy.lowerAscii()")
    .message("approvedBy must differ from requestedBy: an exception cannot be approved by the person who requested it")
    .field_path(".approvedBy")
    .reason(Reason::FieldValueForbidden))]
pub struct StandardExceptionSpec {
    /// What the exception waives.
    pub target: ExceptionTarget,

    /// The workloads it covers, all in the exception's own namespace.
    pub workloads: ExceptionWorkloads,

    /// Why the workloads cannot follow the standard, and what is done about it meanwhile.
    #[schemars(length(min = 10, max = 4096))]
    pub justification: String,

    /// Who asks for the exception: the user name of whoever creates it (the
    /// API server refuses another name, unless the creator is allowed the
    /// verb `request-on-behalf`, as a GitOps controller may be). It cannot be
    /// changed afterwards.
    #[schemars(length(min = 1, max = 253))]
    pub requested_by: String,

    /// Who approved it. Absent means the exception is pending and has no
    /// effect. Only users allowed the verb `approve` on standardexceptions may
    /// set it, to their own user name, and never to the requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub approved_by: Option<String>,

    /// The generation (`metadata.generation`) of the request the approver
    /// read. When an approval is given or changed by an update, the API
    /// server refuses it unless this is the exception's generation at that
    /// moment, so a request changed after the approver read it is not
    /// approved by accident. `plumbline approve` sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub approved_generation: Option<i64>,

    /// A change, risk or issue ticket that records the exception, e.g. `RISK-1042`.
    /// Required when the standard's exceptionPolicy says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub ticket: Option<String>,

    /// When the exception stops applying (RFC 3339, e.g. `2027-03-31T00:00:00Z`).
    /// It takes effect at that exact instant, everywhere.
    pub expires_at: Time,
}

/// The standard or patch baseline an exception waives. Exactly one of
/// `standard` and `patchBaseline`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.standard) != has(self.patchBaseline)")
        .message("target: name exactly one of standard or patchBaseline"),
    validation = Rule::new("!has(self.rules) || has(self.standard)")
        .message("target.rules: rule ids only apply to a standard target")
        .field_path(".rules"),
    validation = Rule::new("!has(self.images) || has(self.patchBaseline)")
        .message("target.images: images only apply to a patchBaseline target")
        .field_path(".images")
)]
pub struct ExceptionTarget {
    /// The name of the InfrastructureStandard waived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub standard: Option<String>,

    /// The ids of the rules waived. Absent means every rule of the standard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub rules: Option<Vec<String>>,

    /// The name of the PatchBaseline waived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub patch_baseline: Option<String>,

    /// The image repositories of the baseline waived, e.g. `nginx`. Absent
    /// means every image of the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 512)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub images: Option<Vec<String>>,
}

/// The workloads of the exception's namespace it covers: those named, and
/// those the selector selects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.names) || has(self.selector)")
        .message("workloads: name workloads in names, select them with selector, or both"),
    validation = Rule::new("!has(self.selector) || (has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0) || (has(self.selector.matchExpressions) && size(self.selector.matchExpressions) > 0)")
        .message("workloads.selector: an empty selector covers every workload of the namespace: select by labels (matchLabels or matchExpressions) or name the workloads")
        .field_path(".selector")
)]
pub struct ExceptionWorkloads {
    /// Workloads by kind and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub names: Option<Vec<WorkloadName>>,

    /// Workloads by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// The state of an exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ExceptionState {
    /// Not approved yet: no effect.
    Pending,
    /// Approved and not expired: covers its workloads.
    Active,
    /// Past `expiresAt`: no effect.
    Expired,
    /// Refused: unknown target or rule, too long, ticket missing, approved by
    /// the requester, or selects nothing. No effect.
    Invalid,
    /// Active, but the workloads it covers comply without it: it can be deleted.
    Stale,
}

/// What the operator observed about an exception.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StandardExceptionStatus {
    /// `Ready` (valid), `Active` (in effect) and `Stale` (no longer needed).
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The exception's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ExceptionState>,

    /// How many workloads the exception covers.
    #[serde(default)]
    pub covered: i32,

    /// A capped sample of the covered workloads.
    #[serde(default)]
    pub workloads: Sample<WorkloadRef>,
}
