//! Writes what `build` produced, with server-side apply and one field
//! manager, and only when it differs from what the cluster holds: a steady
//! cluster causes no writes. May write reports and statuses; never writes a
//! workload or a spec.

use std::sync::atomic::{AtomicU64, Ordering};

use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde::Serialize;
use serde_json::json;

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
}

/// Applies reports and statuses, counting the writes it makes.
pub struct Writer {
    client: Client,
    writes: AtomicU64,
}

impl Writer {
    /// A writer for this client.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            writes: AtomicU64::new(0),
        }
    }

    /// How many writes it made.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn params() -> PatchParams {
        PatchParams::apply(MANAGER).force()
    }

    /// Applies a report when it differs from `current`; returns whether it wrote.
    pub async fn report(
        &self,
        desired: &ComplianceReport,
        current: Option<&ComplianceReport>,
    ) -> Result<bool, WriteError> {
        let same_object = current.is_some_and(|c| {
            c.spec == desired.spec
                && c.metadata.owner_references == desired.metadata.owner_references
                && desired
                    .metadata
                    .labels
                    .iter()
                    .flatten()
                    .all(|(k, v)| c.labels().get(k) == Some(v))
        });
        let same_status = current.is_some_and(|c| c.status == desired.status);
        if same_object && same_status {
            return Ok(false);
        }
        let ns = desired.namespace().unwrap_or_default();
        let name = desired.name_any();
        let api: Api<ComplianceReport> = Api::namespaced(self.client.clone(), &ns);
        let what = || format!("ComplianceReport {ns}/{name}");
        if !same_object {
            let mut object = desired.clone();
            object.status = None;
            api.patch(&name, &Self::params(), &Patch::Apply(&object))
                .await
                .map_err(|source| WriteError::Api {
                    what: what(),
                    source,
                })?;
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        if !same_status {
            let status = json!({
                "apiVersion": ComplianceReport::api_version(&()),
                "kind": ComplianceReport::kind(&()),
                "status": desired.status,
            });
            api.patch_status(&name, &Self::params(), &Patch::Apply(&status))
                .await
                .map_err(|source| WriteError::Api {
                    what: what(),
                    source,
                })?;
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(true)
    }

    /// Deletes a report no workload needs any more (garbage collection takes
    /// the reports of deleted workloads; this takes the rest, e.g. a Pod that
    /// gained a controller). Returns whether it deleted.
    pub async fn delete_report(&self, namespace: &str, name: &str) -> Result<bool, WriteError> {
        let api: Api<ComplianceReport> = Api::namespaced(self.client.clone(), namespace);
        match api.delete(name, &Default::default()).await {
            Ok(_) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
            Err(source) => Err(WriteError::Api {
                what: format!("deleting ComplianceReport {namespace}/{name}"),
                source,
            }),
        }
    }

    /// The client it writes with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Applies the status of a standard, exception, baseline or ownership
    /// through `api` when it differs from `current`; returns whether it wrote.
    pub async fn status<K, S>(
        &self,
        api: Api<K>,
        name: &str,
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
        let status = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": desired,
        });
        match api
            .patch_status(name, &Self::params(), &Patch::Apply(&status))
            .await
        {
            Ok(_) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
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
