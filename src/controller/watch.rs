//! Reads the cluster: one shared reflector store per watched kind, with
//! managed fields stripped to save memory, and a signal raised on every
//! change. May read; never writes.

use std::{fmt::Debug, sync::Arc};

use futures::StreamExt;
use k8s_openapi::{
    api::{
        admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::{Namespace, Pod},
        policy::v1::PodDisruptionBudget,
    },
    serde::de::DeserializeOwned,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{
        WatchStreamExt, reflector,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use tokio::sync::Notify;

use super::write::Written;

use crate::engine::Workload;
use std::collections::HashMap;

use crate::api::{
    ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException,
};

/// Every store the operator evaluates from.
#[derive(Clone)]
pub struct Stores {
    /// Deployments.
    pub deployments: Reflected<Deployment>,
    /// StatefulSets.
    pub stateful_sets: Reflected<StatefulSet>,
    /// DaemonSets.
    pub daemon_sets: Reflected<DaemonSet>,
    /// CronJobs.
    pub cron_jobs: Reflected<CronJob>,
    /// Jobs.
    pub jobs: Reflected<Job>,
    /// Pods.
    pub pods: Reflected<Pod>,
    /// Namespaces.
    pub namespaces: Reflected<Namespace>,
    /// PodDisruptionBudgets.
    pub budgets: Reflected<PodDisruptionBudget>,
    /// Standards.
    pub standards: Reflected<InfrastructureStandard>,
    /// Exceptions.
    pub exceptions: Reflected<StandardException>,
    /// Baselines.
    pub baselines: Reflected<PatchBaseline>,
    /// Ownerships.
    pub ownerships: Reflected<ServiceOwnership>,
    /// The reports the operator wrote.
    pub reports: Reflected<ComplianceReport>,
    /// The admission policies the operator generated (by their label).
    pub policies: Reflected<ValidatingAdmissionPolicy>,
    /// Their bindings.
    pub bindings: Reflected<ValidatingAdmissionPolicyBinding>,
    /// Each workload object converted for the engine, by uid, with the
    /// resourceVersion it was converted at: a snapshot converts only what
    /// changed since the last one.
    converted: Arc<std::sync::Mutex<Converted>>,
}

type Converted = HashMap<String, (Option<String>, Option<Arc<Workload>>)>;

/// What the operator keeps of each watched kind. The cluster's own kinds are
/// read for their spec and metadata only: their status (which changes all
/// the time: Pod phases, rollout progress) is dropped, and a change to it
/// alone does not start an evaluation. plumbline's kinds keep their status:
/// the previous status is what Events are derived from.
pub trait Watched:
    Resource + Clone + Debug + DeserializeOwned + serde::Serialize + Send + Sync + 'static
{
    /// Whether only spec and metadata matter.
    const SPEC_ONLY: bool;
    /// Drops what evaluation never reads (managed fields are dropped for every kind).
    fn slim(&mut self) {}
}

macro_rules! spec_only {
    ($($kind:ty),*) => {$(
        impl Watched for $kind {
            const SPEC_ONLY: bool = true;
            fn slim(&mut self) {
                self.status = None;
            }
        }
    )*};
}
spec_only!(
    ValidatingAdmissionPolicy,
    Deployment,
    StatefulSet,
    DaemonSet,
    CronJob,
    Job,
    Pod,
    Namespace,
    PodDisruptionBudget
);

// A binding has no status: all of it is spec.
impl Watched for ValidatingAdmissionPolicyBinding {
    const SPEC_ONLY: bool = true;
}

macro_rules! with_status {
    ($($kind:ty),*) => {$(
        impl Watched for $kind {
            const SPEC_ONLY: bool = false;
        }
    )*};
}
with_status!(
    InfrastructureStandard,
    StandardException,
    PatchBaseline,
    ServiceOwnership,
    ComplianceReport
);

/// A digest of what evaluation reads of an object: all of it but its
/// resourceVersion (status and managed fields are gone already).
fn digest<K: Watched>(o: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut value = serde_json::to_value(o).unwrap_or_default();
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("resourceVersion");
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.to_string().hash(&mut hasher);
    hasher.finish()
}

/// Starts one reflector: its store, and a task that keeps it filled and
/// raises `changed` on every event that can change a verdict. Watch errors
/// are retried with backoff.
fn reflect<K>(api: Api<K>, changed: Arc<Notify>) -> Store<K>
where
    K: Watched,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    reflect_with(api, watcher::Config::default(), changed)
}

/// `reflect` with a watch configuration of its own (e.g. a label selector).
fn reflect_with<K>(api: Api<K>, config: watcher::Config, changed: Arc<Notify>) -> Store<K>
where
    K: Watched,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api, config.any_semantic())
            .default_backoff()
            .modify(|o: &mut K| {
                o.managed_fields_mut().clear();
                o.slim();
            }),
    );
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        // The digest of each object last seen, for spec-only kinds.
        let mut seen: std::collections::HashMap<String, u64> = Default::default();
        let key = |o: &K| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) if K::SPEC_ONLY => {
                    let d = digest(&o);
                    if seen.insert(key(&o), d) != Some(d) {
                        changed.notify_one();
                    }
                }
                Ok(watcher::Event::Delete(o)) => {
                    seen.remove(&key(&o));
                    changed.notify_one();
                }
                Ok(_) => changed.notify_one(),
                Err(err) => {
                    tracing::warn!(error = %err, kind = %K::kind(&Default::default()), "watch failed; retrying")
                }
            }
        }
    });
    store
}

/// The objects of one kind, from one reflector per watched namespace (or one
/// for the whole cluster).
#[derive(Clone)]
pub struct Reflected<K: Resource + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    stores: Vec<Store<K>>,
}

impl<K> Reflected<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    /// Every object, from every store.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.stores.iter().flat_map(Store::state).collect()
    }

    /// The resourceVersion of one object: `None` when absent.
    pub fn resource_version(&self, namespace: &str, name: &str) -> Option<Option<String>>
    where
        K::DynamicType: Default,
    {
        let key = if namespace.is_empty() {
            ObjectRef::new_with(name, Default::default())
        } else {
            ObjectRef::new_with(name, Default::default()).within(namespace)
        };
        self.stores
            .iter()
            .find_map(|s| s.get(&key))
            .map(|o| o.resource_version())
    }

    /// Waits until every store has its first full list.
    pub async fn wait_until_ready(&self) {
        futures::future::join_all(self.stores.iter().map(Store::wait_until_ready)).await;
    }
}

/// Which namespaces to watch: every one (empty), or these.
fn reflect_in<K>(client: &Client, namespaces: &[String], changed: &Arc<Notify>) -> Reflected<K>
where
    K: Watched + Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let stores = if namespaces.is_empty() {
        vec![reflect(Api::all(client.clone()), changed.clone())]
    } else {
        namespaces
            .iter()
            .map(|n| reflect(Api::namespaced(client.clone(), n), changed.clone()))
            .collect()
    };
    Reflected { stores }
}

fn reflect_cluster<K>(client: &Client, changed: &Arc<Notify>) -> Reflected<K>
where
    K: Watched,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    Reflected {
        stores: vec![reflect(Api::all(client.clone()), changed.clone())],
    }
}

/// The objects of a kind the operator generates, found by their label.
fn reflect_generated<K>(client: &Client, changed: &Arc<Notify>) -> Reflected<K>
where
    K: Watched,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (key, value) = crate::admission::policy::MANAGED_BY;
    let config = watcher::Config::default().labels(&format!("{key}={value}"));
    Reflected {
        stores: vec![reflect_with(
            Api::all(client.clone()),
            config,
            changed.clone(),
        )],
    }
}

/// Starts every reflector; a non-empty `namespaces` limits namespaced kinds
/// to those namespaces (one watch per namespace and kind).
pub fn start(client: &Client, namespaces: &[String], changed: Arc<Notify>) -> Stores {
    let c = &changed;
    Stores {
        deployments: reflect_in(client, namespaces, c),
        stateful_sets: reflect_in(client, namespaces, c),
        daemon_sets: reflect_in(client, namespaces, c),
        cron_jobs: reflect_in(client, namespaces, c),
        jobs: reflect_in(client, namespaces, c),
        pods: reflect_in(client, namespaces, c),
        namespaces: reflect_cluster(client, c),
        budgets: reflect_in(client, namespaces, c),
        standards: reflect_cluster(client, c),
        exceptions: reflect_in(client, namespaces, c),
        baselines: reflect_cluster(client, c),
        ownerships: reflect_in(client, namespaces, c),
        reports: reflect_in(client, namespaces, c),
        policies: reflect_generated(client, c),
        bindings: reflect_generated(client, c),
        converted: Default::default(),
    }
}

/// Converts the objects of one kind into workloads, reusing the conversion
/// of every object whose resourceVersion did not change.
fn convert<K: Watched>(
    objects: Vec<Arc<K>>,
    to_workload: impl Fn(K) -> Option<Workload>,
    previous: &Converted,
    next: &mut Converted,
    out: &mut Vec<Arc<Workload>>,
) {
    for o in objects {
        let key = o
            .uid()
            .unwrap_or_else(|| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()));
        let rv = o.resource_version();
        let workload = match previous.get(&key) {
            Some((seen, w)) if *seen == rv && rv.is_some() => w.clone(),
            _ => to_workload((*o).clone()).map(Arc::new),
        };
        out.extend(workload.clone());
        next.insert(key, (rv, workload));
    }
}

impl Stores {
    /// Whether the watches show this write (or something later).
    pub fn shows(&self, w: &Written) -> bool {
        let (ns, name) = (w.namespace.as_str(), w.name.as_str());
        let rv = match w.kind.as_str() {
            k if k == ComplianceReport::kind(&()) => self.reports.resource_version(ns, name),
            k if k == InfrastructureStandard::kind(&()) => {
                self.standards.resource_version(ns, name)
            }
            k if k == StandardException::kind(&()) => self.exceptions.resource_version(ns, name),
            k if k == PatchBaseline::kind(&()) => self.baselines.resource_version(ns, name),
            k if k == ServiceOwnership::kind(&()) => self.ownerships.resource_version(ns, name),
            k if k == ValidatingAdmissionPolicy::kind(&()) => {
                self.policies.resource_version(ns, name)
            }
            k if k == ValidatingAdmissionPolicyBinding::kind(&()) => {
                self.bindings.resource_version(ns, name)
            }
            _ => return true,
        };
        match rv {
            None => w.deleted,
            Some(rv) => !w.deleted && rv != w.before,
        }
    }

    /// Waits, at most `limit`, until the watches show every write of the
    /// last pass; returns the writes they still do not show.
    pub async fn catch_up(
        &self,
        written: Vec<Written>,
        limit: std::time::Duration,
    ) -> Vec<Written> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut pending = written;
        loop {
            pending.retain(|w| !self.shows(w));
            if pending.is_empty() || tokio::time::Instant::now() >= deadline {
                return pending;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

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
            self.policies.wait_until_ready(),
            self.bindings.wait_until_ready(),
        );
    }

    /// A snapshot of the stores as the engine's inputs.
    pub fn inputs(&self) -> crate::engine::Inputs {
        use crate::engine::{DisruptionBudget, Namespace as Ns};
        fn own<T: Clone>(v: Vec<Arc<T>>) -> Vec<T> {
            v.into_iter().map(|a| (*a).clone()).collect()
        }
        let mut converted = self.converted.lock().unwrap_or_else(|e| e.into_inner());
        let previous = std::mem::take(&mut *converted);
        let next = &mut *converted;
        let mut workloads = Vec::new();
        let out = &mut workloads;
        convert(
            self.deployments.state(),
            |d| Some(Workload::from_deployment(d)),
            &previous,
            next,
            out,
        );
        convert(
            self.stateful_sets.state(),
            |d| Some(Workload::from_stateful_set(d)),
            &previous,
            next,
            out,
        );
        convert(
            self.daemon_sets.state(),
            |d| Some(Workload::from_daemon_set(d)),
            &previous,
            next,
            out,
        );
        convert(
            self.cron_jobs.state(),
            |d| Some(Workload::from_cron_job(d)),
            &previous,
            next,
            out,
        );
        convert(self.jobs.state(), Workload::from_job, &previous, next, out);
        convert(self.pods.state(), Workload::from_pod, &previous, next, out);
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
