//! Reads the cluster: one shared reflector store per watched kind, with
//! managed fields stripped to save memory, and a signal raised on every
//! change. May read; never writes.

use std::{fmt::Debug, sync::Arc};

use futures::StreamExt;
use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::{Namespace, Pod},
        policy::v1::PodDisruptionBudget,
    },
    serde::de::DeserializeOwned,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{WatchStreamExt, reflector, reflector::Store, watcher},
};
use tokio::sync::Notify;

use crate::api::{
    ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException,
};

/// Every store the operator evaluates from.
#[derive(Clone)]
pub struct Stores {
    /// Deployments.
    pub deployments: Store<Deployment>,
    /// StatefulSets.
    pub stateful_sets: Store<StatefulSet>,
    /// DaemonSets.
    pub daemon_sets: Store<DaemonSet>,
    /// CronJobs.
    pub cron_jobs: Store<CronJob>,
    /// Jobs.
    pub jobs: Store<Job>,
    /// Pods.
    pub pods: Store<Pod>,
    /// Namespaces.
    pub namespaces: Store<Namespace>,
    /// PodDisruptionBudgets.
    pub budgets: Store<PodDisruptionBudget>,
    /// Standards.
    pub standards: Store<InfrastructureStandard>,
    /// Exceptions.
    pub exceptions: Store<StandardException>,
    /// Baselines.
    pub baselines: Store<PatchBaseline>,
    /// Ownerships.
    pub ownerships: Store<ServiceOwnership>,
    /// The reports the operator wrote.
    pub reports: Store<ComplianceReport>,
}

/// Starts one reflector: its store, and a task that keeps it filled and
/// raises `changed` on every event. Watch errors are retried with backoff.
fn reflect<K>(api: Api<K>, changed: Arc<Notify>) -> Store<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(|o: &mut K| o.managed_fields_mut().clear()),
    );
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(err) => {
                    tracing::warn!(error = %err, kind = %K::kind(&Default::default()), "watch failed; retrying")
                }
            }
        }
    });
    store
}

/// Starts every reflector; `namespace` limits namespaced kinds to one namespace.
pub fn start(client: &Client, namespace: Option<&str>, changed: Arc<Notify>) -> Stores {
    fn ns<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match namespace {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        }
    }
    let c = || changed.clone();
    Stores {
        deployments: reflect(ns(client, namespace), c()),
        stateful_sets: reflect(ns(client, namespace), c()),
        daemon_sets: reflect(ns(client, namespace), c()),
        cron_jobs: reflect(ns(client, namespace), c()),
        jobs: reflect(ns(client, namespace), c()),
        pods: reflect(ns(client, namespace), c()),
        namespaces: reflect(Api::all(client.clone()), c()),
        budgets: reflect(ns(client, namespace), c()),
        standards: reflect(Api::all(client.clone()), c()),
        exceptions: reflect(ns(client, namespace), c()),
        baselines: reflect(Api::all(client.clone()), c()),
        ownerships: reflect(ns(client, namespace), c()),
        reports: reflect(ns(client, namespace), c()),
    }
}

impl Stores {
    /// Waits until every store has its first full list.
    pub async fn ready(&self) {
        let _ = tokio::join!(
            self.deployments.wait_until_ready(),
            self.stateful_sets.wait_until_ready(),
            self.daemon_sets.wait_until_ready(),
            self.cron_jobs.wait_until_ready(),
            self.jobs.wait_until_ready(),
            self.pods.wait_until_ready(),
            self.namespaces.wait_until_ready(),
            self.budgets.wait_until_ready(),
            self.standards.wait_until_ready(),
            self.exceptions.wait_until_ready(),
            self.baselines.wait_until_ready(),
            self.ownerships.wait_until_ready(),
            self.reports.wait_until_ready(),
        );
    }

    /// A snapshot of the stores as the engine's inputs.
    pub fn inputs(&self) -> crate::engine::Inputs {
        use crate::engine::{DisruptionBudget, Namespace as Ns, Workload};
        fn own<T: Clone>(v: Vec<Arc<T>>) -> Vec<T> {
            v.into_iter().map(|a| (*a).clone()).collect()
        }
        let mut workloads = Vec::new();
        workloads.extend(
            self.deployments
                .state()
                .iter()
                .map(|d| Workload::from_deployment((**d).clone())),
        );
        workloads.extend(
            self.stateful_sets
                .state()
                .iter()
                .map(|d| Workload::from_stateful_set((**d).clone())),
        );
        workloads.extend(
            self.daemon_sets
                .state()
                .iter()
                .map(|d| Workload::from_daemon_set((**d).clone())),
        );
        workloads.extend(
            self.cron_jobs
                .state()
                .iter()
                .map(|d| Workload::from_cron_job((**d).clone())),
        );
        workloads.extend(
            self.jobs
                .state()
                .iter()
                .filter_map(|d| Workload::from_job((**d).clone())),
        );
        workloads.extend(
            self.pods
                .state()
                .iter()
                .filter_map(|d| Workload::from_pod((**d).clone())),
        );
        // A stable order, so that samples and writes do not depend on watch order.
        workloads
            .sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
        let mut standards = own(self.standards.state());
        standards.sort_by_key(|s: &InfrastructureStandard| s.name_any());
        let mut exceptions = own(self.exceptions.state());
        exceptions.sort_by_key(|s: &StandardException| (s.namespace(), s.name_any()));
        let mut baselines = own(self.baselines.state());
        baselines.sort_by_key(|s: &PatchBaseline| s.name_any());
        let mut ownerships = own(self.ownerships.state());
        ownerships.sort_by_key(|s: &ServiceOwnership| (s.namespace(), s.name_any()));
        crate::engine::Inputs {
            workloads,
            namespaces: self
                .namespaces
                .state()
                .iter()
                .map(|n| Ns::from_object((**n).clone()))
                .collect(),
            budgets: self
                .budgets
                .state()
                .iter()
                .map(|b| DisruptionBudget::from_object((**b).clone()))
                .collect(),
            standards,
            exceptions,
            baselines,
            ownerships,
        }
    }
}
