//! InfrastructureStandard: a cluster-wide, named set of rules that matching
//! workloads must follow. Types only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema, core::Duration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{RequiredKey, Sample, Severity, WorkloadMatch, WorkloadRef};

/// A platform standard: the rules that every workload it matches must follow,
/// how strictly they are enforced, and when exceptions to it are allowed.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "InfrastructureStandard",
    doc = "An InfrastructureStandard is a named set of rules that the workloads it matches must follow; the plumbline operator reports how they comply.",
    plural = "infrastructurestandards",
    shortname = "istd",
    shortname = "standard",
    category = "plumbline",
    status = "InfrastructureStandardStatus",
    derive = "PartialEq",
    cel,
    printcolumn(
        name = "Enforcement",
        type_ = "string",
        json_path = ".spec.enforcement"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Matched", type_ = "integer", json_path = ".status.matched"),
    printcolumn(name = "Deviating", type_ = "integer", json_path = ".status.deviating"),
    printcolumn(name = "Excepted", type_ = "integer", json_path = ".status.excepted"),
    printcolumn(
        name = "Review",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="ReviewRequired")].status"#
    ),
    printcolumn(name = "Stage", type_ = "string", json_path = ".status.stage"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[kube(validation = Rule::new(
    "!has(self.spec.lifecycle) || !has(self.spec.lifecycle.supersededBy) || self.spec.lifecycle.supersededBy != self.metadata.name"
).message("spec.lifecycle.supersededBy: a standard cannot supersede itself: name its successor"))]
#[serde(rename_all = "camelCase")]
pub struct InfrastructureStandardSpec {
    /// What the standard is for, in a sentence or two, for the people it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,

    /// Which workloads the standard applies to.
    #[serde(default, rename = "match")]
    pub match_: WorkloadMatch,

    /// What happens to a deviating workload: `Audit` records it in reports and
    /// status only; `Warn` also returns a warning to whoever applies it;
    /// `Enforce` refuses it at admission unless an active exception covers it.
    #[serde(default)]
    pub enforcement: Enforcement,

    /// The rules. Each has a unique `id` and exactly one check.
    #[schemars(length(min = 1, max = 200))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["id".into()]))]
    pub rules: Vec<StandardRule>,

    /// Whether and how workloads may be excused from this standard with a StandardException.
    #[serde(default)]
    pub exception_policy: ExceptionPolicy,

    /// When the standard itself needs review: because exceptions to it pile
    /// up, or periodically. Absent means the standard never asks for review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewPolicy>,

    /// Where the standard is in its life: `Active`, `Deprecated` (still
    /// evaluated, with a successor and a sunset date) or `Retired` (no longer
    /// evaluated or enforced). Absent means Active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
}

/// A standard's lifecycle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.stage != 'Deprecated' || has(self.sunset)")
    .message("lifecycle.sunset: a Deprecated standard needs a sunset date (RFC 3339), after which its workloads must have moved to the successor")
    .field_path(".sunset"))]
pub struct Lifecycle {
    /// `Active` (the default), `Deprecated` or `Retired`.
    #[serde(default)]
    pub stage: Stage,

    /// The standard that replaces this one. While this one is Deprecated, its
    /// status shows how many of its workloads already comply with the successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub superseded_by: Option<String>,

    /// When a Deprecated standard's workloads must have moved to the
    /// successor (RFC 3339). Past it, their reports say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset: Option<Time>,
}

/// Where a standard is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Stage {
    /// Evaluated and, as its enforcement says, enforced.
    #[default]
    Active,
    /// Still evaluated and enforced, but on its way out: workloads should move
    /// to the successor before the sunset.
    Deprecated,
    /// No longer evaluated or enforced: no report lists it, no admission
    /// policy is generated for it.
    Retired,
}

impl Stage {
    /// The stage as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Deprecated => "Deprecated",
            Self::Retired => "Retired",
        }
    }
}

impl InfrastructureStandardSpec {
    /// The standard's stage (Active when no lifecycle is set).
    pub fn stage(&self) -> Stage {
        self.lifecycle.as_ref().map(|l| l.stage).unwrap_or_default()
    }
}

/// How strictly a standard is enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Enforcement {
    /// Record deviations in reports and status only.
    #[default]
    Audit,
    /// Record deviations and warn at admission.
    Warn,
    /// Refuse deviating workloads at admission unless an active exception covers them.
    Enforce,
}

/// One rule of a standard: an id, a severity and exactly one check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.requiredLabels), has(self.requiredAnnotations), has(self.resources), has(self.images), \
     has(self.securityContext), has(self.probes), has(self.replicas), has(self.podDisruptionBudget), \
     has(self.hostAccess), has(self.serviceAccountToken), has(self.ownership), has(self.cel)].filter(c, c).size() == 1"
).message("a rule must have exactly one check: set one of requiredLabels, requiredAnnotations, resources, images, securityContext, probes, replicas, podDisruptionBudget, hostAccess, serviceAccountToken, ownership, cel"))]
pub struct StandardRule {
    /// A stable identifier, unique in the standard, used in reports and
    /// exceptions, e.g. `run-as-non-root`. Lower case letters, digits and dashes.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub id: String,

    /// How serious a deviation from this rule is.
    pub severity: Severity,

    /// What the rule asks for and why, shown to the owners of deviating workloads.
    #[schemars(length(min = 1, max = 1024))]
    pub description: String,

    /// Check: these labels must be on the workload (its own metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub required_labels: Option<Vec<RequiredKey>>,

    /// Check: these annotations must be on the workload (its own metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub required_annotations: Option<Vec<RequiredKey>>,

    /// Check: every container sets these resource requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesCheck>,

    /// Check: where container images come from and how they are referenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImagesCheck>,

    /// Check: the pod and container security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContextCheck>,

    /// Check: containers declare these probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<ProbesCheck>,

    /// Check: the workload runs at least this many replicas (Deployment and StatefulSet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<ReplicasCheck>,

    /// Check: a PodDisruptionBudget in the workload's namespace selects its pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<PodDisruptionBudgetCheck>,

    /// Check: no host namespaces, host paths or host ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_access: Option<HostAccessCheck>,

    /// Check: the service account token is not mounted automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token: Option<ServiceAccountTokenCheck>,

    /// Check: the workload is covered by a complete ServiceOwnership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<OwnershipCheck>,

    /// Check: a CEL expression, written as in a ValidatingAdmissionPolicy,
    /// that must be true for the workload. See docs/evaluation.md, "CEL rules".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel: Option<CelCheck>,
}

/// A custom check in CEL. The expression sees `object` (the workload as
/// stored), `namespaceObject` and plumbline's `variables` (`podSpec`,
/// `podMetadata`, `containers`, `containerRoles`, `kind`). Admission-only
/// variables (`request`, `oldObject`, `params`, `authorizer`) cannot be used:
/// a rule must give the same verdict in CI, at admission and in the reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CelCheck {
    /// A CEL expression that is true when the workload follows the rule,
    /// e.g. `variables.containers.all(c, c.?imagePullPolicy.orValue('') != 'Never')`.
    #[schemars(length(min = 1, max = 5000))]
    pub expression: String,

    /// What to tell the owners of a workload that fails the expression.
    /// Defaults to the rule's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub message: Option<String>,

    /// A CEL expression giving the message for one workload, e.g.
    /// `'container ' + variables.containers[0].name + ' asks for too much'`.
    /// When it errors or gives no single-line string, `message` (or the
    /// description) is used, as the API server does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 5000))]
    pub message_expression: Option<String>,
}

/// Requests and limits every container must set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.requests.size() + self.limits.size() > 0")
    .message("resources: name at least one resource in requests or limits, e.g. requests: [cpu, memory]"))]
pub struct ResourcesCheck {
    /// Resources every container must request, e.g. `cpu`, `memory`.
    #[serde(default)]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub requests: Vec<String>,

    /// Resources every container must limit, e.g. `memory`.
    #[serde(default)]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub limits: Vec<String>,

    /// Also check init containers. Defaults to true.
    #[serde(default = "yes")]
    pub include_init_containers: bool,
}

/// Rules on container image references.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.allowedRegistries.size() > 0 || self.forbidLatestTag || self.requireDigest || self.forbidden.size() > 0"
).message("images: set at least one of allowedRegistries, forbidLatestTag, requireDigest, forbidden"))]
pub struct ImagesCheck {
    /// Registries images may come from, e.g. `registry.example.com` or
    /// `ghcr.io/my-org`. An image matches when its registry (and path) starts
    /// with one of these. Images without a registry come from `docker.io`.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(min = 1, max = 255)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_registries: Vec<String>,

    /// Refuse the `latest` tag and images with neither tag nor digest.
    #[serde(default)]
    pub forbid_latest_tag: bool,

    /// Require images pinned by digest (`@sha256:...`).
    #[serde(default)]
    pub require_digest: bool,

    /// Regular expressions (RE2 syntax) of image references that must not be
    /// used, matched against the full normalised reference, e.g. `.*/debug-tools(:.*)?$`.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub forbidden: Vec<String>,
}

/// Security context requirements, for every container (init and ephemeral included).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.runAsNonRoot || self.readOnlyRootFilesystem || self.disallowPrivilegeEscalation || \
     self.disallowPrivileged || self.dropCapabilities.size() > 0 || self.requireSeccompProfile"
).message("securityContext: set at least one requirement, e.g. runAsNonRoot: true"))]
pub struct SecurityContextCheck {
    /// Containers must run as a non-root user (`runAsNonRoot: true`, or a non-zero `runAsUser`).
    #[serde(default)]
    pub run_as_non_root: bool,
    /// Containers must have `readOnlyRootFilesystem: true`.
    #[serde(default)]
    pub read_only_root_filesystem: bool,
    /// Containers must have `allowPrivilegeEscalation: false`.
    #[serde(default)]
    pub disallow_privilege_escalation: bool,
    /// Containers must not be `privileged`.
    #[serde(default)]
    pub disallow_privileged: bool,
    /// Capabilities every container must drop, e.g. `ALL`.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(min = 1, max = 64)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub drop_capabilities: Vec<String>,
    /// A seccomp profile of type `RuntimeDefault` or `Localhost` must apply to
    /// every container (set on the pod or the container).
    #[serde(default)]
    pub require_seccomp_profile: bool,
}

/// Probes every regular container must declare.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.liveness || self.readiness || self.startup")
    .message("probes: require at least one of liveness, readiness, startup"))]
pub struct ProbesCheck {
    /// Require a liveness probe.
    #[serde(default)]
    pub liveness: bool,
    /// Require a readiness probe.
    #[serde(default)]
    pub readiness: bool,
    /// Require a startup probe.
    #[serde(default)]
    pub startup: bool,
}

/// A minimum number of replicas.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicasCheck {
    /// The least number of replicas, at least 1.
    #[schemars(range(min = 1, max = 10000))]
    pub minimum: i32,
}

/// A PodDisruptionBudget must cover the workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetCheck {
    /// Also fail when the budget allows no voluntary disruption at all
    /// (`maxUnavailable: 0`, or `minAvailable` equal to the replicas), which
    /// blocks node drains.
    #[serde(default)]
    pub forbid_blocking_budget: bool,
}

/// Host access that is forbidden.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.forbidHostNamespaces || self.forbidHostPath || self.forbidHostPorts")
    .message("hostAccess: forbid at least one of hostNamespaces, hostPath, hostPorts"))]
pub struct HostAccessCheck {
    /// Forbid `hostNetwork`, `hostPID` and `hostIPC`.
    #[serde(default)]
    pub forbid_host_namespaces: bool,
    /// Forbid `hostPath` volumes.
    #[serde(default)]
    pub forbid_host_path: bool,
    /// Forbid `hostPort` on container ports.
    #[serde(default)]
    pub forbid_host_ports: bool,
}

/// Service account token automounting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountTokenCheck {
    /// The pod spec must set `automountServiceAccountToken: false`. Defaults to true.
    #[serde(default = "yes")]
    pub forbid_automount: bool,
}

/// The workload must have an owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipCheck {
    /// Also require the ServiceOwnership to be complete: enough maintainers, a
    /// runbook, an on-call contact, and end of support not passed. Defaults to true.
    #[serde(default = "yes")]
    pub require_complete: bool,
    /// The least number of maintainers a complete ownership names ("three people
    /// per technology"). Defaults to 3.
    #[serde(default = "three")]
    #[schemars(range(min = 1, max = 100))]
    pub min_maintainers: i32,
}

impl Default for OwnershipCheck {
    fn default() -> Self {
        Self {
            require_complete: true,
            min_maintainers: 3,
        }
    }
}

fn yes() -> bool {
    true
}

fn three() -> i32 {
    3
}

/// Whether exceptions to the standard are allowed, and on what terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionPolicy {
    /// Whether StandardExceptions to this standard are honoured. Defaults to true.
    #[serde(default = "yes")]
    pub allowed: bool,

    /// The longest time an exception may last, from its creation to its
    /// `expiresAt`, as a duration such as `720h` (30 days). Absent means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("maxDuration must be positive, e.g. 720h"))]
    pub max_duration: Option<Duration>,

    /// Whether an exception must name a ticket (change or risk record).
    #[serde(default)]
    pub require_ticket: bool,
}

impl Default for ExceptionPolicy {
    fn default() -> Self {
        Self {
            allowed: true,
            max_duration: None,
            require_ticket: false,
        }
    }
}

/// When exceptions pile up, the standard itself is due for review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.maxActiveExceptions) || has(self.maxExceptedPercent) || has(self.interval)")
    .message("review: set maxActiveExceptions, maxExceptedPercent, interval, or several of them"))]
pub struct ReviewPolicy {
    /// Review is required when this many exceptions are active at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_active_exceptions: Option<i32>,

    /// Review is required when at least this percentage of the matched
    /// workloads is excepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_excepted_percent: Option<i32>,

    /// Review is required this long after the last review (or, before the
    /// first, after the standard's creation), e.g. `4380h` (half a year),
    /// whether or not exceptions pile up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("review.interval must be positive, e.g. 4380h"))]
    pub interval: Option<Duration>,
}

/// What the operator observed about a standard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct InfrastructureStandardStatus {
    /// `Ready` (the spec is valid), `ReviewRequired` (exceptions pile up, or
    /// a review is due) and `Enforced` (what admission checks).
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Workloads the standard matches.
    #[serde(default)]
    pub matched: i32,
    /// Matched workloads with no deviation.
    #[serde(default)]
    pub compliant: i32,
    /// Matched workloads with at least one deviation not covered by an exception.
    #[serde(default)]
    pub deviating: i32,
    /// Matched workloads whose every deviation is covered by an active exception.
    #[serde(default)]
    pub excepted: i32,

    /// Counts per rule, in the order of the spec.
    #[serde(default)]
    pub rules: Vec<RuleCounts>,

    /// Exceptions to this standard, by state.
    #[serde(default)]
    pub exceptions: ExceptionCounts,

    /// A capped, stably sorted sample of deviations.
    #[serde(default)]
    pub deviations: Sample<DeviationSummary>,

    /// The standard's lifecycle stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,

    /// The standard's current review, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewSummary>,

    /// While the standard is Deprecated: how far its workloads have moved to
    /// the successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
}

/// A standard's current review, as its status shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSummary {
    /// The StandardReview's name.
    pub name: String,
    /// Who reviewed.
    pub reviewed_by: String,
    /// The decision.
    pub outcome: super::review::ReviewOutcome,
    /// When the review was made (its creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<Time>,
    /// When the next review is due: the review's `nextReviewBy` or the
    /// standard's review interval after it, whichever comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_review_due: Option<Time>,
}

/// How far a Deprecated standard's workloads have moved to its successor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    /// The successor, when the lifecycle names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The sunset date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset: Option<Time>,
    /// Whether the sunset has passed.
    #[serde(default)]
    pub sunset_passed: bool,
    /// Workloads this standard matches.
    pub matched: i32,
    /// Of those, the ones the successor matches and that comply with it
    /// (or are excepted from it).
    pub migrated: i32,
    /// Of those, the ones not migrated yet.
    pub remaining: i32,
    /// A capped, stably sorted sample of the workloads not migrated yet.
    #[serde(default)]
    pub pending: Sample<PendingMigration>,
}

/// A workload that has not moved to a deprecated standard's successor yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingMigration {
    /// The workload.
    pub workload: WorkloadRef,
    /// Whether the successor matches it at all.
    pub successor_matches: bool,
    /// The successor's rules it deviates from, without an exception.
    #[serde(default)]
    pub open_rules: Vec<String>,
}

/// How many workloads deviate from one rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleCounts {
    /// The rule's id.
    pub id: String,
    /// Workloads deviating from the rule without an exception.
    pub deviating: i32,
    /// Workloads deviating from the rule with an active exception.
    pub excepted: i32,
}

/// Exceptions to a standard or baseline, by state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionCounts {
    /// Approved, not expired, and covering a deviation.
    pub active: i32,
    /// Approved and not expired, but what they cover complies without them.
    pub stale: i32,
    /// Past `expiresAt`.
    pub expired: i32,
    /// Not approved yet.
    pub pending: i32,
    /// Refused by validation.
    pub invalid: i32,
}

/// One deviation, as listed in a standard's status sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviationSummary {
    /// The deviating workload.
    pub workload: WorkloadRef,
    /// The rule it deviates from.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// What to fix.
    pub message: String,
}
