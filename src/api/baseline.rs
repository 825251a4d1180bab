//! PatchBaseline: minimum versions of container images, rolled out ring by
//! ring with deadlines. Types only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema, core::Duration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Sample, WorkloadMatch, WorkloadRef};

/// The least versions of container images that matching workloads must run,
/// from a given date, with a deadline per rollout ring (lower environments first).
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "PatchBaseline",
    doc = "A PatchBaseline sets the least versions of container images, with rollout rings and deadlines.",
    plural = "patchbaselines",
    shortname = "pbl",
    shortname = "baseline",
    category = "plumbline",
    status = "PatchBaselineStatus",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Images", type_ = "integer", json_path = ".status.images"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Current",
        type_ = "integer",
        json_path = ".status.totals.current"
    ),
    printcolumn(
        name = "Behind",
        type_ = "integer",
        json_path = ".status.totals.behind"
    ),
    printcolumn(
        name = "Overdue",
        type_ = "integer",
        json_path = ".status.totals.overdue"
    ),
    printcolumn(
        name = "Unknown",
        type_ = "integer",
        priority = 1,
        json_path = ".status.totals.unknown"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PatchBaselineSpec {
    /// What the baseline is for, e.g. the advisory it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,

    /// Which workloads the baseline applies to.
    #[serde(default, rename = "match")]
    pub match_: WorkloadMatch,

    /// The images and the least version of each.
    #[schemars(length(min = 1, max = 500))]
    pub images: Vec<ImageBaseline>,

    /// Rollout rings, tried in order: a workload belongs to the first ring whose
    /// namespaceSelector selects its namespace (a ring without one selects every
    /// namespace). A workload in no ring is due at the image's effectiveFrom.
    #[serde(default)]
    #[schemars(length(max = 20))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub rings: Vec<Ring>,
}

/// One image and the least version workloads must run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.repository) != has(self.repositoryPattern)")
    .message("images[]: set exactly one of repository or repositoryPattern"))]
pub struct ImageBaseline {
    /// The image repository, e.g. `nginx`, `docker.io/library/nginx` or
    /// `registry.example.com/base/python`; `nginx` and
    /// `docker.io/library/nginx` are the same repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub repository: Option<String>,

    /// A regular expression (RE2 syntax) matched against the normalised
    /// repository, e.g. `^registry\.example\.com/base/.*$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub repository_pattern: Option<String>,

    /// The least version, compared with the image tag as a version:
    /// `1.25.4`, `v1.25.4`, `1.25` (a tag suffix like `-alpine` is ignored).
    #[schemars(
        length(min = 1, max = 128),
        pattern(r"^v?[0-9]+(\.[0-9]+){0,2}([-+][0-9A-Za-z.+-]+)?$")
    )]
    pub minimum_version: String,

    /// When the minimum starts to apply (RFC 3339). Ring deadlines count from here.
    pub effective_from: Time,

    /// Why this version, e.g. the advisory or CVE it fixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
}

/// A rollout ring: a set of namespaces with its own deadline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ring {
    /// The ring's name, e.g. `dev`, `staging`, `prod`.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,

    /// Namespaces in the ring, by label. Absent means every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// How long after an image's effectiveFrom workloads in this ring have to
    /// catch up, e.g. `72h` for dev, `336h` (14 days) for production.
    #[x_kube(validation = Rule::new("duration(self) >= duration('0s')")
        .message("deadline must not be negative, e.g. 72h"))]
    pub deadline: Duration,
}

/// Where a workload stands against a patch baseline.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum PatchState {
    /// Runs the least version or newer.
    Current,
    /// Below the least version, still inside its ring's deadline.
    Behind,
    /// Below the least version, past its ring's deadline.
    Overdue,
    /// Below the least version, covered by an active exception.
    Excepted,
    /// The tag cannot be compared (`latest`, digest only, not a version).
    Unknown,
}

impl PatchState {
    /// The state as a condition reason (its name, CamelCase).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Current => "Current",
            Self::Behind => "Behind",
            Self::Overdue => "Overdue",
            Self::Excepted => "Excepted",
            Self::Unknown => "Unknown",
        }
    }
}

/// What the operator observed about a patch baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchBaselineStatus {
    /// `Ready` (the spec is valid) and `Overdue` (some workloads are past their deadline).
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// How many images the baseline names.
    #[serde(default)]
    pub images: i32,

    /// Workloads by state, over all rings.
    #[serde(default)]
    pub totals: PatchCounts,

    /// Workloads by state, per ring, in the order of the spec; workloads in
    /// no ring are counted under the ring name `none`.
    #[serde(default)]
    pub rings: Vec<RingCounts>,

    /// A capped sample of overdue workloads, most overdue first.
    #[serde(default)]
    pub overdue: Sample<OverdueWorkload>,
}

/// Workloads by patch state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchCounts {
    /// Workloads at or above every minimum.
    pub current: i32,
    /// Workloads below a minimum, inside the deadline.
    pub behind: i32,
    /// Workloads below a minimum, past the deadline.
    pub overdue: i32,
    /// Workloads below a minimum, covered by an exception.
    pub excepted: i32,
    /// Workloads whose tags cannot be compared.
    pub unknown: i32,
}

/// Workloads by patch state in one ring.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RingCounts {
    /// The ring's name.
    pub name: String,
    /// The counts.
    #[serde(flatten)]
    pub counts: PatchCounts,
}

/// One overdue workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverdueWorkload {
    /// The workload.
    pub workload: WorkloadRef,
    /// The image below its minimum.
    pub image: String,
    /// The least version required.
    pub minimum_version: String,
    /// When the deadline passed.
    pub overdue_since: Time,
}
