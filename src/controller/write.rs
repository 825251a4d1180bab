//! Writes what `build` produced, with server-side apply and one field
//! manager, and only when it differs from what the cluster holds: a steady
//! cluster causes no writes. May write reports and statuses; never writes a
//! workload or a spec.

use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde::Serialize;
use serde_json::json;

use super::{
    cache::Entry,
    seen::{SeenReport, digest},
};
use crate::api::ComplianceReport;

/// The field manager of every write.
pub const MANAGER: &str = "plumbline";

/// Errors of the writer.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The API server refused or failed a write.
    #[error("writing {what}: {source}")]
    Api {
        /// What was written.
        what: String,
        /// Why it failed.
        source: kube::Error,
    },
    /// An object of the name the operator would generate exists, and the
    /// operator did not make it: it is never taken over (a standard named
    /// `exception-approval` must not replace the shipped approval policy).
    #[error(
        "a {kind} named {name} already exists and plumbline did not generate it (it lacks the label app.kubernetes.io/managed-by=plumbline): rename the standard, or remove that {kind} if it is a leftover"
    )]
    NotOurs {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
}

/// Whether a desired report differs from the cluster's copy as last seen
/// (or there is none): whether `Writer::report` must write it.
pub fn report_differs(desired: &ComplianceReport, current: Option<&SeenReport>) -> bool {
    current.is_none_or(|c| c.digest != digest(desired))
}

/// Applies reports and statuses, counting the writes it makes.
pub struct Writer {
    client: Client,
    limit: Option<super::limit::RateLimit>,
    writes: AtomicU64,
    written: Mutex<Vec<Written>>,
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

impl Writer {
    /// A writer for this client, within `limit` (none: unlimited).
    pub fn new(client: Client, limit: Option<super::limit::RateLimit>) -> Self {
        Self {
            client,
            limit,
            writes: AtomicU64::new(0),
            written: Mutex::new(Vec::new()),
        }
    }

    /// Waits until the client-side rate limit allows one more request.
    pub async fn throttle(&self) {
        if let Some(limit) = &self.limit {
            limit.acquire().await;
        }
    }

    /// The objects changed since the last call.
    pub fn take_written(&self) -> Vec<Written> {
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Notes a write, unless the server found nothing to change.
    fn wrote(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        before: Option<String>,
        after: Option<String>,
        deleted: bool,
    ) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        if !deleted && after.is_some() && after == before {
            return;
        }
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Written {
                kind: kind.to_string(),
                namespace: ns.to_string(),
                name: name.to_string(),
                before,
                deleted,
            });
    }

    /// How many writes it made.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn params() -> PatchParams {
        PatchParams::apply(MANAGER).force()
    }

    /// Marks a review current again (a later one was deleted), by a merge
    /// patch of that one field: what the cache no longer holds of a settled
    /// review (what it recorded) stays as the cluster has it.
    pub async fn promote_review(
        &self,
        name: &str,
        seen: Option<String>,
    ) -> Result<bool, WriteError> {
        let api: Api<crate::api::StandardReview> = Api::all(self.client.clone());
        let patch = json!({"status": {"current": true}});
        self.throttle().await;
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(written) => {
                self.wrote(
                    "StandardReview",
                    "",
                    name,
                    seen,
                    written.resource_version(),
                    false,
                );
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
            Err(source) => Err(WriteError::Api {
                what: format!("StandardReview {name} status"),
                source,
            }),
        }
    }

    /// Applies a report, spec and status in one request. The caller decides
    /// whether it differs from the cluster's copy (`report_differs`);
    /// `current` is that copy as last seen, at its resourceVersion.
    pub async fn report(
        &self,
        desired: &ComplianceReport,
        current: Option<&Entry<SeenReport>>,
    ) -> Result<(), WriteError> {
        let ns = desired.namespace().unwrap_or_default();
        let name = desired.name_any();
        let api: Api<ComplianceReport> = Api::namespaced(self.client.clone(), &ns);
        self.throttle().await;
        let written = api
            .patch(&name, &Self::params(), &Patch::Apply(desired))
            .await
            .map_err(|source| WriteError::Api {
                what: format!("ComplianceReport {ns}/{name}"),
                source,
            })?;
        self.wrote(
            &ComplianceReport::kind(&()),
            &ns,
            &name,
            current.and_then(|c| c.resource_version.clone()),
            written.resource_version(),
            false,
        );
        Ok(())
    }

    /// Deletes a report no workload needs any more (garbage collection takes
    /// the reports of deleted workloads; this takes the rest, e.g. a Pod that
    /// gained a controller). Returns whether it deleted.
    pub async fn delete_report(&self, namespace: &str, name: &str) -> Result<bool, WriteError> {
        let api: Api<ComplianceReport> = Api::namespaced(self.client.clone(), namespace);
        self.throttle().await;
        match api.delete(name, &Default::default()).await {
            Ok(_) => {
                self.wrote(
                    &ComplianceReport::kind(&()),
                    namespace,
                    name,
                    None,
                    None,
                    true,
                );
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
            Err(source) => Err(WriteError::Api {
                what: format!("deleting ComplianceReport {namespace}/{name}"),
                source,
            }),
        }
    }

    /// Applies an object the operator generates whole (an admission policy
    /// or binding) when its spec or its metadata differ from `current`;
    /// returns whether it wrote. `same` compares the specs.
    pub async fn generated<K>(
        &self,
        desired: &K,
        current: Option<&K>,
        same: impl Fn(&K, &K) -> bool,
    ) -> Result<bool, WriteError>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let unchanged = current.is_some_and(|c| {
            same(c, desired)
                && c.meta().owner_references == desired.meta().owner_references
                && desired
                    .labels()
                    .iter()
                    .all(|(k, v)| c.labels().get(k) == Some(v))
                && desired
                    .annotations()
                    .iter()
                    .all(|(k, v)| c.annotations().get(k) == Some(v))
        });
        if unchanged {
            return Ok(false);
        }
        let name = desired.name_any();
        let api: Api<K> = Api::all(self.client.clone());
        let what = || format!("{} {name}", K::kind(&()));
        self.throttle().await;
        // Replaced whole rather than applied: server-side apply would keep
        // what another manager added to a set-type list (a hand-written
        // `validationActions: [Audit]` would stay beside Deny).
        let written = match current {
            Some(c) => {
                let mut object = desired.clone();
                object.meta_mut().resource_version = c.resource_version();
                let params = kube::api::PostParams {
                    field_manager: Some(MANAGER.into()),
                    ..Default::default()
                };
                api.replace(&name, &params, &object).await
            }
            None => {
                // Created, never applied: an object of this name that the
                // operator did not make (not in its labelled cache) is not
                // taken over.
                let params = kube::api::PostParams {
                    field_manager: Some(MANAGER.into()),
                    ..Default::default()
                };
                match api.create(&params, desired).await {
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        return Err(self.taken::<K>(&api, &name, kube::Error::Api(e)).await);
                    }
                    other => other,
                }
            }
        }
        .map_err(|source| WriteError::Api {
            what: what(),
            source,
        })?;
        self.wrote(
            &K::kind(&()),
            "",
            &name,
            current.and_then(|c| c.resource_version()),
            written.resource_version(),
            false,
        );
        Ok(true)
    }

    /// Why a create found the name taken: by an object of the operator's own
    /// that its cache has not shown yet (retried), or by someone else's.
    async fn taken<K>(&self, api: &Api<K>, name: &str, source: kube::Error) -> WriteError
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let (key, value) = crate::admission::policy::MANAGED_BY;
        match api.get_opt(name).await {
            Ok(Some(existing)) if existing.labels().get(key).map(String::as_str) != Some(value) => {
                WriteError::NotOurs {
                    kind: K::kind(&()).to_string(),
                    name: name.to_string(),
                }
            }
            _ => WriteError::Api {
                what: format!("creating {} {name}", K::kind(&())),
                source,
            },
        }
    }

    /// Deletes a generated cluster-scoped object that nothing asks for any
    /// more; returns whether it deleted.
    pub async fn delete_generated<K>(&self, name: &str) -> Result<bool, WriteError>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        self.throttle().await;
        match api.delete(name, &Default::default()).await {
            Ok(_) => {
                self.wrote(&K::kind(&()), "", name, None, None, true);
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
            Err(source) => Err(WriteError::Api {
                what: format!("deleting {} {name}", K::kind(&())),
                source,
            }),
        }
    }

    /// The client it writes with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Applies the status of a plumbline object (named by `meta`: its name,
    /// namespace and the resourceVersion it was read at) through `api` when
    /// it differs from `current`; returns whether it wrote.
    pub async fn status<K, S>(
        &self,
        api: Api<K>,
        meta: &ObjectMeta,
        desired: &S,
        current: Option<&S>,
    ) -> Result<bool, WriteError>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        S: Serialize + PartialEq,
    {
        if current == Some(desired) {
            return Ok(false);
        }
        let name = meta.name.as_deref().unwrap_or_default();
        let status = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": desired,
        });
        self.throttle().await;
        match api
            .patch_status(name, &Self::params(), &Patch::Apply(&status))
            .await
        {
            Ok(written) => {
                self.wrote(
                    &K::kind(&()),
                    meta.namespace.as_deref().unwrap_or_default(),
                    name,
                    meta.resource_version.clone(),
                    written.resource_version(),
                    false,
                );
                Ok(true)
            }
            // Deleted since the snapshot: there is no status left to keep true.
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
            Err(source) => Err(WriteError::Api {
                what: format!("{} {} status", K::kind(&()), name),
                source,
            }),
        }
    }
}
