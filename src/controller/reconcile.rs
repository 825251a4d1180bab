//! Applies one evaluation to the cluster: for every workload and every
//! plumbline object, build the desired report or status (pure, `build`),
//! write it when it differs from what the cluster holds (`write`), and raise
//! the Events of its transition (`transitions`). May write reports, statuses
//! and Events; never a workload or a spec. One failed write never stops the
//! others: it is counted and retried by the caller.

use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::{
    api::{
        admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
        core::v1::ObjectReference,
    },
    apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta},
};
use kube::{
    Api, Resource, ResourceExt,
    runtime::events::{Event, EventType, Recorder, Reporter},
};

use super::{
    build,
    cache::Entry,
    metrics::Metrics,
    seen::{SeenReport, digest},
    transitions::{self, Transition},
    watch::Stores,
    write::{WriteError, Writer, report_differs},
};
use crate::{
    admission::{self, Generated},
    api::{
        ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership,
        StandardException, StandardReview,
    },
    engine::{Evaluation, Inputs, Workload, WorkloadVerdict},
};
use futures::StreamExt;

/// What a reconcile pass needs besides the evaluation.
pub struct Context<'a> {
    /// Writes reports and statuses.
    pub writer: &'a Writer,
    /// Who raises the Events.
    pub reporter: &'a Reporter,
    /// What the cluster holds (reports, namespaces).
    pub stores: &'a Stores,
    /// Per-kind reconcile metrics.
    pub metrics: &'a Metrics,
    /// How long before expiry an exception warns.
    pub expiry_warning: SignedDuration,
    /// How admission policies are generated.
    pub admission: &'a admission::Options,
    /// How many report writes may be in flight at once.
    pub max_concurrent_writes: usize,
    /// The digest of each report as last built.
    pub built: &'a Built,
}

/// The digest of each report as last built. A workload whose verdict was
/// kept, and whose report the cluster holds as last built, needs no new
/// report: building and digesting 10,000 of them to find the one that
/// changed took most of a pass, and churned the allocator. Nothing to clear:
/// after the engine's cache is cleared (a resync) no verdict is kept, so
/// every report is built again and its entry replaced.
#[derive(Default)]
pub struct Built(std::sync::Mutex<HashMap<u64, u64>>);

/// A report's namespace and name as one number: the per-pass sets of 10,000
/// reports hold no strings. (Two reports sharing one would need a 64-bit
/// hash collision; the worst it could do is leave one report unbuilt until
/// the next resync.)
fn report_key(namespace: &str, name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (namespace, name).hash(&mut hasher);
    hasher.finish()
}

/// Writes every report and status that changed; returns how many writes failed.
/// `kept` says, per workload, whether its verdict was kept from the last pass.
pub async fn all(
    cx: &Context<'_>,
    inputs: &Inputs,
    eval: &Evaluation,
    kept: &[bool],
    now: Timestamp,
) -> usize {
    let mut failures = 0;
    let generated = admission::generate_all(inputs, eval, cx.admission, now);
    let (failed, refused) = policies(cx, &generated).await;
    failures += failed;
    failures += reports(cx, inputs, eval, kept, now).await;
    let client = cx.writer.client();
    let standards = inputs.standards.iter().zip(&eval.standards).zip(&generated);
    failures += statuses(
        cx,
        // A standard whose current review is being promoted waits a pass.
        standards
            .filter(|((_, v), _)| !v.review.waiting)
            .map(|((s, v), g)| {
                let previous = conditions(s.status.as_ref().map(|st| &st.conditions));
                let refused = refused.get(&s.name_any()).map(String::as_str);
                let enforced = build::enforced(&g.coverage, refused);
                let desired =
                    build::standard_status(v, enforced, s.metadata.generation, previous, now);
                let events = transitions::standard(s.status.as_ref(), &desired);
                Status {
                    api: Api::<InfrastructureStandard>::all(client.clone()),
                    meta: std::borrow::Cow::Borrowed(&s.metadata),
                    current: s.status.as_ref(),
                    desired,
                    events,
                }
            }),
    )
    .await;
    failures += statuses(
        cx,
        inputs
            .exceptions
            .iter()
            .zip(&eval.exceptions)
            .map(|(e, v)| {
                let previous = conditions(e.status.as_ref().map(|st| &st.conditions));
                let warning = cx.expiry_warning;
                let desired =
                    build::exception_status(v, e.metadata.generation, previous, now, warning);
                let events = transitions::exception(e.status.as_ref(), &desired);
                let api = Api::<StandardException>::namespaced(
                    client.clone(),
                    &e.namespace().unwrap_or_default(),
                );
                Status {
                    api,
                    meta: std::borrow::Cow::Borrowed(&e.metadata),
                    current: e.status.as_ref(),
                    desired,
                    events,
                }
            }),
    )
    .await;
    failures += statuses(
        cx,
        inputs.baselines.iter().zip(&eval.baselines).map(|(b, v)| {
            let previous = conditions(b.status.as_ref().map(|st| &st.conditions));
            let images = b.spec.images.len();
            let desired = build::baseline_status(v, images, b.metadata.generation, previous, now);
            Status {
                api: Api::<PatchBaseline>::all(client.clone()),
                meta: std::borrow::Cow::Borrowed(&b.metadata),
                current: b.status.as_ref(),
                desired,
                events: Vec::new(),
            }
        }),
    )
    .await;
    failures += statuses(
        cx,
        inputs
            .ownerships
            .iter()
            .zip(&eval.ownerships)
            .map(|(o, v)| {
                let previous = conditions(o.status.as_ref().map(|st| &st.conditions));
                let desired = build::ownership_status(v, o.metadata.generation, previous, now);
                let api = Api::<ServiceOwnership>::namespaced(
                    client.clone(),
                    &o.namespace().unwrap_or_default(),
                );
                Status {
                    api,
                    meta: std::borrow::Cow::Borrowed(&o.metadata),
                    current: o.status.as_ref(),
                    desired,
                    events: Vec::new(),
                }
            }),
    )
    .await;
    failures += reviews(cx, inputs, eval, now).await;
    failures
}

/// Writes the status of every review that changed: whether it is current,
/// and, once, what it recorded. A slim review (superseded, settled) that
/// becomes current again, because a later one was deleted, is only marked
/// current: its watch event then brings it back in full.
async fn reviews(cx: &Context<'_>, inputs: &Inputs, eval: &Evaluation, now: Timestamp) -> usize {
    let client = cx.writer.client();
    let mut failures = 0;
    let kind = StandardReview::kind(&());
    for (r, v) in inputs.reviews.iter().zip(&eval.reviews) {
        if r.slim && v.current {
            let started = Instant::now();
            let seen = cx.stores.reviews.resource_version("", &r.name).flatten();
            let result = cx.writer.promote_review(&r.name, seen).await.map(|_| ());
            failures += done(cx, &kind, started, result);
        }
    }
    failures
        + statuses(
            cx,
            inputs
                .reviews
                .iter()
                .zip(&eval.reviews)
                .filter(|(r, _)| !r.slim)
                .map(|(r, v)| {
                    // The cache keeps the engine's model of a review, not the
                    // object: its name and resourceVersion are what a write needs.
                    let meta = ObjectMeta {
                        name: Some(r.name.clone()),
                        resource_version: cx.stores.reviews.resource_version("", &r.name).flatten(),
                        ..Default::default()
                    };
                    let desired = build::review_status(v, &r.standard, r.status.as_ref(), now);
                    Status {
                        api: Api::<StandardReview>::all(client.clone()),
                        meta: std::borrow::Cow::Owned(meta),
                        current: r.status.as_ref(),
                        desired,
                        events: Vec::new(),
                    }
                }),
        )
        .await
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

/// One object's desired status, and the Events of reaching it.
struct Status<'a, K, S> {
    api: Api<K>,
    meta: std::borrow::Cow<'a, ObjectMeta>,
    desired: S,
    current: Option<&'a S>,
    events: Vec<Transition>,
}

/// Writes each status of one kind that changed, then raises the Events of
/// its transition; returns how many writes failed.
async fn statuses<'a, K, S>(cx: &Context<'_>, each: impl Iterator<Item = Status<'a, K, S>>) -> usize
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + 'a,
    S: serde::Serialize + PartialEq + 'a,
{
    let kind = K::kind(&());
    let mut failures = 0;
    let mut started = Instant::now();
    for s in each {
        let result = match cx
            .writer
            .status(s.api, &s.meta, &s.desired, s.current)
            .await
        {
            Ok(true) => {
                publish(cx, &reference::<K>(&s.meta), s.events).await;
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(err) => Err(err),
        };
        failures += done(cx, &kind, started, result);
        started = Instant::now();
    }
    failures
}

/// Keeps the generated admission policies and bindings as `generated` says:
/// applies those that differ from the cluster's (a hand edit included) and
/// deletes those no standard asks for. Returns the failed writes, and the
/// API server's refusal of a standard's policy by standard name.
async fn policies(cx: &Context<'_>, generated: &[Generated]) -> (usize, HashMap<String, String>) {
    let kind = ValidatingAdmissionPolicy::kind(&());
    let current_policies: HashMap<String, ValidatingAdmissionPolicy> = cx
        .stores
        .policies
        .objects()
        .into_iter()
        .map(|p| (p.name_any(), p))
        .collect();
    let current_bindings: HashMap<String, ValidatingAdmissionPolicyBinding> = cx
        .stores
        .bindings
        .objects()
        .into_iter()
        .map(|b| (b.name_any(), b))
        .collect();
    let mut failures = 0;
    let mut refused = HashMap::new();
    let mut wanted = HashSet::new();
    for g in generated {
        for (policy, binding) in &g.policies {
            let started = Instant::now();
            let name = policy.name_any();
            wanted.insert(name.clone());
            // The policy first: a binding to a policy that does not exist yet
            // does nothing, while a policy without its binding does nothing either.
            let mut result = cx
                .writer
                .generated(policy, current_policies.get(&name), |a, b| a.spec == b.spec)
                .await;
            if result.is_ok() {
                result = cx
                    .writer
                    .generated(binding, current_bindings.get(&name), |a, b| {
                        a.spec == b.spec
                    })
                    .await;
            }
            let standard = policy
                .annotations()
                .get(admission::policy::STANDARD_ANNOTATION);
            match (&result, standard) {
                (
                    Err(WriteError::Api {
                        source: kube::Error::Api(e),
                        ..
                    }),
                    Some(standard),
                ) if e.code == 422 => {
                    refused.insert(standard.clone(), e.message.clone());
                }
                (Err(err @ WriteError::NotOurs { .. }), Some(standard)) => {
                    refused.insert(standard.clone(), err.to_string());
                }
                _ => {}
            }
            failures += done(cx, &kind, started, result.map(|_| ()));
        }
    }
    let present: std::collections::BTreeSet<&String> = current_policies
        .keys()
        .chain(current_bindings.keys())
        .collect();
    for name in present {
        // Only what a standard generated is deleted: the label alone (which
        // anyone who can edit the object can add) is not enough.
        let ours = current_policies
            .get(name)
            .map(|p| &p.metadata)
            .or_else(|| current_bindings.get(name).map(|b| &b.metadata))
            .is_some_and(generated_by_a_standard);
        if wanted.contains(name) || !ours {
            continue;
        }
        let started = Instant::now();
        // The binding first, so that no binding is left naming a missing policy.
        let mut result = Ok(false);
        if current_bindings.contains_key(name) {
            result = cx
                .writer
                .delete_generated::<ValidatingAdmissionPolicyBinding>(name)
                .await;
        }
        if result.is_ok() && current_policies.contains_key(name) {
            result = cx
                .writer
                .delete_generated::<ValidatingAdmissionPolicy>(name)
                .await;
        }
        failures += done(cx, &kind, started, result.map(|_| ()));
    }
    (failures, refused)
}

/// Whether an InfrastructureStandard controls the object (its controller
/// ownerReference), as every generated policy and binding has it.
fn generated_by_a_standard(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> bool {
    meta.owner_references.iter().flatten().any(|o| {
        o.kind == crate::api::InfrastructureStandard::kind(&()) && o.controller == Some(true)
    })
}

/// The next instant an exception enters its expiry warning window, after `now`.
pub fn next_warning(
    eval: &Evaluation,
    warning: SignedDuration,
    now: Timestamp,
) -> Option<Timestamp> {
    eval.exceptions
        .iter()
        .filter(|e| build::in_effect(e.state))
        .map(|e| build::expiry_warning_at(e.expires_at, warning))
        .filter(|t| *t > now)
        .min()
}

/// Records one reconcile; returns 1 when it failed.
fn done(cx: &Context<'_>, kind: &str, started: Instant, result: Result<(), WriteError>) -> usize {
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            cx.metrics.reconciled(kind, seconds, true);
            0
        }
        Err(err) => {
            tracing::warn!(error = %err, "write failed; retrying");
            cx.metrics.reconciled(kind, seconds, false);
            1
        }
    }
}

/// Reports: one per workload, and none for workloads that are gone.
async fn reports(
    cx: &Context<'_>,
    inputs: &Inputs,
    eval: &Evaluation,
    kept: &[bool],
    now: Timestamp,
) -> usize {
    let kind = ComplianceReport::kind(&());
    let mut failures = 0;
    // Nothing can be created in a namespace being deleted: its reports go with it.
    let terminating: HashSet<String> = cx
        .stores
        .namespaces
        .values()
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_some())
        .map(|n| n.name_any())
        .collect();
    let (wanted, planned, to_write) = plan(cx, inputs, eval, kept, &terminating, now);
    let bulk = planned.bulk();
    // Writes run concurrently, at most `max_concurrent_writes` at once (and
    // within the client-side rate limit); each failure is counted and that
    // object retried by the next pass, not the whole pass.
    let writes = to_write
        .into_iter()
        .map(|write| write_report(cx, write, now, &bulk));
    let mut written = transitions::Tally::default();
    let mut results =
        futures::stream::iter(writes).buffer_unordered(cx.max_concurrent_writes.max(1));
    while let Some((started, result)) = results.next().await {
        if let Ok(changes) = &result {
            written.add(changes);
        }
        failures += done(cx, &kind, started, result.map(|_| ()));
    }
    drop(results);
    // The summaries count what was written.
    let (standards, baselines) = written.summaries(&bulk);
    for (name, t) in standards {
        if let Some(s) = inputs.standards.iter().find(|s| s.name_any() == name) {
            publish(cx, &s.object_ref(&()), vec![t]).await;
        }
    }
    for (name, t) in baselines {
        if let Some(b) = inputs.baselines.iter().find(|b| b.name_any() == name) {
            publish(cx, &b.object_ref(&()), vec![t]).await;
        }
    }
    // A report without an owner is being garbage-collected already.
    let unwanted = cx.stores.reports.select(|(ns, name), report| {
        report.value.owned && !terminating.contains(ns) && !wanted.contains(&report_key(ns, name))
    });
    for (ns, name) in &unwanted {
        let started = Instant::now();
        let result = cx.writer.delete_report(ns, name).await.map(|_| ());
        failures += done(cx, &kind, started, result);
    }
    failures
}

/// A report to write: its workload and verdict, and the cluster's copy as
/// last seen. (What the write changes is counted when planned, so that bulk
/// summaries are decided before any write, and worked out again when it is
/// written: kept for 10,000 planned writes, it took 6.7 MB of heap.)
struct Write<'i> {
    workload: &'i Workload,
    verdict: &'i WorkloadVerdict,
    current: Option<Entry<SeenReport>>,
}

/// The reports a pass wants (by `report_key`), the changes of those
/// to write counted per standard and baseline, and the workloads whose
/// report must be written, with the cluster's copy as last seen.
#[allow(clippy::type_complexity)]
fn plan<'i>(
    cx: &Context<'_>,
    inputs: &'i Inputs,
    eval: &'i Evaluation,
    kept: &[bool],
    terminating: &HashSet<String>,
    now: Timestamp,
) -> (HashSet<u64>, transitions::Tally, Vec<Write<'i>>) {
    // Each report is built once here. Only those the cluster does not hold
    // yet are written (built again then, rather than all kept in memory),
    // and their changes counted per standard (and baseline): beyond a few,
    // a standard gets one summary Event instead of one per workload.
    let mut wanted = HashSet::new();
    let mut planned = transitions::Tally::default();
    let mut to_write = Vec::new();
    let mut built = cx.built.0.lock().unwrap_or_else(|e| e.into_inner());
    for (i, (w, v)) in inputs.workloads.iter().zip(&eval.workloads).enumerate() {
        if w.uid.is_none() || terminating.contains(&w.namespace) {
            continue;
        }
        let name = build::report_name(w);
        let key = report_key(&w.namespace, &name);
        wanted.insert(key);
        let current = cx.stores.reports.get(&w.namespace, &name);
        let seen = current.as_ref().map(|c| c.value.as_ref());
        let as_built = seen.is_some_and(|s| built.get(&key) == Some(&s.digest));
        if as_built && kept.get(i).copied().unwrap_or(false) {
            continue;
        }
        let desired = build::report(w, v, seen, now);
        built.insert(key, digest(&desired));
        if !report_differs(&desired, seen) {
            continue;
        }
        if let Some(next) = desired.status.as_ref() {
            planned.add(&transitions::report_changes(seen, next));
        }
        to_write.push(Write {
            workload: w,
            verdict: v,
            current,
        });
    }
    built.retain(|key, _| wanted.contains(key));
    (wanted, planned, to_write)
}

/// Writes one workload's report, then raises the Events of its transition
/// but for what `bulk` summarises; returns when it started and how it
/// went: on success, what the write changed.
async fn write_report(
    cx: &Context<'_>,
    write: Write<'_>,
    now: Timestamp,
    bulk: &transitions::Bulk,
) -> (Instant, Result<transitions::Changes, WriteError>) {
    let started = Instant::now();
    let Write {
        workload: w,
        verdict: v,
        current,
    } = write;
    let previous = current.as_ref().map(|c| c.value.as_ref());
    let desired = build::report(w, v, previous, now);
    if let Err(err) = cx.writer.report(&desired, current.as_ref()).await {
        return (started, Err(err));
    }
    let mut changes = transitions::Changes::default();
    if let Some(next) = desired.status.as_ref() {
        changes = transitions::report_changes(previous, next);
        let regarding = ObjectReference {
            api_version: Some(w.kind.api_version().into()),
            kind: Some(w.kind.as_str().into()),
            name: Some(w.name.clone()),
            namespace: Some(w.namespace.clone()),
            uid: w.uid.clone(),
            ..Default::default()
        };
        publish(cx, &regarding, transitions::report(&changes, next, v, bulk)).await;
    }
    (started, Ok(changes))
}

/// Raises the Events of a transition; a failure to publish is logged, not retried.
///
/// Each transition gets an Event of its own. kube's recorder folds Events
/// with the same reason about the same object into one series and keeps the
/// first note, so a second DeviationFound would show the first one's rules;
/// a recorder per transition (its cache is per instance) keeps every note.
async fn publish(cx: &Context<'_>, regarding: &ObjectReference, events: Vec<Transition>) {
    for t in events {
        cx.writer.throttle().await;
        let recorder = Recorder::new(cx.writer.client().clone(), cx.reporter.clone());
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
            tracing::warn!(error = %err, reason = t.reason, "cannot publish an Event");
        }
    }
}

/// The conditions of a status, or none.
fn conditions(c: Option<&Vec<Condition>>) -> &[Condition] {
    c.map_or(&[], Vec::as_slice)
}
