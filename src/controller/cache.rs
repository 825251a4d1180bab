//! A watch cache that keeps, per object, only what the operator needs of it
//! (the engine's model of a workload; what decides a report's write), never
//! the object itself: at 10,000 workloads whole objects cost hundreds of MiB.
//! Fed with watcher events (by `watch`, or by tests); does no I/O itself.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use kube::{Resource, ResourceExt, runtime::watcher};
use tokio::sync::watch;

/// An object's namespace (empty when cluster-scoped) and name.
pub type Key = (String, String);

/// What the cache holds of one object.
#[derive(Debug)]
pub struct Entry<T> {
    /// The object's resourceVersion when it was seen.
    pub resource_version: Option<String>,
    /// What was kept of it.
    pub value: Arc<T>,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self {
            resource_version: self.resource_version.clone(),
            value: self.value.clone(),
        }
    }
}

/// The kept values of one watch (one kind, in one namespace or all).
pub struct Cache<T> {
    items: RwLock<HashMap<Key, Entry<T>>>,
    /// Full lists applied so far (each `InitDone`).
    lists: std::sync::atomic::AtomicU64,
    /// Filled by a (re)list until it is complete, then swapped in whole, so
    /// that readers never see half a list.
    building: std::sync::Mutex<Option<HashMap<Key, Entry<T>>>>,
    ready: watch::Sender<bool>,
}

/// What a watch event did to the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Nothing a reader would see differently.
    Unchanged,
    /// An object's kept value (not just its resourceVersion) changed, it
    /// was deleted, or a list completed.
    Changed,
    /// Only a resourceVersion moved (e.g. a status write on a kind whose
    /// status is not kept).
    Moved,
}

impl<T: PartialEq> Cache<T> {
    /// An empty cache, not ready until its first list completes.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            items: RwLock::default(),
            lists: std::sync::atomic::AtomicU64::new(0),
            building: std::sync::Mutex::default(),
            ready: watch::channel(false).0,
        })
    }

    /// Applies one watcher event, keeping `keep(object)` (`None`: nothing,
    /// e.g. a Pod that a controller owns).
    pub fn apply<K: Resource>(
        &self,
        event: watcher::Event<K>,
        keep: impl Fn(K) -> Option<T>,
    ) -> Applied {
        let entry = |o: K| {
            let key = key(&o);
            let resource_version = o.resource_version();
            (
                key,
                keep(o).map(|value| Entry {
                    resource_version,
                    value: Arc::new(value),
                }),
            )
        };
        let mut building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Init => {
                *building = Some(HashMap::new());
                Applied::Unchanged
            }
            watcher::Event::InitApply(o) => {
                let (key, entry) = entry(o);
                if let (Some(map), Some(entry)) = (building.as_mut(), entry) {
                    map.insert(key, entry);
                }
                Applied::Unchanged
            }
            watcher::Event::InitDone => {
                let fresh = building.take().unwrap_or_default();
                *self.items.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                self.ready.send_replace(true);
                Applied::Changed
            }
            watcher::Event::Apply(o) => {
                let (key, entry) = entry(o);
                let mut items = self.items.write().unwrap_or_else(|e| e.into_inner());
                match entry {
                    Some(entry) => match items.insert(key, entry.clone()) {
                        Some(old) if old.value == entry.value => Applied::Moved,
                        _ => Applied::Changed,
                    },
                    None => match items.remove(&key) {
                        Some(_) => Applied::Changed,
                        None => Applied::Unchanged,
                    },
                }
            }
            watcher::Event::Delete(o) => {
                let key = key(&o);
                let mut items = self.items.write().unwrap_or_else(|e| e.into_inner());
                match items.remove(&key) {
                    Some(_) => Applied::Changed,
                    None => Applied::Unchanged,
                }
            }
        }
    }
}

impl<T> Cache<T> {
    /// How many full lists the cache has applied.
    pub fn lists(&self) -> u64 {
        self.lists.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every kept value with its key and resourceVersion.
    pub fn entries(&self) -> Vec<(Key, Entry<T>)> {
        self.items
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every kept value.
    pub fn values(&self) -> Vec<Arc<T>> {
        self.items
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|e| e.value.clone())
            .collect()
    }

    /// The keys of the entries `pred` selects (nothing else is copied).
    pub fn select(&self, mut pred: impl FnMut(&Key, &Entry<T>) -> bool) -> Vec<Key> {
        self.items
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, e)| pred(k, e))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// One object's entry.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Entry<T>> {
        self.items
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Waits until the first list completed.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives as long as the cache: this cannot fail while awaited.
        let _ = ready.wait_for(|r| *r).await;
    }
}

fn key<K: Resource>(o: &K) -> Key {
    (o.namespace().unwrap_or_default(), o.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta};

    fn map(name: &str, rv: &str, value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            data: Some([("v".to_string(), value.to_string())].into()),
            ..Default::default()
        }
    }

    fn keep(c: ConfigMap) -> Option<String> {
        let v = c.data?.get("v")?.clone();
        (v != "skip").then_some(v)
    }

    #[test]
    fn a_list_shows_only_when_complete_and_replaces_what_was_there() {
        let cache = Cache::new();
        cache.apply(watcher::Event::Init, keep);
        cache.apply(watcher::Event::InitApply(map("a", "1", "x")), keep);
        assert!(cache.values().is_empty(), "half a list is not shown");
        assert_eq!(
            cache.apply(watcher::Event::InitDone, keep),
            Applied::Changed
        );
        assert_eq!(cache.get("ns", "a").unwrap().value.as_str(), "x");
        // A relist without `a` removes it.
        cache.apply(watcher::Event::Init, keep);
        cache.apply(watcher::Event::InitApply(map("b", "2", "y")), keep);
        assert!(
            cache.get("ns", "a").is_some(),
            "kept until the relist completes"
        );
        cache.apply(watcher::Event::InitDone, keep);
        assert!(cache.get("ns", "a").is_none());
        assert_eq!(
            cache.get("ns", "b").unwrap().resource_version.as_deref(),
            Some("2")
        );
    }

    #[test]
    fn only_a_change_of_what_is_kept_counts_as_a_change() {
        let cache = Cache::new();
        cache.apply(watcher::Event::Init, keep);
        cache.apply(watcher::Event::InitDone, keep);
        let apply = |c| cache.apply(watcher::Event::Apply(c), keep);
        assert_eq!(apply(map("a", "1", "x")), Applied::Changed);
        assert_eq!(apply(map("a", "2", "x")), Applied::Moved);
        assert_eq!(
            cache.get("ns", "a").unwrap().resource_version.as_deref(),
            Some("2")
        );
        assert_eq!(apply(map("a", "3", "y")), Applied::Changed);
        // An object that stops being kept leaves; one never kept changes nothing.
        assert_eq!(apply(map("a", "4", "skip")), Applied::Changed);
        assert!(cache.get("ns", "a").is_none());
        assert_eq!(apply(map("b", "5", "skip")), Applied::Unchanged);
        assert_eq!(
            cache.apply(watcher::Event::Delete(map("b", "6", "z")), keep),
            Applied::Unchanged
        );
    }
}
