//! What the operator knows of the cluster: one cache per watched kind (and
//! namespace), filled by `watch` or, in tests, from objects
//! (`Stores::from_objects`), and everything read from them: the engine's
//! inputs, whether the watches show a write yet. Every `impl Stores` is
//! here. Reads and fills caches; never calls the API server.

use std::{fmt::Debug, sync::Arc, time::Duration};

use k8s_openapi::api::{
    admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
    core::v1::Namespace,
};
use kube::{Resource, ResourceExt, api::DynamicObject, runtime::watcher};

use super::{
    cache::{Applied, Cache, Entry},
    seen::SeenReport,
};
use crate::{
    api::{
        ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership,
        StandardException, StandardReview,
    },
    engine::{DisruptionBudget, Inputs, Namespace as EngineNamespace, Workload, review::Review},
};

/// Every cache the operator evaluates and writes from.
#[derive(Clone)]
pub struct Stores {
    /// Workloads of every kind, as the engine models them.
    pub workloads: Caches<Workload>,
    /// Namespaces (metadata only).
    pub namespaces: Caches<Namespace>,
    /// PodDisruptionBudgets, as the engine models them.
    pub budgets: Caches<DisruptionBudget>,
    /// Standards.
    pub standards: Caches<InfrastructureStandard>,
    /// Exceptions.
    pub exceptions: Caches<StandardException>,
    /// Baselines.
    pub baselines: Caches<PatchBaseline>,
    /// Ownerships.
    pub ownerships: Caches<ServiceOwnership>,
    /// Standard reviews: in full while they count, slim once superseded.
    pub reviews: Caches<Review>,
    /// What decides whether each report the operator wrote needs a write.
    pub reports: Caches<SeenReport>,
    /// The admission policies the operator generated (by their label).
    pub policies: Caches<ValidatingAdmissionPolicy>,
    /// Their bindings.
    pub bindings: Caches<ValidatingAdmissionPolicyBinding>,
    /// Whether workloads keep their objects, for CEL rules.
    pub sources: Sources,
}

/// Whether the workload caches keep each workload's object (which CEL rules
/// read, and which costs memory), and the signal that makes the workload
/// watches list again so that the objects already cached are kept (or
/// dropped) too.
#[derive(Clone)]
pub struct Sources {
    on: Arc<std::sync::atomic::AtomicBool>,
    relist: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Sources {
    /// Off (or on), with no watch listening yet.
    pub fn new(on: bool) -> Self {
        Self {
            on: Arc::new(std::sync::atomic::AtomicBool::new(on)),
            relist: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// Whether objects are kept.
    pub fn on(&self) -> bool {
        self.on.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps (or stops keeping) objects, and has the workload watches list
    /// again; `false` when nothing changed.
    pub fn set(&self, on: bool) -> bool {
        if self.on.swap(on, std::sync::atomic::Ordering::SeqCst) == on {
            return false;
        }
        self.relist.send_modify(|n| *n += 1);
        true
    }

    /// What a workload watch listens to for a new list.
    pub fn relists(&self) -> tokio::sync::watch::Receiver<u64> {
        self.relist.subscribe()
    }

    /// The flag the workload caches' `keep` reads.
    pub fn flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.on.clone()
    }
}

/// The caches of one kind: one per watched namespace, or one for the cluster.
pub struct Caches<T> {
    pub(super) caches: Vec<Arc<Cache<T>>>,
}

impl<T> Clone for Caches<T> {
    fn clone(&self) -> Self {
        Self {
            caches: self.caches.clone(),
        }
    }
}

impl<T> Caches<T> {
    /// Every kept value.
    pub fn values(&self) -> Vec<Arc<T>> {
        self.caches.iter().flat_map(|c| c.values()).collect()
    }

    /// Every kept value with its namespace, name and resourceVersion.
    pub fn entries(&self) -> Vec<(super::cache::Key, Entry<T>)> {
        self.caches.iter().flat_map(|c| c.entries()).collect()
    }

    /// One object's entry.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Entry<T>> {
        self.caches.iter().find_map(|c| c.get(namespace, name))
    }

    /// One object's resourceVersion as the cache saw it; `None` when absent.
    pub fn resource_version(&self, namespace: &str, name: &str) -> Option<Option<String>> {
        self.get(namespace, name).map(|e| e.resource_version)
    }

    /// The keys of the entries `pred` selects.
    pub fn select(
        &self,
        mut pred: impl FnMut(&super::cache::Key, &Entry<T>) -> bool,
    ) -> Vec<super::cache::Key> {
        self.caches
            .iter()
            .flat_map(|c| c.select(&mut pred))
            .collect()
    }

    /// Waits until every cache has its first full list.
    pub async fn wait_until_ready(&self) {
        futures::future::join_all(self.caches.iter().map(|c| c.wait_until_ready())).await;
    }
}

impl<K: Resource + Clone> Caches<K> {
    /// Every object, with the resourceVersion it was seen at (the cache
    /// keeps it beside the object, so that a new version of an unchanged
    /// object does not count as a change).
    pub fn objects(&self) -> Vec<K> {
        self.entries()
            .into_iter()
            .map(|(_, e)| {
                let mut o = (*e.value).clone();
                o.meta_mut().resource_version = e.resource_version;
                o
            })
            .collect()
    }
}

/// One object the writer changed, so that the caller can wait until its
/// watch shows the change: a pass that read the object from a store still
/// holding the version from before the write would write it (and raise its
/// Events) again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The kind.
    pub kind: String,
    /// The namespace (empty when cluster-scoped).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// Its resourceVersion before the write (none: it did not exist).
    pub before: Option<String>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// What the caches keep of each kind, for the watches and for stores built
/// from objects alike: the engine's model where it has one, and otherwise
/// the object without what changes with every write and is never read.
pub mod keep {
    use k8s_openapi::api::{
        admissionregistration::v1::ValidatingAdmissionPolicy,
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::{Namespace, Pod, ReplicationController},
        policy::v1::PodDisruptionBudget,
    };
    use kube::Resource;

    use crate::{
        api::{ComplianceReport, StandardReview},
        controller::seen::SeenReport,
        engine::{DisruptionBudget, Workload, review::Review},
    };

    /// An object without its resourceVersion (kept beside it) and managed fields.
    fn object<K: Resource>(mut o: K) -> K {
        let meta = o.meta_mut();
        meta.resource_version = None;
        meta.managed_fields = None;
        o
    }

    /// A plumbline object: its status stays (Events are derived from it).
    pub fn own<K: Resource>(o: K) -> Option<K> {
        Some(object(o))
    }

    /// A workload with its object when `sources` is on (see `Sources`).
    pub fn workload<K: serde::Serialize>(
        x: K,
        sources: bool,
        model: fn(K) -> Option<Workload>,
    ) -> Option<Workload> {
        let source = sources
            .then(|| crate::engine::cel::source_of(&x))
            .flatten()
            .map(crate::engine::Source::Object);
        model(x).map(|w| w.with_source(source))
    }

    /// Workloads, as the engine models them (`None`: a Pod or ReplicaSet
    /// that a controller owns, judged through its owner).
    pub fn deployment(x: Deployment) -> Option<Workload> {
        Some(Workload::from_deployment(x))
    }
    pub fn stateful_set(x: StatefulSet) -> Option<Workload> {
        Some(Workload::from_stateful_set(x))
    }
    pub fn daemon_set(x: DaemonSet) -> Option<Workload> {
        Some(Workload::from_daemon_set(x))
    }
    pub fn replica_set(x: ReplicaSet) -> Option<Workload> {
        Workload::from_replica_set(x)
    }
    pub fn replication_controller(x: ReplicationController) -> Option<Workload> {
        Some(Workload::from_replication_controller(x))
    }
    pub fn cron_job(x: CronJob) -> Option<Workload> {
        Some(Workload::from_cron_job(x))
    }
    pub fn job(x: Job) -> Option<Workload> {
        Workload::from_job(x)
    }
    pub fn pod(x: Pod) -> Option<Workload> {
        Workload::from_pod(x)
    }

    /// A namespace: its metadata only.
    pub fn namespace(n: Namespace) -> Option<Namespace> {
        let mut n = object(n);
        n.spec = None;
        n.status = None;
        Some(n)
    }

    /// A PodDisruptionBudget, as the engine models it.
    pub fn budget(b: PodDisruptionBudget) -> Option<DisruptionBudget> {
        Some(DisruptionBudget::from_object(b))
    }

    /// A review: whole while it counts, slim once settled.
    pub fn review(r: StandardReview) -> Option<Review> {
        Some(Review::cached(r))
    }

    /// A report: what decides its next write.
    pub fn report(r: ComplianceReport) -> Option<SeenReport> {
        Some(SeenReport::new(&r))
    }

    /// A generated admission policy, without the status the API server writes.
    pub fn policy(p: ValidatingAdmissionPolicy) -> Option<ValidatingAdmissionPolicy> {
        let mut p = object(p);
        p.status = None;
        Some(p)
    }
}

/// The workload kinds, in the order of `Stores::workloads`' caches when the
/// stores are built from objects.
const WORKLOAD_KINDS: [&str; 8] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "CronJob",
    "Job",
    "Pod",
];

/// Why an object cannot be put in the stores.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No cache keeps objects of this kind.
    #[error(
        "no store keeps {api_version} {kind} (object {name}): the operator does not watch this kind"
    )]
    UnknownKind {
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// The object does not parse as its kind.
    #[error("{kind} {name} is not a valid {kind}: {source}")]
    Invalid {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// What is wrong.
        source: serde_json::Error,
    },
}

/// One cache, already listed (empty): a store built from objects.
fn listed<T: PartialEq>() -> Arc<Cache<T>> {
    let cache = Cache::new();
    cache.apply(watcher::Event::<Namespace>::Init, |_| None);
    cache.apply(watcher::Event::<Namespace>::InitDone, |_| None);
    cache
}

fn one<T: PartialEq>() -> Caches<T> {
    Caches {
        caches: vec![listed()],
    }
}

/// Applies (or deletes) `object` as its kind in `cache`, keeping `keep(object)`.
fn put<K, T>(
    cache: &Cache<T>,
    object: &DynamicObject,
    delete: bool,
    keep: impl Fn(K) -> Option<T>,
) -> Result<Applied, StoreError>
where
    K: Resource + serde::de::DeserializeOwned,
    T: PartialEq,
{
    let typed: K = serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(|source| StoreError::Invalid {
            kind: object
                .types
                .as_ref()
                .map(|t| t.kind.clone())
                .unwrap_or_default(),
            name: object.name_any(),
            source,
        })?;
    Ok(if delete {
        cache.apply(watcher::Event::Delete(typed), keep)
    } else {
        cache.apply(watcher::Event::Apply(typed), keep)
    })
}

impl Stores {
    /// Stores holding these objects, as if every watch had listed them:
    /// what the in-process tests plan from, with no API server. Objects of
    /// a kind the operator does not watch are refused.
    pub fn from_objects<'o>(
        objects: impl IntoIterator<Item = &'o DynamicObject>,
    ) -> Result<Self, StoreError> {
        let stores = Self {
            workloads: Caches {
                caches: WORKLOAD_KINDS.iter().map(|_| listed()).collect(),
            },
            namespaces: one(),
            budgets: one(),
            standards: one(),
            exceptions: one(),
            baselines: one(),
            ownerships: one(),
            reviews: one(),
            reports: one(),
            policies: one(),
            bindings: one(),
            // Tests' objects are few: their workloads keep their objects.
            sources: Sources::new(true),
        };
        for o in objects {
            stores.apply(o)?;
        }
        Ok(stores)
    }

    /// Applies one object as its watch event would (created or changed);
    /// only for stores built from objects, whose caches are one per kind.
    pub fn apply(&self, object: &DynamicObject) -> Result<Applied, StoreError> {
        self.put(object, false)
    }

    /// Removes one object as its watch's delete event would.
    pub fn delete(&self, object: &DynamicObject) -> Result<Applied, StoreError> {
        self.put(object, true)
    }

    fn put(&self, o: &DynamicObject, delete: bool) -> Result<Applied, StoreError> {
        let (api_version, kind) = o
            .types
            .as_ref()
            .map(|t| (t.api_version.as_str(), t.kind.as_str()))
            .unwrap_or_default();
        let workloads = |kind: &str| {
            let i = WORKLOAD_KINDS.iter().position(|k| *k == kind).unwrap_or(0);
            self.workloads.caches[i].clone()
        };
        let d = delete;
        match (api_version, kind) {
            ("apps/v1", "Deployment") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::deployment)
            }),
            ("apps/v1", "StatefulSet") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::stateful_set)
            }),
            ("apps/v1", "DaemonSet") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::daemon_set)
            }),
            ("apps/v1", "ReplicaSet") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::replica_set)
            }),
            ("v1", "ReplicationController") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::replication_controller)
            }),
            ("batch/v1", "CronJob") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::cron_job)
            }),
            ("batch/v1", "Job") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::job)
            }),
            ("v1", "Pod") => put(&workloads(kind), o, d, |x| {
                keep::workload(x, true, keep::pod)
            }),
            ("v1", "Namespace") => put(&self.namespaces.caches[0], o, d, keep::namespace),
            ("policy/v1", "PodDisruptionBudget") => {
                put(&self.budgets.caches[0], o, d, keep::budget)
            }
            (v, k)
                if v == InfrastructureStandard::api_version(&())
                    && k == InfrastructureStandard::kind(&()) =>
            {
                put(
                    &self.standards.caches[0],
                    o,
                    d,
                    keep::own::<InfrastructureStandard>,
                )
            }
            (v, k)
                if v == StandardException::api_version(&())
                    && k == StandardException::kind(&()) =>
            {
                put(
                    &self.exceptions.caches[0],
                    o,
                    d,
                    keep::own::<StandardException>,
                )
            }
            (v, k) if v == PatchBaseline::api_version(&()) && k == PatchBaseline::kind(&()) => {
                put(&self.baselines.caches[0], o, d, keep::own::<PatchBaseline>)
            }
            (v, k)
                if v == ServiceOwnership::api_version(&()) && k == ServiceOwnership::kind(&()) =>
            {
                put(
                    &self.ownerships.caches[0],
                    o,
                    d,
                    keep::own::<ServiceOwnership>,
                )
            }
            (v, k) if v == StandardReview::api_version(&()) && k == StandardReview::kind(&()) => {
                put(&self.reviews.caches[0], o, d, keep::review)
            }
            (v, k)
                if v == ComplianceReport::api_version(&()) && k == ComplianceReport::kind(&()) =>
            {
                put(&self.reports.caches[0], o, d, keep::report)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy") => {
                put(&self.policies.caches[0], o, d, keep::policy)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding") => put(
                &self.bindings.caches[0],
                o,
                d,
                keep::own::<ValidatingAdmissionPolicyBinding>,
            ),
            (v, k) => Err(StoreError::UnknownKind {
                api_version: v.to_string(),
                kind: k.to_string(),
                name: o.name_any(),
            }),
        }
    }

    /// A snapshot of the caches as the engine's inputs. Workloads are
    /// shared with the caches (converted once, when their watch event came).
    pub fn inputs(&self) -> Inputs {
        let mut workloads = self.workloads.values();
        workloads
            .sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
        let mut standards = self.standards.objects();
        standards.sort_by_key(|s| s.name_any());
        let mut exceptions = self.exceptions.objects();
        exceptions.sort_by_key(|s| (s.namespace(), s.name_any()));
        let mut baselines = self.baselines.objects();
        baselines.sort_by_key(|s| s.name_any());
        let mut ownerships = self.ownerships.objects();
        ownerships.sort_by_key(|s| (s.namespace(), s.name_any()));
        let mut budgets: Vec<_> = self
            .budgets
            .values()
            .iter()
            .map(|b| (**b).clone())
            .collect();
        budgets.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let mut reviews = self.reviews.values();
        reviews.sort_by(|a, b| a.name.cmp(&b.name));
        Inputs {
            workloads,
            namespaces: self
                .namespaces
                .values()
                .iter()
                .map(|n| EngineNamespace::from_object((**n).clone()))
                .collect(),
            budgets,
            standards,
            exceptions,
            baselines,
            ownerships,
            reviews,
        }
    }

    /// How many full lists each workload cache has applied.
    pub fn workload_lists(&self) -> Vec<u64> {
        self.workloads.caches.iter().map(|c| c.lists()).collect()
    }

    /// Whether every workload cache has listed again since `marks` (from
    /// `workload_lists`).
    pub fn workloads_listed_since(&self, marks: &[u64]) -> bool {
        self.workloads
            .caches
            .iter()
            .zip(marks)
            .all(|(c, m)| c.lists() > *m)
    }

    /// Waits until every cache has its first full list.
    pub async fn ready(&self) {
        let _ = tokio::join!(
            self.workloads.wait_until_ready(),
            self.namespaces.wait_until_ready(),
            self.budgets.wait_until_ready(),
            self.standards.wait_until_ready(),
            self.exceptions.wait_until_ready(),
            self.baselines.wait_until_ready(),
            self.ownerships.wait_until_ready(),
            self.reviews.wait_until_ready(),
            self.reports.wait_until_ready(),
            self.policies.wait_until_ready(),
            self.bindings.wait_until_ready(),
        );
    }

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
            k if k == StandardReview::kind(&()) => self.reviews.resource_version(ns, name),
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
    pub async fn catch_up(&self, written: Vec<Written>, limit: Duration) -> Vec<Written> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut pending = written;
        loop {
            pending.retain(|w| !self.shows(w));
            if pending.is_empty() || tokio::time::Instant::now() >= deadline {
                return pending;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
