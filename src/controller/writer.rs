//! Applies a plan to the cluster, and decides nothing about it: what to
//! write, and which Events to raise, are the plan's. Before every request it
//! checks that this instance still leads, so a pass that outlives its Lease
//! writes nothing more; it keeps within the client-side rate limit; it
//! retries one failed object (on fresh state after a conflict) rather than
//! the pass; it raises an object's Events once its write succeeded; and it
//! notes what it wrote, so the loop can wait until the watches show it.
//! Writes reports, statuses, generated policies and Events with one field
//! manager; never a workload or a spec.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::{
    ClusterResourceScope,
    api::{
        admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
        core::v1::ObjectReference,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    core::object::HasStatus,
    runtime::events::{Event, EventType, Recorder, Reporter},
};
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use super::{
    limit::RateLimit,
    metrics::Metrics,
    plan::{
        Plan, Status,
        admission::{Generate, Policies},
        events::{Tally, Transition},
        report::ReportWrite,
        review::Promotion,
    },
    stores::Written,
};
use crate::api::{
    ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException,
    StandardReview,
};

/// The field manager of every write.
pub const MANAGER: &str = "plumbline";

/// How many times one object's write is tried before it is left to the
/// next pass (whose backoff the loop decides).
const ATTEMPTS: u32 = 3;

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
    /// This instance no longer leads: another one writes now.
    #[error("not leading any more: the write is left to the leader")]
    NotLeading,
}

impl WriteError {
    /// The error's class, as the `error` label of
    /// `plumbline_reconcile_errors_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotOurs { .. } => "not_ours",
            Self::NotLeading => "not_leading",
            Self::Api { source, .. } => match source {
                kube::Error::Api(e) => match e.code {
                    409 => "conflict",
                    429 => "throttled",
                    422 => "invalid",
                    401 | 403 => "forbidden",
                    c if c >= 500 => "server",
                    _ => "refused",
                },
                _ => "unreachable",
            },
        }
    }

    /// Whether the same write may succeed if tried again at once: the
    /// server answered that it is busy or failed, or the object moved.
    /// Not when it is unreachable (the next pass tries again, after the
    /// loop's backoff), refused the write, or another instance leads.
    fn transient(&self) -> bool {
        matches!(self.label(), "conflict" | "throttled" | "server")
    }

    /// The API server's 422, which a standard's status reports as a refusal
    /// of its policy.
    fn invalid(&self) -> Option<&str> {
        match self {
            Self::Api {
                source: kube::Error::Api(e),
                ..
            } if e.code == 422 => Some(&e.message),
            _ => None,
        }
    }
}

/// Writes plans, counting the writes it makes.
pub struct Writer {
    client: Client,
    limit: Option<RateLimit>,
    leading: watch::Receiver<bool>,
    reporter: Reporter,
    metrics: Arc<Metrics>,
    max_concurrent_writes: usize,
    writes: AtomicU64,
    written: Mutex<Vec<Written>>,
}

/// How the writer is set up.
pub struct Options {
    /// Client-side rate limit (none: unlimited).
    pub limit: Option<RateLimit>,
    /// Whether this instance leads; it writes only while this says so.
    pub leading: watch::Receiver<bool>,
    /// Who raises the Events.
    pub reporter: Reporter,
    /// How many report writes may be in flight at once.
    pub max_concurrent_writes: usize,
}

impl Writer {
    /// A writer for this client.
    pub fn new(client: Client, metrics: Arc<Metrics>, options: Options) -> Self {
        Self {
            client,
            limit: options.limit,
            leading: options.leading,
            reporter: options.reporter,
            metrics,
            max_concurrent_writes: options.max_concurrent_writes.max(1),
            writes: AtomicU64::new(0),
            written: Mutex::new(Vec::new()),
        }
    }

    /// The objects changed since the last call.
    pub fn take_written(&self) -> Vec<Written> {
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many writes it made.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Writes the admission policies of `plan`; returns how many objects
    /// failed, and the API server's refusal of a standard's policy by
    /// standard name.
    pub async fn policies(&self, plan: &Policies<'_>) -> (usize, HashMap<String, String>) {
        let kind = ValidatingAdmissionPolicy::kind(&());
        let mut failures = 0;
        let mut refused = HashMap::new();
        for apply in &plan.applies {
            let started = Instant::now();
            let mut result = Ok(());
            if let Some(policy) = &apply.policy {
                result = self.generated(policy).await;
            }
            if result.is_ok()
                && let Some(binding) = &apply.binding
            {
                result = self.generated(binding).await;
            }
            if let (Err(err), Some(standard)) = (&result, &apply.standard) {
                match err {
                    WriteError::NotOurs { .. } => {
                        refused.insert(standard.clone(), err.to_string());
                    }
                    _ => {
                        if let Some(message) = err.invalid() {
                            refused.insert(standard.clone(), message.to_string());
                        }
                    }
                }
            }
            failures += self.done(&kind, started, result);
        }
        for delete in &plan.deletes {
            let started = Instant::now();
            let mut result = Ok(());
            if delete.binding {
                result = self
                    .delete::<ValidatingAdmissionPolicyBinding>(
                        Api::all(self.client.clone()),
                        &delete.name,
                    )
                    .await;
            }
            if result.is_ok() && delete.policy {
                result = self
                    .delete::<ValidatingAdmissionPolicy>(
                        Api::all(self.client.clone()),
                        &delete.name,
                    )
                    .await;
            }
            failures += self.done(&kind, started, result);
        }
        (failures, refused)
    }

    /// Writes everything else a pass planned; returns how many objects failed.
    pub async fn apply(&self, plan: Plan<'_>) -> usize {
        let mut failures = self.reports(&plan).await;
        failures += self.statuses(plan.standards).await;
        failures += self.statuses(plan.exceptions).await;
        failures += self.statuses(plan.baselines).await;
        failures += self.statuses(plan.ownerships).await;
        failures += self.promotions(&plan.promotions).await;
        failures += self.statuses(plan.reviews).await;
        failures
    }

    /// Writes the planned reports, at most `max_concurrent_writes` at once
    /// (and within the rate limit), raising each one's Events once it is
    /// written; then the summaries of what was written, then the deletes.
    async fn reports(&self, plan: &Plan<'_>) -> usize {
        let kind = ComplianceReport::kind(&());
        let mut failures = 0;
        let writes = plan.reports.writes().map(|w| self.report(w));
        let mut written = Tally::default();
        let mut results =
            futures::stream::iter(writes).buffer_unordered(self.max_concurrent_writes);
        while let Some((started, result)) = results.next().await {
            if let Ok(changes) = &result {
                written.add(changes);
            }
            failures += self.done(&kind, started, result.map(|_| ()));
        }
        drop(results);
        for (regarding, t) in plan.reports.summaries(&written) {
            self.publish(&regarding, vec![t]).await;
        }
        for (ns, name) in &plan.reports.deletes {
            let started = Instant::now();
            let api = Api::<ComplianceReport>::namespaced(self.client.clone(), ns);
            let result = self.delete(api, name).await;
            failures += self.done(&kind, started, result);
        }
        failures
    }

    /// Applies one report, spec and status in one request, then raises its
    /// Events; returns when it started and, on success, what it changed.
    async fn report(
        &self,
        w: ReportWrite,
    ) -> (Instant, Result<super::plan::events::Changes, WriteError>) {
        let started = Instant::now();
        let ns = w.desired.namespace().unwrap_or_default();
        let name = w.desired.name_any();
        let api: Api<ComplianceReport> = Api::namespaced(self.client.clone(), &ns);
        let what = || format!("ComplianceReport {ns}/{name}");
        let (pp, patch) = (params(), Patch::Apply(&w.desired));
        let kind = ComplianceReport::kind(&());
        let result = self
            .attempt(&kind, what, || api.patch(&name, &pp, &patch))
            .await;
        match result {
            Ok(written) => {
                self.wrote(
                    &ComplianceReport::kind(&()),
                    &ns,
                    &name,
                    w.before,
                    written.resource_version(),
                    false,
                );
                self.publish(&w.regarding, w.events).await;
                (started, Ok(w.changes))
            }
            Err(err) => (started, Err(err)),
        }
    }

    /// Applies each planned status of one kind, then raises its Events;
    /// returns how many failed.
    async fn statuses<K>(&self, planned: Vec<Status<'_, K>>) -> usize
    where
        K: Scoped + HasStatus + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        K::Status: Serialize,
    {
        let kind = K::kind(&());
        let mut failures = 0;
        for s in planned {
            let started = Instant::now();
            let result = match self.status::<K>(&s.meta, &s.desired).await {
                Ok(true) => {
                    self.publish(&reference::<K>(&s.meta), s.events).await;
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(err) => Err(err),
            };
            failures += self.done(&kind, started, result);
        }
        failures
    }

    /// Applies the status of a plumbline object (named by `meta`: its name,
    /// namespace and the resourceVersion it was read at); returns whether
    /// it wrote (not when the object is gone).
    async fn status<K>(&self, meta: &ObjectMeta, desired: &K::Status) -> Result<bool, WriteError>
    where
        K: Scoped + HasStatus + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        K::Status: Serialize,
    {
        let name = meta.name.as_deref().unwrap_or_default();
        let ns = meta.namespace.as_deref().unwrap_or_default();
        let api = K::api(self.client.clone(), ns);
        let status = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": desired,
        });
        let what = || format!("{} {name} status", K::kind(&()));
        let (pp, patch) = (params(), Patch::Apply(&status));
        match self
            .attempt(&K::kind(&()), what, || api.patch_status(name, &pp, &patch))
            .await
        {
            Ok(written) => {
                self.wrote(
                    &K::kind(&()),
                    ns,
                    name,
                    meta.resource_version.clone(),
                    written.resource_version(),
                    false,
                );
                Ok(true)
            }
            // Deleted since the snapshot: there is no status left to keep true.
            Err(WriteError::Api {
                source: kube::Error::Api(e),
                ..
            }) if e.code == 404 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Marks settled reviews current again, by a merge patch of that one
    /// field: what the cache no longer holds of them (what they recorded)
    /// stays as the cluster has it.
    async fn promotions(&self, promotions: &[Promotion]) -> usize {
        let kind = StandardReview::kind(&());
        let api: Api<StandardReview> = Api::all(self.client.clone());
        let current = json!({"status": {"current": true}});
        let (pp, patch) = (PatchParams::default(), Patch::Merge(&current));
        let mut failures = 0;
        for p in promotions {
            let started = Instant::now();
            let what = || format!("StandardReview {} status", p.name);
            let result = match self
                .attempt(&kind, what, || api.patch_status(&p.name, &pp, &patch))
                .await
            {
                Ok(written) => {
                    self.wrote(
                        &kind,
                        "",
                        &p.name,
                        p.resource_version.clone(),
                        written.resource_version(),
                        false,
                    );
                    Ok(())
                }
                Err(WriteError::Api {
                    source: kube::Error::Api(e),
                    ..
                }) if e.code == 404 => Ok(()),
                Err(err) => Err(err),
            };
            failures += self.done(&kind, started, result);
        }
        failures
    }

    /// Creates or replaces an object the operator generates whole (an
    /// admission policy or binding). Replaced whole rather than applied:
    /// server-side apply would keep what another manager added to a
    /// set-type list (a hand-written `validationActions: [Audit]` would stay
    /// beside Deny). A conflict (someone changed it since it was read) is
    /// retried on the object as it is now.
    async fn generated<K>(&self, g: &Generate<'_, K>) -> Result<(), WriteError>
    where
        K: Resource<DynamicType = (), Scope = ClusterResourceScope>
            + Clone
            + Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let name = g.desired.name_any();
        let api: Api<K> = Api::all(self.client.clone());
        let post = PostParams {
            field_manager: Some(MANAGER.into()),
            ..Default::default()
        };
        let what = || format!("{} {name}", K::kind(&()));
        let mut existing = g.existing.clone();
        let mut tries = 0;
        let written = loop {
            tries += 1;
            self.ready_to_write().await?;
            let result = match &existing {
                Some(rv) => {
                    let mut object = g.desired.clone();
                    object.meta_mut().resource_version = rv.clone();
                    api.replace(&name, &post, &object).await
                }
                // Created, never applied: an object of this name that the
                // operator did not make (not in its labelled cache) is not
                // taken over.
                None => match api.create(&post, g.desired).await {
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        return Err(self.taken::<K>(&api, &name, kube::Error::Api(e)).await);
                    }
                    other => other,
                },
            };
            match result {
                Ok(written) => break written,
                Err(source) => {
                    let err = self.again(&K::kind(&()), what(), source, tries)?;
                    if err.label() == "conflict" {
                        // Fresh state: the object as it is now (gone: create it).
                        self.ready_to_write().await?;
                        existing = match api.get_opt(&name).await {
                            Ok(current) => current.map(|c| c.resource_version()),
                            Err(source) => {
                                return Err(WriteError::Api {
                                    what: what(),
                                    source,
                                });
                            }
                        };
                    } else {
                        tokio::time::sleep(pause(tries)).await;
                    }
                }
            }
        };
        self.wrote(
            &K::kind(&()),
            "",
            &name,
            existing.flatten(),
            written.resource_version(),
            false,
        );
        Ok(())
    }

    /// Why a create found the name taken: by an object of the operator's own
    /// that its cache has not shown yet (the next pass replaces it), or by
    /// someone else's.
    async fn taken<K>(&self, api: &Api<K>, name: &str, source: kube::Error) -> WriteError
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let (key, value) = crate::admission::policy::MANAGED_BY;
        if let Err(err) = self.ready_to_write().await {
            return err;
        }
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

    /// Deletes an object nothing asks for any more (gone already: done).
    async fn delete<K>(&self, api: Api<K>, name: &str) -> Result<(), WriteError>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let ns = api.namespace().unwrap_or_default().to_string();
        let what = || format!("deleting {} {name}", K::kind(&()));
        let dp = kube::api::DeleteParams::default();
        match self
            .attempt(&K::kind(&()), what, || api.delete(name, &dp))
            .await
        {
            Ok(_) => {
                self.wrote(&K::kind(&()), &ns, name, None, None, true);
                Ok(())
            }
            Err(WriteError::Api {
                source: kube::Error::Api(e),
                ..
            }) if e.code == 404 => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// One request, tried up to `ATTEMPTS` times while it fails in a way
    /// that may pass (a 409, 429 or 5xx answer), each time only while
    /// leading and within the rate limit.
    async fn attempt<T, F, Fut>(
        &self,
        kind: &str,
        what: impl Fn() -> String,
        request: F,
    ) -> Result<T, WriteError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            self.ready_to_write().await?;
            match request().await {
                Ok(t) => return Ok(t),
                Err(source) => {
                    self.again(kind, what(), source, tries)?;
                    tokio::time::sleep(pause(tries)).await;
                }
            }
        }
    }

    /// The one retry rule of every write: a transient failure (409, 429,
    /// 5xx) before the last attempt is counted in `write_retries` and given
    /// back to try again; anything else is the error to return.
    fn again(
        &self,
        kind: &str,
        what: String,
        source: kube::Error,
        tries: u32,
    ) -> Result<WriteError, WriteError> {
        let err = WriteError::Api { what, source };
        if !err.transient() || tries >= ATTEMPTS {
            return Err(err);
        }
        self.metrics.retried(kind, err.label());
        Ok(err)
    }

    /// Waits for the rate limit, then checks that this instance still leads.
    async fn ready_to_write(&self) -> Result<(), WriteError> {
        if let Some(limit) = &self.limit {
            limit.acquire().await;
        }
        if *self.leading.borrow() {
            Ok(())
        } else {
            Err(WriteError::NotLeading)
        }
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

    /// Records one object's write; returns 1 when it failed.
    fn done(&self, kind: &str, started: Instant, result: Result<(), WriteError>) -> usize {
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                self.metrics.reconciled(kind, seconds, None);
                0
            }
            Err(err) => {
                // Losing the lease is no failure to warn about: the leader writes.
                if !matches!(err, WriteError::NotLeading) {
                    tracing::warn!(error = %err, "write failed; the next pass plans it again");
                }
                self.metrics.reconciled(kind, seconds, Some(err.label()));
                1
            }
        }
    }

    /// Raises the Events of a transition; a failure to publish is logged,
    /// not retried.
    ///
    /// Each transition gets an Event of its own. kube's recorder folds
    /// Events with the same reason about the same object into one series
    /// and keeps the first note, so a second DeviationFound would show the
    /// first one's rules; a recorder per transition (its cache is per
    /// instance) keeps every note.
    async fn publish(&self, regarding: &ObjectReference, events: Vec<Transition>) {
        for t in events {
            if self.ready_to_write().await.is_err() {
                return;
            }
            let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
            let event = Event {
                type_: if t.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: t.reason.into(),
                note: Some(t.note),
                action: "Evaluate".into(),
                secondary: None,
            };
            if let Err(err) = recorder.publish(&event, regarding).await {
                // Not retried: the status written already shows the
                // transition, so no later pass raises this Event again.
                tracing::warn!(error = %err, reason = t.reason, "cannot publish an Event; it is lost");
                self.metrics.event_lost(t.reason);
            }
        }
    }
}

/// Server-side apply, forced: the operator owns what it writes.
fn params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

/// How long to wait before trying a write again: 0.2 s, then 0.4 s.
fn pause(tries: u32) -> Duration {
    Duration::from_millis(200 << tries.saturating_sub(1).min(4))
}

/// What an Event about the object of this kind and metadata regards.
fn reference<K: Resource<DynamicType = ()>>(meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

/// The API of a kind whose status the writer writes, for an object in a
/// namespace (ignored for a cluster-scoped kind).
pub trait Scoped: Resource<DynamicType = ()> + Sized {
    /// The API for objects in `namespace`.
    fn api(client: Client, namespace: &str) -> Api<Self>;
}

impl Scoped for InfrastructureStandard {
    fn api(client: Client, _: &str) -> Api<Self> {
        Api::all(client)
    }
}

impl Scoped for PatchBaseline {
    fn api(client: Client, _: &str) -> Api<Self> {
        Api::all(client)
    }
}

impl Scoped for StandardReview {
    fn api(client: Client, _: &str) -> Api<Self> {
        Api::all(client)
    }
}

impl Scoped for StandardException {
    fn api(client: Client, namespace: &str) -> Api<Self> {
        Api::namespaced(client, namespace)
    }
}

impl Scoped for ServiceOwnership {
    fn api(client: Client, namespace: &str) -> Api<Self> {
        Api::namespaced(client, namespace)
    }
}
