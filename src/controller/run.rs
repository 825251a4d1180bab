//! The operator's loop: read the stores, evaluate (pure, incremental), and
//! reconcile what changed (I/O, `reconcile`). It runs on every change
//! (debounced), exactly at the next instant a verdict changes by itself, and
//! at each resync; failed writes are retried with backoff. With leader
//! election, only the instance holding the Lease evaluates and writes; the
//! others keep their caches warm and take over when the Lease is free.
//! Drives the pipeline (watch → engine → plan → writer) and holds the Lease;
//! decides when to run a pass, never what a pass writes.

use std::{sync::Arc, time::Duration};

use jiff::SignedDuration;
use kube::{Api, Client, ResourceExt, api::ListParams, runtime::events::Reporter};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::{Notify, watch as signal};

use super::{
    backoff::Doubling,
    clock::Clock,
    metrics::Metrics,
    plan::{self, Plan, report::Built},
    stores::{Sources, Stores},
    watch,
    writer::{self, Writer},
};
use crate::{
    api::InfrastructureStandard,
    engine::{Evaluation, Incremental, Inputs},
};

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Only these namespaces' workloads and namespaced objects; all when empty.
    pub namespaces: Vec<String>,
    /// Evaluate everything at least this often, whatever happens.
    pub resync: Duration,
    /// How long before its expiry an exception in effect warns.
    pub expiry_warning: SignedDuration,
    /// Leader election, when several instances run.
    pub leader: Option<Leader>,
    /// How admission policies are generated.
    pub admission: crate::admission::Options,
    /// Client-side limit on API requests per second (0: none) and its burst.
    pub api_qps: f64,
    /// How many requests may be made at once before the rate applies.
    pub api_burst: u32,
    /// How many report writes may be in flight at once.
    pub max_concurrent_writes: usize,
    /// Where each pass's state goes for the dashboard, when it is served.
    pub dashboard: Option<crate::dashboard::Publisher>,
}

/// Where and as whom to hold the leader Lease.
#[derive(Clone, Debug)]
pub struct Leader {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub lease: String,
    /// This instance's identity (the Pod name in a cluster).
    pub identity: String,
}

/// After a change, wait this long for more before evaluating, so that a
/// burst (an `apply` of many objects) is evaluated once.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// How long to wait for the watches to show a pass's writes.
const CATCH_UP: Duration = Duration::from_secs(5);

/// How long a Lease is held without renewal, and how long before its end it
/// is renewed (seconds).
const LEASE_DURATION: u64 = 15;
const LEASE_GRACE: u64 = 5;

/// Why the loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to (SIGTERM, Ctrl-C): a clean stop.
    Shutdown,
    /// Leader election failed for good: the process must exit non-zero, so
    /// that dashboards and restart policies see a failure, not a clean stop.
    LostLease,
}

/// Runs until `shutdown` completes, or leader election fails for good.
pub async fn run(
    client: Client,
    config: Config,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Stopped {
    let mut shutdown = std::pin::pin!(shutdown);
    metrics.set_resync(config.resync);
    let changed = Arc::new(Notify::new());
    // Whether workloads keep their objects (for CEL rules) is known before
    // the watches list them, so that the first list keeps what is needed
    // and no second one is made for it. A failed read assumes no CEL rule:
    // the first pass corrects it.
    let sources = Sources::new(
        Api::<InfrastructureStandard>::all(client.clone())
            .list(&ListParams::default())
            .await
            .is_ok_and(|l| l.items.iter().any(crate::engine::cel::has_cel_rule)),
    );
    let stores = watch::start(
        &client,
        &config.namespaces,
        watch::Signal {
            changed: changed.clone(),
            metrics: metrics.clone(),
        },
        sources,
    );
    let reporter = Reporter {
        controller: "plumbline".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    tokio::select! {
        () = stores.ready() => {}
        () = &mut shutdown => return Stopped::Shutdown,
    }
    tracing::info!("caches filled");
    // Without leader election this instance always leads; the sender lives
    // as long as the loop so that the channel never closes.
    let (_always, always) = signal::channel(true);
    let (mut leading, lease) = match &config.leader {
        None => (always, None),
        Some(leader) => {
            let manager = tokio::select! {
                m = lease_manager(&client, leader) => m,
                () = &mut shutdown => return Stopped::Shutdown,
            };
            let (rx, task) = manager.watch().await;
            tracing::info!(lease = %leader.lease, namespace = %leader.namespace, identity = %leader.identity, "waiting for the leader lease");
            // A standby is ready: it serves, and takes over when needed.
            metrics.set_ready();
            (rx, Some(task))
        }
    };

    let writer = Writer::new(
        client.clone(),
        metrics.clone(),
        writer::Options {
            limit: super::limit::RateLimit::new(config.api_qps, config.api_burst),
            leading: leading.clone(),
            reporter,
            max_concurrent_writes: config.max_concurrent_writes,
        },
    );
    let built = Built::default();
    let mut cache = Incremental::new();
    // Failed writes are retried after 1 s, doubling up to 30 s while passes
    // keep failing.
    let mut retry = Doubling::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut resync_at = tokio::time::Instant::now() + config.resync;
    let mut cel_refused = CelRefused::default();
    let mut relisting: Option<Vec<u64>> = None;
    let stopped = 'outer: loop {
        let is_leader = *leading.borrow_and_update();
        metrics.set_leader(is_leader);
        if !is_leader {
            if let Some(d) = &config.dashboard {
                d.send_replace(crate::dashboard::Shown::Standby);
            }
            // Verdicts kept while standing by could be stale by the time
            // this instance leads: start again from a full evaluation.
            cache.clear();
            tokio::select! {
                r = leading.changed() => if r.is_err() { break 'outer lost_lease() },
                () = &mut shutdown => break 'outer Stopped::Shutdown,
            }
            if *leading.borrow() {
                tracing::info!("leading: evaluating and writing");
            }
            continue;
        }
        // A CEL rule appeared: the workload watches list again, keeping
        // each object; until they have, no pass runs (it would judge the
        // CEL rules without the objects). The last one gone: they list again
        // without them, which frees that memory.
        let wanted = stores
            .standards
            .values()
            .iter()
            .any(|s| crate::engine::cel::has_cel_rule(s));
        if stores.sources.set(wanted) && wanted {
            relisting = Some(stores.workload_lists());
            tracing::info!(
                "a CEL rule exists: the workload watches list again, keeping each object"
            );
        }
        if let Some(marks) = &relisting {
            if !stores.workloads_listed_since(marks) {
                tokio::select! {
                    () = next_pass(&changed, Duration::from_secs(1)) => {}
                    () = &mut shutdown => break 'outer Stopped::Shutdown,
                }
                continue;
            }
            relisting = None;
        }
        let started = std::time::Instant::now();
        let now = clock.now();
        let (inputs, evaluation, pass) = cache.evaluate(stores.inputs(), now);
        let (failures, coverage) = write_pass(
            &writer,
            &stores,
            &config,
            &built,
            (inputs, evaluation, &pass.kept),
            &mut cel_refused,
            now,
        )
        .await;
        if let Some(d) = &config.dashboard {
            // A copy of this pass's state: the dashboard renders from it
            // while the next pass runs (docs/dashboard.md has its cost).
            let snapshot = crate::dashboard::Snapshot::new(
                inputs.clone(),
                evaluation.clone(),
                coverage,
                config.expiry_warning,
                config.admission.also_exempt.clone(),
            );
            d.send_replace(crate::dashboard::Shown::Ready(Arc::new(snapshot)));
        }
        // The next pass must read what this one wrote, or it would write it
        // (and raise its Events) again; watches lag writes by milliseconds.
        let unseen = stores.catch_up(writer.take_written(), CATCH_UP).await;
        if !unseen.is_empty() {
            tracing::warn!(count = unseen.len(), first = ?unseen.first(), "watches do not show some writes yet");
        }
        metrics.pass(&pass);
        metrics.observe(
            evaluation,
            config.expiry_warning,
            started.elapsed().as_secs_f64(),
            writer.writes(),
            failures,
        );
        let retry_in = if failures == 0 {
            retry.reset();
            None
        } else {
            retry.next()
        };
        let by_itself = evaluation
            .wakes_at(now, config.expiry_warning)
            .map(|at| now.duration_until(at).unsigned_abs());
        let resync_in = resync_at.saturating_duration_since(tokio::time::Instant::now());
        let wait = next_wake(resync_in, retry_in, by_itself);
        tracing::debug!(
            writes = writer.writes(),
            evaluated = pass.evaluated,
            reused = pass.reused,
            ?wait,
            "evaluated"
        );
        tokio::select! {
            () = next_pass(&changed, wait) => {}
            r = leading.changed() => if r.is_err() { break lost_lease() },
            () = &mut shutdown => break Stopped::Shutdown,
        }
        // A resync is the safety net: evaluate every workload again, however
        // the loop woke up.
        if tokio::time::Instant::now() >= resync_at {
            cache.clear();
            resync_at = tokio::time::Instant::now() + config.resync;
        }
    };
    if let Some(task) = lease {
        // Dropping the receiver makes the manager release the Lease, so that
        // a standby takes over without waiting for it to expire.
        drop(leading);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("released the leader lease"),
            Ok(Ok(Err(err))) => tracing::warn!(error = %err, "cannot release the leader lease"),
            Ok(Err(err)) => tracing::warn!(error = %err, "the lease task failed"),
            Err(_) => tracing::warn!("releasing the leader lease timed out"),
        }
    }
    tracing::info!(writes = writer.writes(), "stopped");
    stopped
}

/// Plans one evaluation's writes and has the writer apply them: the
/// admission policies first (a standard's status says whether the API
/// server refused its policy), then everything else. Returns how many
/// objects failed; each is planned again, and so retried, by the next pass.
async fn write_pass(
    writer: &Writer,
    stores: &Stores,
    config: &Config,
    built: &Built,
    (inputs, eval, kept): (&Inputs, &Evaluation, &[bool]),
    cel_refused: &mut CelRefused,
    now: jiff::Timestamp,
) -> (usize, Vec<crate::admission::Coverage>) {
    let mut options = config.admission.clone();
    options.cel_refused = cel_refused.current(inputs);
    let mut generated = crate::admission::generate_all(inputs, eval, &options, now);
    let (mut failed, mut refused) = writer
        .policies(&plan::admission::plan(stores, &generated))
        .await;
    // A policy the API server refused for a CEL rule it does not accept (a
    // type it checks that the engine does not): generated again at once
    // without that rule, so that the rest of the standard is enforced.
    if cel_refused.note(inputs, &generated, &refused) {
        options.cel_refused = cel_refused.current(inputs);
        generated = crate::admission::generate_all(inputs, eval, &options, now);
        (failed, refused) = writer
            .policies(&plan::admission::plan(stores, &generated))
            .await;
    }
    let cx = plan::Context {
        stores,
        inputs,
        eval,
        kept,
        now,
        expiry_warning: config.expiry_warning,
    };
    let failed = failed
        + writer
            .apply(Plan::new(cx, built, &generated, &refused))
            .await;
    (failed, generated.into_iter().map(|g| g.coverage).collect())
}

/// CEL rules the API server refused, by standard and rule, with the
/// standard's generation and the API server's message: until the standard
/// changes, its policy is generated without them rather than refused again
/// on every pass.
#[derive(Default)]
struct CelRefused(std::collections::BTreeMap<(String, String), (Option<i64>, String)>);

impl CelRefused {
    /// The refusals that still hold (the standard has not changed since).
    fn current(&self, inputs: &Inputs) -> std::collections::BTreeMap<(String, String), String> {
        self.0
            .iter()
            .filter(|((name, _), (generation, _))| {
                inputs
                    .standards
                    .iter()
                    .any(|s| s.name_any() == *name && s.metadata.generation == *generation)
            })
            .map(|(key, (_, message))| (key.clone(), message.clone()))
            .collect()
    }

    /// Records the CEL rules that the API server's refusals name; whether
    /// there is a new one (then the policies are generated again).
    fn note(
        &mut self,
        inputs: &Inputs,
        generated: &[crate::admission::Generated],
        refused: &std::collections::HashMap<String, String>,
    ) -> bool {
        let mut new = false;
        for (s, g) in inputs.standards.iter().zip(generated) {
            let name = s.name_any();
            let Some(message) = refused.get(&name) else {
                continue;
            };
            for rule in crate::admission::policy::refused_cel_rules(s, g, message) {
                let key = (name.clone(), rule);
                let known = self
                    .0
                    .get(&key)
                    .is_some_and(|(g, _)| *g == s.metadata.generation);
                if !known {
                    self.0.insert(key, (s.metadata.generation, message.clone()));
                    new = true;
                }
            }
        }
        self.0.retain(|(name, _), (generation, _)| {
            inputs
                .standards
                .iter()
                .any(|s| s.name_any() == *name && s.metadata.generation == *generation)
        });
        new
    }
}

/// Waits for the next pass: a change, then `DEBOUNCE` more so that a burst
/// (an `apply` of many objects) is one pass, or `wait`, whichever comes
/// first. The changes signalled during the debounce are read by the pass
/// that follows, so their signal is taken too: it would start one more pass
/// with nothing new to read.
async fn next_pass(changed: &Notify, wait: Duration) {
    tokio::select! {
        () = changed.notified() => {
            tokio::time::sleep(DEBOUNCE).await;
            let _ = futures::FutureExt::now_or_never(changed.notified());
        }
        () = tokio::time::sleep(wait) => {}
    }
}

/// How long to wait before the next pass when nothing changes: until the
/// resync, a retry of failed writes, or the next instant a verdict changes
/// by itself (an exception expires or enters its warning window, a patch
/// deadline passes), whichever comes first. The one place the loop's
/// wake-up is decided. Pure.
fn next_wake(
    resync_in: Duration,
    retry_in: Option<Duration>,
    by_itself: Option<Duration>,
) -> Duration {
    [Some(resync_in), retry_in, by_itself]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(resync_in)
}

/// The Lease task ended (it only does when its API calls keep failing in a
/// way it cannot recover from): stop, so that the Pod restarts cleanly
/// rather than writing without knowing whether it leads.
fn lost_lease() -> Stopped {
    tracing::error!("leader election stopped; exiting");
    Stopped::LostLease
}

/// Builds the Lease manager, retrying with backoff while the API server
/// refuses (e.g. the Lease's namespace does not exist yet).
async fn lease_manager(client: &Client, leader: &Leader) -> kube_lease_manager::LeaseManager {
    let mut backoff = Doubling::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let built = LeaseManagerBuilder::new(client.clone(), &leader.lease)
            .with_namespace(&leader.namespace)
            .with_identity(&leader.identity)
            .with_duration(LEASE_DURATION)
            .with_grace(LEASE_GRACE)
            .with_field_manager(format!("plumbline-lease-{}", leader.identity))
            .build()
            .await;
        match built {
            Ok(m) => return m,
            Err(err) => {
                tracing::warn!(error = %err, lease = %leader.lease, namespace = %leader.namespace, "cannot use the leader lease; retrying");
                tokio::time::sleep(backoff.next().unwrap_or_default()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `next_pass` once and says how long it took, in paused time.
    async fn timed(changed: &Notify, wait: Duration) -> Duration {
        let started = tokio::time::Instant::now();
        next_pass(changed, wait).await;
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_one_pass_after_the_debounce() {
        let changed = Arc::new(Notify::new());
        let burst = changed.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                burst.notify_one();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        assert_eq!(timed(&changed, Duration::from_secs(600)).await, DEBOUNCE);
        // The burst's later signals were taken: nothing starts a second pass
        // until the timer.
        assert_eq!(
            timed(&changed, Duration::from_secs(7)).await,
            Duration::from_secs(7)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_nothing_changing_it_wakes_exactly_when_a_verdict_changes_by_itself() {
        let changed = Notify::new();
        let by_itself = Duration::from_millis(86_400_123);
        let wait = next_wake(Duration::from_secs(3600 * 48), None, Some(by_itself));
        assert_eq!(timed(&changed, wait).await, by_itself);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_writes_are_retried_after_a_backoff_that_doubles() {
        let changed = Notify::new();
        let mut retry = Doubling::new(Duration::from_secs(1), Duration::from_secs(30));
        let mut waited = Vec::new();
        for _ in 0..7 {
            let wait = next_wake(Duration::from_secs(600), retry.next(), None);
            waited.push(timed(&changed, wait).await.as_secs());
        }
        assert_eq!(waited, [1, 2, 4, 8, 16, 30, 30]);
        retry.reset();
        assert_eq!(retry.next(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn the_loop_wakes_at_the_first_of_resync_retry_and_a_verdict_changing() {
        let s = Duration::from_secs;
        assert_eq!(next_wake(s(600), None, None), s(600));
        assert_eq!(next_wake(s(600), Some(s(1)), Some(s(5))), s(1));
        assert_eq!(next_wake(s(600), Some(s(8)), Some(s(5))), s(5));
        assert_eq!(next_wake(s(3), Some(s(8)), Some(s(5))), s(3));
    }
}
