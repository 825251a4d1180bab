//! Reads the cluster: one watch per kind (and per namespace, when limited),
//! each feeding a cache of `stores` with only what the operator needs of its
//! objects (`stores::keep`), and a signal raised whenever that changes. May
//! read; never writes.

use std::{fmt::Debug, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    api::admissionregistration::v1::ValidatingAdmissionPolicyBinding, serde::de::DeserializeOwned,
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
    cache::{Applied, Cache},
    stores::{Caches, Stores, keep},
};
use crate::api::{InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException};

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

/// Where a watch reports: the loop, when what a cache holds changes, and
/// the metrics, when the watch fails.
#[derive(Clone)]
pub struct Signal {
    /// Raised when a cache's kept values change.
    pub changed: Arc<Notify>,
    /// Counts watch failures by kind and class.
    pub metrics: Arc<super::metrics::Metrics>,
}

/// The class of a watch failure, as the `error` label of
/// `plumbline_watch_errors_total`.
fn label(e: &watcher::Error) -> &'static str {
    match e {
        watcher::Error::InitialListFailed(_) => "list",
        watcher::Error::WatchStartFailed(_) => "watch_start",
        watcher::Error::WatchError(s) if s.code == 410 => "expired",
        watcher::Error::WatchError(_) => "watch",
        watcher::Error::WatchFailed(_) => "stream",
        watcher::Error::NoResourceVersion => "no_resource_version",
    }
}

/// Starts one watch feeding `cache` with `keep(object)`; raises `changed`
/// whenever what the cache holds changes. Watch errors are retried with
/// `backoff`.
fn feed<K, T>(
    api: Api<K>,
    config: watcher::Config,
    keep: impl Fn(K) -> Option<T> + Send + Sync + 'static,
    changed: Signal,
    mut relist: Option<tokio::sync::watch::Receiver<u64>>,
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
    let start = move || watcher(api.clone(), config.clone()).backoff(backoff());
    tokio::spawn(async move {
        let mut stream = Box::pin(start());
        loop {
            // A relist (what the cache keeps of each object changed): the
            // watch starts again, and its list replaces the cache's content.
            let asked = async {
                match relist.as_mut() {
                    Some(r) => r.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                event = stream.next() => event,
                true = asked => {
                    stream = Box::pin(start());
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                Ok(event) => {
                    if fed.apply(event, &keep) == Applied::Changed {
                        changed.changed.notify_one();
                    }
                }
                Err(err) => {
                    let dt = K::DynamicType::default();
                    let kind = K::kind(&dt);
                    changed.metrics.watch_failed(&kind, label(&err));
                    tracing::warn!(error = %err, %kind, "watch failed; retrying")
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

/// Workloads of one kind, kept with their objects while `sources` is on,
/// listed again when it changes.
fn workloads<K>(
    client: &Client,
    namespaces: &[String],
    model: fn(K) -> Option<crate::engine::Workload>,
    changed: &Signal,
    sources: &super::stores::Sources,
) -> Vec<Arc<Cache<crate::engine::Workload>>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + serde::Serialize
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    let apis: Vec<Api<K>> = if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|n| Api::namespaced(client.clone(), n))
            .collect()
    };
    apis.into_iter()
        .map(|api| {
            let on = sources.flag();
            feed(
                api,
                list_in_pages(),
                move |x| keep::workload(x, on.load(std::sync::atomic::Ordering::SeqCst), model),
                changed.clone(),
                Some(sources.relists()),
            )
        })
        .collect()
}

/// Objects of a namespaced kind in the watched namespaces (all when empty).
fn namespaced<K, T>(
    client: &Client,
    namespaces: &[String],
    keep: fn(K) -> Option<T>,
    changed: &Signal,
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
            None,
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
                    None,
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
    changed: &Signal,
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
            None,
        )],
    }
}

/// Starts every watch; a non-empty `namespaces` limits namespaced kinds to
/// those namespaces (one watch per namespace and kind).
pub fn start(
    client: &Client,
    namespaces: &[String],
    changed: Signal,
    sources: super::stores::Sources,
) -> Stores {
    let c = &changed;
    let ns = namespaces;
    let s = &sources;
    let workloads = [
        workloads(client, ns, keep::deployment, c, s),
        workloads(client, ns, keep::stateful_set, c, s),
        workloads(client, ns, keep::daemon_set, c, s),
        workloads(client, ns, keep::replica_set, c, s),
        workloads(client, ns, keep::replication_controller, c, s),
        workloads(client, ns, keep::cron_job, c, s),
        workloads(client, ns, keep::job, c, s),
        workloads(client, ns, keep::pod, c, s),
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
        namespaces: cluster(client, watcher::Config::default(), keep::namespace, c),
        budgets: Caches {
            caches: namespaced(client, ns, keep::budget, c),
        },
        standards: cluster(
            client,
            watcher::Config::default(),
            keep::own::<InfrastructureStandard>,
            c,
        ),
        exceptions: Caches {
            caches: namespaced(client, ns, keep::own::<StandardException>, c),
        },
        baselines: cluster(
            client,
            watcher::Config::default(),
            keep::own::<PatchBaseline>,
            c,
        ),
        ownerships: Caches {
            caches: namespaced(client, ns, keep::own::<ServiceOwnership>, c),
        },
        reviews: cluster(client, watcher::Config::default(), keep::review, c),
        reports: Caches {
            caches: namespaced(client, ns, keep::report, c),
        },
        policies: cluster(client, generated(), keep::policy, c),
        bindings: cluster(
            client,
            generated(),
            keep::own::<ValidatingAdmissionPolicyBinding>,
            c,
        ),
        sources,
    }
}
