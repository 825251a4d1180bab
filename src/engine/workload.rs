//! What the engine knows of a workload, a namespace and a
//! PodDisruptionBudget: only what evaluation needs, taken from the typed
//! Kubernetes objects (from the API server or from manifest files). Pure.

use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::{Pod as PodObject, PodTemplateSpec, ReplicationController},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::{apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};

use super::{
    containers::Pod,
    judged,
    selector::{Labels, Selector},
};
use crate::api::{WorkloadKind, common::WorkloadRef};

/// A workload, evaluated through its pod template.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its namespace (`default` when a manifest names none).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid, when it comes from the API server.
    pub uid: Option<String>,
    /// Its generation, when it comes from the API server.
    pub generation: Option<i64>,
    /// Its own labels (not its pod template's).
    pub labels: Labels,
    /// Its own annotations.
    pub annotations: Labels,
    /// Desired replicas, for the replicated kinds (1 when unset).
    pub replicas: Option<i32>,
    /// The pod template's labels, which PodDisruptionBudgets select.
    pub pod_labels: Labels,
    /// What evaluation needs of the pod template's spec.
    pub pod: Pod,
    /// The object, for CEL rules: kept by the operator only while some
    /// standard has a CEL rule, by `plumbline audit` always (as the
    /// document's text, read again only when a CEL rule matches).
    pub source: Option<Source>,
}

/// Where a CEL rule's `object` comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The object as `engine::cel::source_of` writes it (compact JSON).
    Object(std::sync::Arc<str>),
    /// One document of a manifest file (YAML or JSON), read as its kind
    /// when a CEL rule needs it.
    Manifest(std::sync::Arc<str>),
}

/// `kubectl apply` keeps a copy of the whole object in this annotation:
/// often the largest thing on an object, and never the subject of a rule.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn without_last_applied(mut annotations: Labels) -> Labels {
    annotations.remove(LAST_APPLIED);
    annotations
}

impl Workload {
    /// The reference used in status samples and reports.
    pub fn reference(&self) -> WorkloadRef {
        WorkloadRef {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    fn new(
        kind: WorkloadKind,
        meta: ObjectMeta,
        replicas: Option<i32>,
        template: Option<PodTemplateSpec>,
    ) -> Self {
        let template = template.unwrap_or_default();
        Self {
            kind,
            namespace: super::namespace_or_default(meta.namespace.as_deref()),
            name: meta.name.unwrap_or_default(),
            uid: meta.uid,
            generation: meta.generation,
            labels: meta.labels.unwrap_or_default().into(),
            annotations: without_last_applied(meta.annotations.unwrap_or_default().into()),
            replicas,
            pod_labels: template
                .metadata
                .and_then(|m| m.labels)
                .unwrap_or_default()
                .into(),
            pod: Pod::from_spec(template.spec.unwrap_or_default()),
            source: None,
        }
    }

    /// The same workload with its object kept for CEL rules.
    pub fn with_source(mut self, source: Option<Source>) -> Self {
        self.source = source;
        self
    }

    /// From a Deployment.
    pub fn from_deployment(d: Deployment) -> Self {
        let spec = d.spec;
        Self::new(
            WorkloadKind::Deployment,
            d.metadata,
            Some(spec.replicas.unwrap_or(1)),
            Some(spec.template),
        )
    }

    /// From a StatefulSet.
    pub fn from_stateful_set(s: StatefulSet) -> Self {
        let spec = s.spec;
        Self::new(
            WorkloadKind::StatefulSet,
            s.metadata,
            Some(spec.replicas.unwrap_or(1)),
            Some(spec.template),
        )
    }

    /// From a DaemonSet.
    pub fn from_daemon_set(d: DaemonSet) -> Self {
        let spec = d.spec;
        Self::new(
            WorkloadKind::DaemonSet,
            d.metadata,
            None,
            Some(spec.template),
        )
    }

    /// From a ReplicaSet; `None` for one a Deployment manages, which is
    /// evaluated through the Deployment.
    pub fn from_replica_set(r: ReplicaSet) -> Option<Self> {
        if judged::through_owner(WorkloadKind::ReplicaSet, &r.metadata) {
            return None;
        }
        let spec = r.spec;
        Some(Self::new(
            WorkloadKind::ReplicaSet,
            r.metadata,
            Some(spec.replicas.unwrap_or(1)),
            spec.template,
        ))
    }

    /// From a ReplicationController.
    pub fn from_replication_controller(r: ReplicationController) -> Self {
        let spec = r.spec.unwrap_or_default();
        Self::new(
            WorkloadKind::ReplicationController,
            r.metadata,
            Some(spec.replicas.unwrap_or(1)),
            spec.template,
        )
    }

    /// From a CronJob.
    pub fn from_cron_job(c: CronJob) -> Self {
        let template = c.spec.job_template.spec.map(|s| s.template);
        Self::new(WorkloadKind::CronJob, c.metadata, None, template)
    }

    /// From a Job; `None` for a Job a CronJob created, which is evaluated through the CronJob.
    pub fn from_job(j: Job) -> Option<Self> {
        if judged::through_owner(WorkloadKind::Job, &j.metadata) {
            return None;
        }
        let template = j.spec.map(|s| s.template);
        Some(Self::new(WorkloadKind::Job, j.metadata, None, template))
    }

    /// From a Pod; `None` for a Pod that a judged workload's controller made
    /// (a Pod of a TaskRun, a Workflow or any other owner is judged).
    pub fn from_pod(p: PodObject) -> Option<Self> {
        if judged::through_owner(WorkloadKind::Pod, &p.metadata) {
            return None;
        }
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: p.metadata.labels.clone(),
                ..Default::default()
            }),
            spec: p.spec,
        };
        Some(Self::new(
            WorkloadKind::Pod,
            p.metadata,
            None,
            Some(template),
        ))
    }
}

/// A namespace's name and labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Namespace {
    /// Its name.
    pub name: String,
    /// Its labels, with `kubernetes.io/metadata.name` as the API server sets it.
    pub labels: Labels,
}

impl Namespace {
    /// A namespace with these labels.
    pub fn new(name: impl Into<String>, mut labels: Labels) -> Self {
        let name = name.into();
        labels.insert("kubernetes.io/metadata.name".into(), name.clone());
        Self { name, labels }
    }

    /// From a Namespace object.
    pub fn from_object(ns: k8s_openapi::api::core::v1::Namespace) -> Self {
        Self::new(
            ns.metadata.name.unwrap_or_default(),
            ns.metadata.labels.unwrap_or_default().into(),
        )
    }
}

/// What a PodDisruptionBudget guarantees, and which pods it selects.
#[derive(Clone, Debug, PartialEq)]
pub struct DisruptionBudget {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its selector; `None` selects nothing (policy/v1: a null selector matches no pod).
    pub selector: Option<Selector>,
    /// `spec.minAvailable`.
    pub min_available: Option<IntOrString>,
    /// `spec.maxUnavailable`.
    pub max_unavailable: Option<IntOrString>,
}

impl DisruptionBudget {
    /// From a PodDisruptionBudget; a selector that does not compile selects nothing.
    pub fn from_object(pdb: PodDisruptionBudget) -> Self {
        let spec = pdb.spec.unwrap_or_default();
        Self {
            namespace: super::namespace_or_default(pdb.metadata.namespace.as_deref()),
            name: pdb.metadata.name.unwrap_or_default(),
            selector: spec
                .selector
                .as_ref()
                .and_then(|s| Selector::compile(s, "spec.selector").ok()),
            min_available: spec.min_available,
            max_unavailable: spec.max_unavailable,
        }
    }

    /// Whether the budget allows no voluntary disruption of a workload with this many replicas.
    pub fn blocks_disruption(&self, replicas: i32) -> bool {
        let percent = |s: &str| {
            s.strip_suffix('%')
                .and_then(|p| p.trim().parse::<i64>().ok())
        };
        match (&self.max_unavailable, &self.min_available) {
            (Some(IntOrString::Int(n)), _) => *n <= 0,
            (Some(IntOrString::String(s)), _) => {
                percent(s).is_some_and(|p| p * i64::from(replicas) < 100)
            }
            (None, Some(IntOrString::Int(n))) => *n >= replicas,
            (None, Some(IntOrString::String(s))) => {
                // minAvailable as a percentage rounds up.
                percent(s)
                    .is_some_and(|p| (p * i64::from(replicas) + 99) / 100 >= i64::from(replicas))
            }
            (None, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> DisruptionBudget {
        DisruptionBudget {
            namespace: "ns".into(),
            name: "pdb".into(),
            selector: Some(Selector::everything()),
            min_available: min,
            max_unavailable: max,
        }
    }

    #[test]
    fn blocking_budgets_are_recognised() {
        use IntOrString::{Int, String as Str};
        assert!(pdb(None, Some(Int(0))).blocks_disruption(3));
        assert!(!pdb(None, Some(Int(1))).blocks_disruption(3));
        assert!(pdb(None, Some(Str("0%".into()))).blocks_disruption(3));
        assert!(
            pdb(None, Some(Str("20%".into()))).blocks_disruption(3),
            "20% of 3 rounds down to 0"
        );
        assert!(!pdb(None, Some(Str("34%".into()))).blocks_disruption(3));
        assert!(pdb(Some(Int(3)), None).blocks_disruption(3));
        assert!(!pdb(Some(Int(2)), None).blocks_disruption(3));
        assert!(pdb(Some(Str("100%".into())), None).blocks_disruption(3));
        assert!(
            pdb(Some(Str("90%".into())), None).blocks_disruption(3),
            "90% of 3 rounds up to 3"
        );
        assert!(!pdb(Some(Str("50%".into())), None).blocks_disruption(3));
    }

    #[test]
    fn products_of_judged_owners_are_not_workloads() {
        let owned = |kind: &str| ObjectMeta {
            name: Some("x".into()),
            owner_references: Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: match kind {
                        "CronJob" => "batch/v1",
                        "ConfigMap" => "v1",
                        _ => "apps/v1",
                    }
                    .into(),
                    kind: kind.into(),
                    controller: Some(true),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        assert!(
            Workload::from_job(Job {
                metadata: owned("CronJob"),
                ..Default::default()
            })
            .is_none()
        );
        assert!(
            Workload::from_pod(PodObject {
                metadata: owned("ReplicaSet"),
                ..Default::default()
            })
            .is_none()
        );
        assert!(
            Workload::from_replica_set(ReplicaSet {
                metadata: owned("Deployment"),
                ..Default::default()
            })
            .is_none()
        );
        let foreign = Workload::from_pod(PodObject {
            metadata: owned("ConfigMap"),
            ..Default::default()
        });
        assert!(foreign.is_some(), "a Pod of another owner is judged");
        let bare = Workload::from_pod(PodObject {
            metadata: ObjectMeta {
                name: Some("debug".into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .expect("a bare pod is a workload");
        assert_eq!(bare.namespace, "default");
    }
}
