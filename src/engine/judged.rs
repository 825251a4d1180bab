//! Who is judged: an object of a workload kind is a workload of its own
//! unless its controlling owner is itself a workload kind plumbline judges,
//! of which it is the product (a Deployment's ReplicaSet, a CronJob's Job,
//! the Pods of a ReplicaSet, ReplicationController, StatefulSet, DaemonSet
//! or Job). One table, read by the background (through `Workload`'s
//! constructors) and by admission (which also knows which controller makes
//! each product). Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::api::WorkloadKind;

/// A kind of object a judged owner makes, and who makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product {
    /// The kind of the object made.
    pub kind: WorkloadKind,
    /// The kind of its controlling owner, judged in its place.
    pub owner: WorkloadKind,
    /// The kube-controller-manager controller that makes it: its service
    /// account in `kube-system` when the manager runs with
    /// `--use-service-account-credentials` (the default of kubeadm and most
    /// distributions).
    pub controller: &'static str,
}

/// The user name kube-controller-manager has when it uses its own
/// credentials for every controller.
pub const CONTROLLER_MANAGER: &str = "system:kube-controller-manager";

/// Every object a judged owner makes: evaluated through that owner, never on its own.
pub const PRODUCTS: [Product; 7] = [
    Product {
        kind: WorkloadKind::ReplicaSet,
        owner: WorkloadKind::Deployment,
        controller: "deployment-controller",
    },
    Product {
        kind: WorkloadKind::Job,
        owner: WorkloadKind::CronJob,
        controller: "cronjob-controller",
    },
    Product {
        kind: WorkloadKind::Pod,
        owner: WorkloadKind::ReplicaSet,
        controller: "replicaset-controller",
    },
    Product {
        kind: WorkloadKind::Pod,
        owner: WorkloadKind::ReplicationController,
        controller: "replication-controller",
    },
    Product {
        kind: WorkloadKind::Pod,
        owner: WorkloadKind::StatefulSet,
        controller: "statefulset-controller",
    },
    Product {
        kind: WorkloadKind::Pod,
        owner: WorkloadKind::DaemonSet,
        controller: "daemon-set-controller",
    },
    Product {
        kind: WorkloadKind::Pod,
        owner: WorkloadKind::Job,
        controller: "job-controller",
    },
];

impl Product {
    /// The user names the API server sees when this controller writes.
    pub fn identities(&self) -> [String; 2] {
        [
            CONTROLLER_MANAGER.to_string(),
            format!("system:serviceaccount:kube-system:{}", self.controller),
        ]
    }
}

/// Whether an owner reference names this kind (by kind and API group;
/// the version does not matter).
pub fn refers_to(owner: &OwnerReference, kind: WorkloadKind) -> bool {
    let group = owner.api_version.split_once('/').map_or("", |(g, _)| g);
    owner.kind == kind.as_str() && group == kind.group()
}

/// The controlling owner of an object, if it has one.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

/// Whether an object of `kind` is the product of a judged owner, and so is
/// evaluated through that owner rather than as a workload of its own.
pub fn through_owner(kind: WorkloadKind, meta: &ObjectMeta) -> bool {
    controller_of(meta).is_some_and(|owner| {
        PRODUCTS
            .iter()
            .any(|p| p.kind == kind && refers_to(owner, p.owner))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(kind: &str, api_version: &str, controller: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: api_version.into(),
                kind: kind.into(),
                name: "owner".into(),
                uid: "u".into(),
                controller: Some(controller),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn products_of_judged_owners_are_judged_through_them() {
        use WorkloadKind::*;
        for (kind, owner, api) in [
            (ReplicaSet, "Deployment", "apps/v1"),
            (Job, "CronJob", "batch/v1"),
            (Pod, "ReplicaSet", "apps/v1"),
            (Pod, "ReplicationController", "v1"),
            (Pod, "StatefulSet", "apps/v1"),
            (Pod, "DaemonSet", "apps/v1"),
            (Pod, "Job", "batch/v1"),
        ] {
            assert!(
                through_owner(kind, &owned(owner, api, true)),
                "{kind} of {owner}"
            );
            assert!(
                !through_owner(kind, &owned(owner, api, false)),
                "{kind} with a non-controller {owner} owner is a workload"
            );
        }
    }

    #[test]
    fn anything_else_is_a_workload_of_its_own() {
        use WorkloadKind::*;
        for (kind, owner, api) in [
            // Argo Rollouts' ReplicaSets, Tekton's and Argo Workflows' Pods.
            (ReplicaSet, "Rollout", "argoproj.io/v1alpha1"),
            (Pod, "TaskRun", "tekton.dev/v1"),
            (Pod, "Workflow", "argoproj.io/v1alpha1"),
            (Pod, "ConfigMap", "v1"),
            // A kind of the right name in another group.
            (Pod, "ReplicaSet", "example.com/v1"),
            // Right owner, wrong product.
            (Pod, "Deployment", "apps/v1"),
            (Pod, "CronJob", "batch/v1"),
            (Job, "Deployment", "apps/v1"),
            (ReplicaSet, "ReplicaSet", "apps/v1"),
            (Deployment, "Deployment", "apps/v1"),
        ] {
            assert!(
                !through_owner(kind, &owned(owner, api, true)),
                "{kind} of {owner} ({api})"
            );
        }
        assert!(!through_owner(Pod, &ObjectMeta::default()));
    }

    #[test]
    fn each_product_names_its_controller_identities() {
        let rs = PRODUCTS
            .iter()
            .find(|p| p.kind == WorkloadKind::Pod && p.owner == WorkloadKind::ReplicaSet)
            .unwrap();
        assert_eq!(
            rs.identities(),
            [
                "system:kube-controller-manager",
                "system:serviceaccount:kube-system:replicaset-controller"
            ]
        );
    }
}
