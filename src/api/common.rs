//! Types shared by several plumbline kinds: severities, workload kinds and
//! selection, dates, status summaries. Types only: no I/O and no evaluation.

use std::{borrow::Cow, fmt, str::FromStr};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How serious a deviation from a rule is. Also used for a service's criticality.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Severity {
    /// Lowest: worth fixing when convenient.
    Low,
    /// Should be fixed in the normal course of work.
    Medium,
    /// Should be fixed soon; may block a release.
    High,
    /// Must be fixed now; a risk to the platform or its users.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The name used in the API (`Critical`, `High`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    /// Case-insensitive, so `--fail-on high` and `High` both work.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown severity {s:?}: use one of Critical, High, Medium, Low")
            })
    }
}

/// A kind of workload plumbline evaluates, always through its pod template.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet (one a Deployment manages is evaluated through the Deployment).
    ReplicaSet,
    /// v1 ReplicationController.
    ReplicationController,
    /// batch/v1 CronJob.
    CronJob,
    /// batch/v1 Job (a Job created by a CronJob is evaluated through the CronJob).
    Job,
    /// v1 Pod (one a judged workload's controller made is evaluated through that workload).
    Pod,
}

impl WorkloadKind {
    /// Every supported kind.
    pub const ALL: [WorkloadKind; 8] = [
        Self::Deployment,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::ReplicaSet,
        Self::ReplicationController,
        Self::CronJob,
        Self::Job,
        Self::Pod,
    ];

    /// The kind's name as in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::ReplicaSet => "ReplicaSet",
            Self::ReplicationController => "ReplicationController",
            Self::CronJob => "CronJob",
            Self::Job => "Job",
            Self::Pod => "Pod",
        }
    }

    /// The kind's `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::Deployment | Self::StatefulSet | Self::DaemonSet | Self::ReplicaSet => "apps/v1",
            Self::CronJob | Self::Job => "batch/v1",
            Self::ReplicationController | Self::Pod => "v1",
        }
    }

    /// The kind's API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        self.api_version().split_once('/').map_or("", |(g, _)| g)
    }

    /// The kind's resource name, as in RBAC rules and admission matches.
    pub fn resource(self) -> &'static str {
        match self {
            Self::Deployment => "deployments",
            Self::StatefulSet => "statefulsets",
            Self::DaemonSet => "daemonsets",
            Self::ReplicaSet => "replicasets",
            Self::ReplicationController => "replicationcontrollers",
            Self::CronJob => "cronjobs",
            Self::Job => "jobs",
            Self::Pod => "pods",
        }
    }

    /// Kinds that keep `spec.replicas` copies of their pod running: the
    /// replicas and PodDisruptionBudget checks apply to them.
    pub fn replicated(self) -> bool {
        matches!(
            self,
            Self::Deployment | Self::StatefulSet | Self::ReplicaSet | Self::ReplicationController
        )
    }

    /// Kinds whose pods run to completion: probes do not apply to them.
    pub fn runs_to_completion(self) -> bool {
        matches!(self, Self::Job | Self::CronJob)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which workloads a standard or a patch baseline applies to. Every field
/// narrows the selection; an empty `match` selects every workload of every
/// supported kind in every namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadMatch {
    /// Kinds of workload to select. Empty or absent means every supported kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub kinds: Vec<WorkloadKind>,

    /// Selects namespaces by their labels. Absent means every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Selects workloads by their own labels (the workload's metadata labels,
    /// not its pod template's). Absent means every workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,

    /// Namespaces never selected, whatever their labels, e.g. `kube-system`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub excluded_namespaces: Vec<String>,
}

/// One workload named by kind and name, in the namespace of the object that names it.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadName {
    /// The workload's kind.
    pub kind: WorkloadKind,
    /// The workload's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to a workload in any namespace, as shown in status samples.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// The workload's kind.
    pub kind: WorkloadKind,
    /// The workload's namespace.
    pub namespace: String,
    /// The workload's name.
    pub name: String,
}

/// A calendar date such as `2027-06-30`, written `YYYY-MM-DD`. Used where a
/// day is precise enough: end of support, end of life, contract end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub jiff::civil::Date);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(d)?;
        text.parse::<jiff::civil::Date>().map(Date).map_err(|err| {
            serde::de::Error::custom(format!(
                "invalid date {text:?}: write a real calendar date as YYYY-MM-DD ({err})"
            ))
        })
    }
}

impl JsonSchema for Date {
    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date",
        })
    }
}

/// A sample of the items behind a count, capped so that status stays small at
/// any cluster size, with the number of items left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct Sample<T> {
    /// The first items, in a stable order.
    #[serde(default)]
    pub items: Vec<T>,
    /// How many items are not listed because of the cap.
    #[serde(default)]
    pub omitted: i32,
}

/// A rule of the form "this key must be present and, optionally, its value
/// must match a pattern", used for labels and annotations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequiredKey {
    /// The label or annotation key, e.g. `app.kubernetes.io/name`.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// A regular expression (RE2 syntax, unanchored unless written with
    /// `^...$`) the value must match. Absent means any value, even empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub value_pattern: Option<String>,
}

impl<T> Default for Sample<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            omitted: 0,
        }
    }
}
