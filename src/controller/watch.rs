//! Reads the cluster: one watch per kind (and per namespace, when limited),
//! each feeding a cache of only what the operator needs of its objects, and
//! a signal raised whenever that changes. May read; never writes.

use std::{fmt::Debug, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    api::{
        admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
        core::v1::Namespace,
        policy::v1::PodDisruptionBudget,
    },
    serde::de::DeserializeOwned,
};
use kube::{
    Api, Client, Resource,
    runtime::{
        WatchStreamExt,
        utils::ResetTimerBackoff,
        watcher::{self, watcher},
    },
};
use tokio::sync::Notify;

use super::{
    backoff::Doubling,
    cache::{Applied, Cache, Entry},
    seen::SeenReport,
};
use crate::{
    api::{
        ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership,
        StandardException, StandardReview,
    },
    engine::{DisruptionBudget, Workload, review::Review},
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
}

/// The caches of one kind: one per watched namespace, or one for the cluster.
pub struct Caches<T> {
    caches: Vec<Arc<Cache<T>>>,
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

/// How soon a failed watch is retried: from 0.5 s, doubling up to 2 s
/// (kube's default grows to 30 s, which after an API server restart left
/// the operator blind for up to half a minute), back to 0.5 s after two
/// minutes without failure. A handful of watches retrying every 2 s is no
/// load for an API server that is down.
fn backoff() -> ResetTimerBackoff<Doubling> {
    ResetTimerBackoff::new(
        Doubling::new(Duration::from_millis(500), Duration::from_secs(2)),
        Duration::from_secs(120),
    )
}

/// Starts one watch feeding `cache` with `keep(object)`; raises `changed`
/// whenever what the cache holds changes. Watch errors are retried with
/// `backoff`.
fn feed<K, T>(
    api: Api<K>,
    config: watcher::Config,
    keep: fn(K) -> Option<T>,
    changed: Arc<Notify>,
) -> Arc<Cache<T>>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
    T: PartialEq + Send + Sync + 'static,
{
    let cache = Cache::new();
    let fed = cache.clone();
    // Not `any_semantic`: a list at resourceVersion 0 is served whole from
    // the API server's cache, ignoring the page size (10,000 objects
    // decoded at once); a consistent list is paged.
    let stream = watcher(api, config).backoff(backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    if fed.apply(event, keep) == Applied::Changed {
                        changed.notify_one();
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, kind = %K::kind(&Default::default()), "watch failed; retrying")
                }
            }
        }
    });
    cache
}

/// Lists namespaced kinds (the numerous ones) 100 objects at a time rather
/// than kube's 500: a page is decoded whole before the cache keeps its
/// slim part, and a smaller page keeps that peak small for a few more
/// requests at start-up (100 per 10,000 objects).
fn list_in_pages() -> watcher::Config {
    watcher::Config::default().page_size(100)
}

/// Objects of a namespaced kind in the watched namespaces (all when empty).
fn namespaced<K, T>(
    client: &Client,
    namespaces: &[String],
    keep: fn(K) -> Option<T>,
    changed: &Arc<Notify>,
) -> Vec<Arc<Cache<T>>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
    T: PartialEq + Send + Sync + 'static,
{
    let config = list_in_pages;
    if namespaces.is_empty() {
        vec![feed(
            Api::all(client.clone()),
            config(),
            keep,
            changed.clone(),
        )]
    } else {
        namespaces
            .iter()
            .map(|n| {
                feed(
                    Api::namespaced(client.clone(), n),
                    config(),
                    keep,
                    changed.clone(),
                )
            })
            .collect()
    }
}

/// Objects of a cluster-scoped kind, or of every namespace.
fn cluster<K, T>(
    client: &Client,
    config: watcher::Config,
    keep: fn(K) -> Option<T>,
    changed: &Arc<Notify>,
) -> Caches<T>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
    T: PartialEq + Send + Sync + 'static,
{
    Caches {
        caches: vec![feed(
            Api::all(client.clone()),
            config,
            keep,
            changed.clone(),
        )],
    }
}

/// An object without what changes with every write and is never read: its
/// resourceVersion (kept beside it), managed fields, and for the cluster's
/// own kinds their status.
fn object<K: Resource>(mut o: K) -> K {
    let meta = o.meta_mut();
    meta.resource_version = None;
    meta.managed_fields = None;
    o
}

/// A plumbline object: its status stays (Events are derived from it).
fn own<K: Resource>(o: K) -> Option<K> {
    Some(object(o))
}

/// Starts every watch; a non-empty `namespaces` limits namespaced kinds to
/// those namespaces (one watch per namespace and kind).
pub fn start(client: &Client, namespaces: &[String], changed: Arc<Notify>) -> Stores {
    let c = &changed;
    let ns = namespaces;
    let workloads = [
        namespaced(client, ns, |d| Some(Workload::from_deployment(d)), c),
        namespaced(client, ns, |s| Some(Workload::from_stateful_set(s)), c),
        namespaced(client, ns, |d| Some(Workload::from_daemon_set(d)), c),
        namespaced(client, ns, Workload::from_replica_set, c),
        namespaced(
            client,
            ns,
            |r| Some(Workload::from_replication_controller(r)),
            c,
        ),
        namespaced(client, ns, |j| Some(Workload::from_cron_job(j)), c),
        namespaced(client, ns, Workload::from_job, c),
        namespaced(client, ns, Workload::from_pod, c),
    ]
    .into_iter()
    .flatten()
    .collect();
    let generated = || {
        let (key, value) = crate::admission::policy::MANAGED_BY;
        watcher::Config::default().labels(&format!("{key}={value}"))
    };
    Stores {
        workloads: Caches { caches: workloads },
        namespaces: cluster(
            client,
            watcher::Config::default(),
            |n: Namespace| {
                let mut n = object(n);
                n.spec = None;
                n.status = None;
                Some(n)
            },
            c,
        ),
        budgets: Caches {
            caches: namespaced(
                client,
                ns,
                |b: PodDisruptionBudget| Some(DisruptionBudget::from_object(b)),
                c,
            ),
        },
        standards: cluster(client, watcher::Config::default(), own, c),
        exceptions: Caches {
            caches: namespaced(client, ns, own, c),
        },
        baselines: cluster(client, watcher::Config::default(), own, c),
        ownerships: Caches {
            caches: namespaced(client, ns, own, c),
        },
        reviews: cluster(
            client,
            watcher::Config::default(),
            |r: StandardReview| Some(Review::cached(r)),
            c,
        ),
        reports: Caches {
            caches: namespaced(
                client,
                ns,
                |r: ComplianceReport| Some(SeenReport::new(&r)),
                c,
            ),
        },
        policies: cluster(
            client,
            generated(),
            |p: ValidatingAdmissionPolicy| {
                let mut p = object(p);
                p.status = None;
                Some(p)
            },
            c,
        ),
        bindings: cluster(client, generated(), own, c),
    }
}

impl Stores {
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
}
