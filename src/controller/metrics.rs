//! Operations: Prometheus metrics about the last evaluation (no per-object
//! labels, so cardinality stays bounded), and the `/metrics`, `/healthz` and
//! `/readyz` endpoints. `/readyz` answers 200 once the first full evaluation
//! is written. Records and serves; never reads the cluster or decides a write.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{
    api::PatchState,
    engine::{Compliance, Evaluation, Owner},
};

type Labels = Vec<(&'static str, String)>;

/// The values of `standards_by_review_state`'s `state` label.
const REVIEW_STATES: [&str; 6] = [
    "required",
    "due",
    "reviewed",
    "decision_pending",
    "not_required",
    "retired",
];

/// A standard's review state, as the metric's label says it.
fn review_state(r: &crate::engine::review::ReviewState) -> &'static str {
    use crate::engine::review::{Class, reasons};
    match (Class::of(r.reason), r.reason) {
        (_, reasons::RETIRED) => "retired",
        (_, reasons::REVISION_PENDING | reasons::RETIREMENT_PENDING) => "decision_pending",
        (Class::Required, _) => "required",
        (Class::Due, _) => "due",
        (Class::Reviewed, _) => "reviewed",
        (Class::Quiet, _) => "not_required",
    }
}

/// The operator's metrics.
pub struct Metrics {
    registry: Registry,
    workloads: Family<Labels, Gauge>,
    deviations: Family<Labels, Gauge>,
    active_exceptions: Family<Labels, Gauge>,
    review_required: Family<Labels, Gauge>,
    review_states: Family<Labels, Gauge>,
    review_age: Family<Labels, Gauge<f64, AtomicU64>>,
    migration_remaining: Family<Labels, Gauge>,
    patch: Family<Labels, Gauge>,
    orphans: Gauge,
    expiring: Gauge,
    ready_gauge: Gauge,
    last_evaluation: Gauge<f64, AtomicU64>,
    resync: Gauge<f64, AtomicU64>,
    evaluations: Counter,
    write_errors: Counter,
    writes: Counter,
    duration: Histogram,
    reconciles: Family<Labels, Counter>,
    reconcile_errors: Family<Labels, Counter>,
    write_retries: Family<Labels, Counter>,
    events_lost: Family<Labels, Counter>,
    watch_errors: Family<Labels, Counter>,
    reconcile_duration: Family<Labels, Histogram, fn() -> Histogram>,
    workload_evaluations: Family<Labels, Counter>,
    leader: Gauge,
    written_writes: AtomicU64,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("plumbline");
        let m = Self {
            workloads: Family::default(),
            deviations: Family::default(),
            active_exceptions: Family::default(),
            review_required: Family::default(),
            review_states: Family::default(),
            review_age: Family::default(),
            migration_remaining: Family::default(),
            patch: Family::default(),
            orphans: Gauge::default(),
            expiring: Gauge::default(),
            ready_gauge: Gauge::default(),
            last_evaluation: Gauge::default(),
            resync: Gauge::default(),
            evaluations: Counter::default(),
            write_errors: Counter::default(),
            writes: Counter::default(),
            duration: Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            write_retries: Family::default(),
            events_lost: Family::default(),
            watch_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(|| {
                Histogram::new([0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
            }),
            workload_evaluations: Family::default(),
            leader: Gauge::default(),
            written_writes: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register(
            "workloads",
            "Workloads by compliance state (compliant, excepted, deviating)",
            m.workloads.clone(),
        );
        registry.register(
            "deviations",
            "Open deviations by standard, rule and severity",
            m.deviations.clone(),
        );
        registry.register(
            "active_exceptions",
            "Active exceptions by standard",
            m.active_exceptions.clone(),
        );
        registry.register(
            "review_required",
            "1 when a standard needs review, by standard",
            m.review_required.clone(),
        );
        registry.register(
            "standards_by_review_state",
            "Standards by review state (required, due, reviewed, decision_pending, not_required, retired)",
            m.review_states.clone(),
        );
        registry.register(
            "standard_days_since_review",
            "Days since the current review of a standard, by standard (reviewed standards only)",
            m.review_age.clone(),
        );
        registry.register(
            "standard_migration_remaining_workloads",
            "Workloads of a Deprecated standard not yet compliant with its successor, by standard",
            m.migration_remaining.clone(),
        );
        registry.register(
            "patch_workloads",
            "Workloads by baseline, ring and patch state",
            m.patch.clone(),
        );
        registry.register(
            "orphaned_workloads",
            "Workloads no ServiceOwnership selects",
            m.orphans.clone(),
        );
        registry.register(
            "exceptions_expiring_soon",
            "Exceptions in effect that expire within the expiry warning window (--expiry-warning)",
            m.expiring.clone(),
        );
        registry.register(
            "ready",
            "1 once this instance is ready: the first evaluation written (a standby: caches filled), as /readyz answers",
            m.ready_gauge.clone(),
        );
        registry.register(
            "last_evaluation_timestamp_seconds",
            "When the last pass evaluated (Unix time): with resync_seconds, whether passes stalled",
            m.last_evaluation.clone(),
        );
        registry.register(
            "resync_seconds",
            "The --resync period: a leader evaluates at least this often",
            m.resync.clone(),
        );
        registry.register("evaluations", "Full evaluations run", m.evaluations.clone());
        registry.register(
            "write_errors",
            "Writes that failed and will be retried",
            m.write_errors.clone(),
        );
        registry.register(
            "writes",
            "Reports, statuses and deletions written",
            m.writes.clone(),
        );
        registry.register(
            "evaluation_duration_seconds",
            "Time to read, evaluate and write once",
            m.duration.clone(),
        );
        registry.register(
            "reconciles",
            "Objects reconciled (compared with the cluster, written when different), by kind",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Objects whose write failed (retried by the next pass), by kind and error class",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "write_retries",
            "Writes tried again at once, by kind and the error class of the failed try",
            m.write_retries.clone(),
        );
        registry.register(
            "events_lost",
            "Events the API server refused or that could not be sent, by reason (not retried: the status shows the transition)",
            m.events_lost.clone(),
        );
        registry.register(
            "watch_errors",
            "Watch failures (each retried with backoff), by kind and class: list, watch_start, expired (410 Gone: listed again), watch, stream",
            m.watch_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time to reconcile one object, writes and Events included, by kind",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "workload_evaluations",
            "Workload verdicts computed (evaluated) or kept from the previous pass (reused)",
            m.workload_evaluations.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance holds the leader lease (always 1 without --leader-elect)",
            m.leader.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    /// Records one evaluation and its writes; `window` is the expiry warning.
    pub fn observe(
        &self,
        eval: &Evaluation,
        window: jiff::SignedDuration,
        seconds: f64,
        total_writes: u64,
        failures: usize,
    ) {
        self.evaluations.inc();
        self.duration.observe(seconds);
        self.last_evaluation
            .set(eval.at.as_millisecond() as f64 / 1000.0);
        let previous = self.written_writes.swap(total_writes, Ordering::Relaxed);
        self.writes.inc_by(total_writes.saturating_sub(previous));
        self.write_errors.inc_by(failures as u64);

        self.workloads.clear();
        self.deviations.clear();
        let (mut compliant, mut excepted, mut deviating, mut orphans) = (0, 0, 0, 0);
        // Counted first, then one series each: not three label strings per
        // deviation (about 90,000 per pass at 10,000 workloads).
        let mut open: std::collections::HashMap<(&str, &str, crate::api::Severity), i64> =
            std::collections::HashMap::new();
        for v in &eval.workloads {
            match v.compliance() {
                Compliance::Deviating => deviating += 1,
                Compliance::Excepted => excepted += 1,
                Compliance::Compliant => compliant += 1,
            }
            if matches!(v.owner, Owner::Orphan) {
                orphans += 1;
            }
            for d in v.open_deviations() {
                *open.entry((&d.standard, &d.rule, d.severity)).or_default() += 1;
            }
        }
        for ((standard, rule, severity), n) in open {
            self.deviations
                .get_or_create(&vec![
                    ("standard", standard.to_string()),
                    ("rule", rule.to_string()),
                    ("severity", severity.to_string()),
                ])
                .set(n);
        }
        for (state, n) in [
            ("compliant", compliant),
            ("excepted", excepted),
            ("deviating", deviating),
        ] {
            self.workloads
                .get_or_create(&vec![("state", state.to_string())])
                .set(n);
        }
        self.orphans.set(orphans);
        self.expiring.set(
            eval.exceptions
                .iter()
                .filter(|e| e.expiring_soon(eval.at, window))
                .count() as i64,
        );

        self.active_exceptions.clear();
        self.review_required.clear();
        self.review_age.clear();
        self.migration_remaining.clear();
        for s in &eval.standards {
            let labels = vec![("standard", s.name.clone())];
            self.active_exceptions
                .get_or_create(&labels)
                .set(i64::from(s.exceptions.active));
            self.review_required
                .get_or_create(&labels)
                .set(i64::from(s.review.required));
            if let Some(at) = s.review.current.as_ref().and_then(|c| c.at) {
                let days = eval.at.duration_since(at).as_secs_f64() / 86_400.0;
                self.review_age.get_or_create(&labels).set(days);
            }
            if let Some(m) = &s.migration {
                self.migration_remaining
                    .get_or_create(&labels)
                    .set(i64::from(m.matched - m.migrated));
            }
        }
        let mut by_state =
            std::collections::BTreeMap::from(REVIEW_STATES.map(|state| (state, 0i64)));
        // A standard whose current review is being promoted is counted on
        // the next pass (its state is not known in this one).
        for s in eval
            .standards
            .iter()
            .filter(|s| s.error.is_none() && !s.review.waiting)
        {
            *by_state.entry(review_state(&s.review)).or_default() += 1;
        }
        for (state, n) in by_state {
            self.review_states
                .get_or_create(&vec![("state", state.to_string())])
                .set(n);
        }
        self.patch.clear();
        for b in &eval.baselines {
            for r in &b.rings {
                for (state, n) in [
                    (PatchState::Current, r.counts.current),
                    (PatchState::Behind, r.counts.behind),
                    (PatchState::Overdue, r.counts.overdue),
                    (PatchState::Excepted, r.counts.excepted),
                    (PatchState::Unknown, r.counts.unknown),
                ] {
                    self.patch
                        .get_or_create(&vec![
                            ("baseline", b.name.clone()),
                            ("ring", r.name.clone()),
                            ("state", format!("{state:?}")),
                        ])
                        .set(i64::from(n));
                }
            }
        }
        // Ready once the first full evaluation has been written; writes that
        // failed are retried and counted in write_errors, not held against readiness.
        self.set_ready();
    }

    /// Records one reconcile of an object of `kind`.
    /// `error` is the class of its failure (`WriteError::label`), if it failed.
    pub fn reconciled(&self, kind: &str, seconds: f64, error: Option<&str>) {
        let labels = vec![("kind", kind.to_string())];
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(seconds);
        if let Some(error) = error {
            let labels = vec![("kind", kind.to_string()), ("error", error.to_string())];
            self.reconcile_errors.get_or_create(&labels).inc();
        }
    }

    /// Records a watch failure of this kind and class.
    pub fn watch_failed(&self, kind: &str, error: &str) {
        let labels = vec![("kind", kind.to_string()), ("error", error.to_string())];
        self.watch_errors.get_or_create(&labels).inc();
    }

    /// Records an Event that could not be published.
    pub fn event_lost(&self, reason: &str) {
        self.events_lost
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc();
    }

    /// Records one write tried again after an error of class `error`.
    pub fn retried(&self, kind: &str, error: &str) {
        let labels = vec![("kind", kind.to_string()), ("error", error.to_string())];
        self.write_retries.get_or_create(&labels).inc();
    }

    /// Records how many workload verdicts a pass computed and reused.
    pub fn pass(&self, pass: &crate::engine::Pass) {
        for (result, n) in [("evaluated", pass.evaluated), ("reused", pass.reused)] {
            self.workload_evaluations
                .get_or_create(&vec![("result", result.to_string())])
                .inc_by(n as u64);
        }
    }

    /// Records the `--resync` period.
    pub fn set_resync(&self, resync: std::time::Duration) {
        self.resync.set(resync.as_secs_f64());
    }

    /// Records whether this instance leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Marks the instance ready (a standby is ready once its caches are filled).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
        self.ready_gauge.set(1);
    }

    /// Whether the first full evaluation has been written.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The HTTP endpoints.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move { m.render() }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(m): State<Arc<Metrics>>| async move {
                if m.ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the first evaluation is not written yet",
                    )
                }
            }),
        )
        .with_state(metrics)
}
