//! The operator's loop: read the stores, evaluate (pure), build the desired
//! reports and statuses (pure), write what changed (I/O). It runs again on
//! every change, exactly at the next instant a verdict changes by itself,
//! and at each resync; failed writes are retried with backoff.

use std::{collections::HashMap, sync::Arc, time::Duration};

use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::Notify;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::{build, clock::Clock, transitions, watch, write::Writer};
use crate::engine::evaluate;

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Only this namespace's workloads and namespaced objects, if set.
    pub namespace: Option<String>,
    /// Evaluate at least this often, whatever happens.
    pub resync: Duration,
}

/// After a change, wait this long for more before evaluating, so that a
/// burst (an `apply` of many objects) is evaluated once.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Runs until `shutdown` completes.
pub async fn run(
    client: Client,
    config: Config,
    clock: Arc<dyn Clock>,
    metrics: Arc<super::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let changed = Arc::new(Notify::new());
    let stores = watch::start(&client, config.namespace.as_deref(), changed.clone());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "plumbline".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let writer = Writer::new(client);
    let mut shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        () = stores.ready() => {}
        () = &mut shutdown => return,
    }
    tracing::info!("caches filled; evaluating");
    let mut retry = Duration::from_secs(1);
    loop {
        let started = std::time::Instant::now();
        let now = clock.now();
        let inputs = stores.inputs();
        let evaluation = evaluate(&inputs, now);
        let failures = write_all(&writer, &recorder, &stores, &inputs, &evaluation, now).await;
        metrics.observe(
            &evaluation,
            started.elapsed().as_secs_f64(),
            writer.writes(),
            failures,
        );
        let mut wait = config.resync;
        if failures > 0 {
            wait = wait.min(retry);
            retry = (retry * 2).min(Duration::from_secs(30));
        } else {
            retry = Duration::from_secs(1);
        }
        if let Some(next) = evaluation.next_change {
            let until = now.duration_until(next).unsigned_abs();
            wait = wait.min(until);
        }
        tracing::debug!(writes = writer.writes(), ?wait, "evaluated");
        tokio::select! {
            () = changed.notified() => tokio::time::sleep(DEBOUNCE).await,
            () = tokio::time::sleep(wait) => {}
            () = &mut shutdown => break,
        }
    }
    tracing::info!(writes = writer.writes(), "stopped");
}

/// Writes every report and status that changed; returns how many writes failed.
/// Raises the Events of a transition; a failure to publish is logged, not retried.
async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    events: Vec<transitions::Transition>,
) {
    for t in events {
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

async fn write_all(
    writer: &Writer,
    recorder: &Recorder,
    stores: &watch::Stores,
    inputs: &crate::engine::Inputs,
    eval: &crate::engine::Evaluation,
    now: jiff::Timestamp,
) -> usize {
    let mut failures = 0;
    let mut fail = |err: super::write::WriteError| {
        tracing::warn!(error = %err, "write failed; retrying");
        failures += 1;
    };
    let reports: HashMap<(String, String), Arc<crate::api::ComplianceReport>> = stores
        .reports
        .state()
        .into_iter()
        .map(|r| ((r.namespace().unwrap_or_default(), r.name_any()), r))
        .collect();
    // Nothing can be created in a namespace being deleted: its reports go with it.
    let terminating: std::collections::HashSet<String> = stores
        .namespaces
        .state()
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_some())
        .map(|n| n.name_any())
        .collect();
    let mut wanted = std::collections::HashSet::new();
    for (w, v) in inputs.workloads.iter().zip(&eval.workloads) {
        if w.uid.is_none() || terminating.contains(&w.namespace) {
            continue;
        }
        let key = (w.namespace.clone(), build::report_name(w));
        let current = reports.get(&key).map(AsRef::as_ref);
        wanted.insert(key);
        let previous = current.and_then(|c| c.status.as_ref());
        let desired = build::report(w, v, previous, now);
        match writer.report(&desired, current).await {
            Ok(true) => {
                let regarding = ObjectReference {
                    api_version: Some(w.kind.api_version().into()),
                    kind: Some(w.kind.as_str().into()),
                    name: Some(w.name.clone()),
                    namespace: Some(w.namespace.clone()),
                    uid: w.uid.clone(),
                    ..Default::default()
                };
                let events = desired
                    .status
                    .as_ref()
                    .map(|next| transitions::report(previous, next))
                    .unwrap_or_default();
                publish(recorder, &regarding, events).await;
            }
            Ok(false) => {}
            Err(err) => fail(err),
        }
    }
    for ((ns, name), report) in &reports {
        // A report without an owner is being garbage-collected already.
        let owned = report
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|o| !o.is_empty());
        if owned
            && !terminating.contains(ns)
            && !wanted.contains(&(ns.clone(), name.clone()))
            && let Err(err) = writer.delete_report(ns, name).await
        {
            fail(err);
        }
    }
    let client = writer.client().clone();
    for (s, v) in inputs.standards.iter().zip(&eval.standards) {
        let previous = conditions(s.status.as_ref().map(|st| &st.conditions));
        let desired = build::standard_status(v, s.metadata.generation, previous, now);
        let events = transitions::standard(previous, &desired.conditions);
        let api = Api::all(client.clone());
        if let Err(err) = write_status(
            writer,
            recorder,
            api,
            s,
            &desired,
            s.status.as_ref(),
            events,
        )
        .await
        {
            fail(err);
        }
    }
    for (e, v) in inputs.exceptions.iter().zip(&eval.exceptions) {
        let previous = conditions(e.status.as_ref().map(|st| &st.conditions));
        let desired = build::exception_status(v, e.metadata.generation, previous, now);
        let events = transitions::exception(e.status.as_ref(), &desired);
        let api = Api::namespaced(client.clone(), &e.namespace().unwrap_or_default());
        if let Err(err) = write_status(
            writer,
            recorder,
            api,
            e,
            &desired,
            e.status.as_ref(),
            events,
        )
        .await
        {
            fail(err);
        }
    }
    for (b, v) in inputs.baselines.iter().zip(&eval.baselines) {
        let previous = conditions(b.status.as_ref().map(|st| &st.conditions));
        let desired =
            build::baseline_status(v, b.spec.images.len(), b.metadata.generation, previous, now);
        let api = Api::all(client.clone());
        if let Err(err) = write_status(
            writer,
            recorder,
            api,
            b,
            &desired,
            b.status.as_ref(),
            Vec::new(),
        )
        .await
        {
            fail(err);
        }
    }
    for (o, v) in inputs.ownerships.iter().zip(&eval.ownerships) {
        let previous = conditions(o.status.as_ref().map(|st| &st.conditions));
        let desired = build::ownership_status(v, o.metadata.generation, previous, now);
        let api = Api::namespaced(client.clone(), &o.namespace().unwrap_or_default());
        if let Err(err) = write_status(
            writer,
            recorder,
            api,
            o,
            &desired,
            o.status.as_ref(),
            Vec::new(),
        )
        .await
        {
            fail(err);
        }
    }
    failures
}

/// The conditions of a status, or none.
fn conditions(
    c: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
    c.map_or(&[], Vec::as_slice)
}

/// Writes one status when it changed, then raises the Events of its transition.
async fn write_status<K, S>(
    writer: &Writer,
    recorder: &Recorder,
    api: Api<K>,
    object: &K,
    desired: &S,
    current: Option<&S>,
    events: Vec<transitions::Transition>,
) -> Result<(), super::write::WriteError>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize + PartialEq,
{
    if writer
        .status(api, &object.name_any(), desired, current)
        .await?
    {
        publish(recorder, &object.object_ref(&()), events).await;
    }
    Ok(())
}
