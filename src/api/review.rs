//! StandardReview: the record of one review of an InfrastructureStandard, its
//! outcome and what the reviewer saw. Immutable once created. Types only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most exceptions one review lists (in its spec, or as recorded in its
/// status). A standard with more active exceptions than this cannot be
/// covered by one review: its review stays required.
pub const MAX_REVIEWED_EXCEPTIONS: usize = 1000;

/// A reviewer's record of one review of a standard: the decision (keep,
/// revise or retire it), why, and the exceptions considered. The latest review
/// of a standard quiets its `ReviewRequired` alarm until the situation changes.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "StandardReview",
    doc = "A StandardReview records one review of an InfrastructureStandard: its outcome (Keep, Revise or Retire), the reviewer, why, and the exceptions considered. Immutable once created.",
    plural = "standardreviews",
    shortname = "srev",
    category = "plumbline",
    status = "StandardReviewStatus",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Standard", type_ = "string", json_path = ".spec.standard"),
    printcolumn(name = "Outcome", type_ = "string", json_path = ".spec.outcome"),
    printcolumn(name = "Reviewer", type_ = "string", json_path = ".spec.reviewedBy"),
    printcolumn(name = "Current", type_ = "boolean", json_path = ".status.current"),
    printcolumn(
        name = "Next-Review",
        type_ = "string",
        priority = 1,
        json_path = ".spec.nextReviewBy"
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
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("a StandardReview is a record and its spec cannot change: create a new StandardReview instead")
    .reason(Reason::FieldValueForbidden))]
pub struct StandardReviewSpec {
    /// The name of the InfrastructureStandard reviewed.
    #[schemars(length(min = 1, max = 253))]
    pub standard: String,

    /// The decision: `Keep` the standard as it is, `Revise` it (a new
    /// generation of its spec is expected), or `Retire` it (its lifecycle is
    /// expected to move to `Deprecated` or `Retired`).
    pub outcome: ReviewOutcome,

    /// Who reviewed: the user name of whoever creates the review (the API
    /// server refuses another name, unless the creator is allowed the verb
    /// `review-on-behalf`, as a GitOps controller may be).
    #[schemars(length(min = 1, max = 253))]
    pub reviewed_by: String,

    /// Why this outcome, for the people the standard applies to.
    #[schemars(length(min = 10, max = 4096))]
    pub summary: String,

    /// A change or decision ticket that records the review, e.g. `ARCH-311`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub ticket: Option<String>,

    /// When the standard is due for its next review (RFC 3339). From that
    /// instant, the standard's review is required again. The API server
    /// refuses a time that has already passed when the review is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_review_by: Option<Time>,

    /// The active exceptions the reviewer considered, as `namespace/name`.
    /// Absent means those active when the review is created: the operator
    /// records them once in `status.exceptions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 1000),
        inner(
            length(min = 3, max = 317),
            pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
        )
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub exceptions: Option<Vec<String>>,
}

/// The decision a review ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ReviewOutcome {
    /// The standard stays as it is.
    Keep,
    /// The standard is to be revised: a new generation of its spec is expected.
    Revise,
    /// The standard is to be retired: its lifecycle is expected to move to
    /// `Deprecated` (with a successor and a sunset) or `Retired`.
    Retire,
}

impl ReviewOutcome {
    /// The outcome as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "Keep",
            Self::Revise => "Revise",
            Self::Retire => "Retire",
        }
    }
}

/// What the operator recorded about a review.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StandardReviewStatus {
    /// `Ready`: the review is recorded (False while its standard does not exist).
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Whether this is the standard's current review: its latest, the one
    /// that counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,

    /// The exceptions the review covers, each with the generation it had
    /// when the review was recorded: those the spec lists (that existed
    /// then), or, when it lists none, those active then. Recorded once,
    /// never changed afterwards. An exception changed since (widened,
    /// extended, approved again) is no longer covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<Vec<ConsideredException>>,

    /// What the standard looked like when the review was recorded. Recorded
    /// once, never changed afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_review: Option<AtReview>,
}

/// An exception a review covers, as it was when the review was recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsideredException {
    /// `namespace/name`.
    pub name: String,
    /// Its `metadata.generation` then.
    pub generation: i64,
}

/// A standard's figures when a review of it was recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AtReview {
    /// Active exceptions to the standard.
    pub active_exceptions: i32,
    /// Workloads the standard matched.
    pub matched: i32,
    /// Matched workloads excepted.
    pub excepted: i32,
    /// The share of matched workloads excepted, in percent (rounded down).
    pub excepted_percent: i32,
    /// The generation of the standard the review judged: the last one the
    /// operator had evaluated when the review was recorded (so a revision
    /// applied together with a `Revise` review counts as the revision).
    pub standard_generation: i64,
    /// The uid of the standard reviewed: a review never counts for another
    /// standard created later under the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_uid: Option<String>,
}
