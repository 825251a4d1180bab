//! Waits until the watches show the operator's own writes: a pass that read
//! an object from a cache still holding the version from before a write
//! would write it (and raise its Events) again. Reads the caches only.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::Resource;

use super::{watch::Stores, write::Written};
use crate::api::{
    ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException,
    StandardReview,
};

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
