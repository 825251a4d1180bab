//! Faults on the real API server: each case runs the operator over a few
//! hundred workloads, injects one fault a production cluster throws at an
//! operator, and checks the same invariants once it ends (`Scene::check`):
//!
//! - every workload's report equals what a fresh evaluation of the same
//!   objects says (`plumbline audit`'s loader and engine, and the report the
//!   operator's plan builds from them);
//! - no Event is raised twice for one transition;
//! - no report goes back to a verdict older than one already written (the
//!   workload generation it judged never decreases);
//! - the operator follows an edit within 5 s of the fault's end.
//!
//! Its own test binary, one case at a time: some cases stop the API server
//! or change how it serves, and cargo runs test binaries one after another.
//! The results are in docs/operator.md, "What it survives".

mod common;

use std::{
    collections::{BTreeMap, HashMap},
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::operator::{
    Operator, apply, eventually, http_get, namespace, one_at_a_time, operator_writes,
    replicas_standard, setup, unique,
};
use futures::StreamExt;
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace, events::v1::Event};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use plumbline::{
    api::{
        ComplianceReport, ComplianceReportStatus, InfrastructureStandard, PatchBaseline,
        ServiceOwnership, StandardException, StandardReview,
    },
    audit::load::{Loaded, Source, Take},
    engine,
};
use serde_json::json;

/// Workloads per case, across `NAMESPACES` namespaces.
const WORKLOADS: usize = 300;
const NAMESPACES: usize = 3;

/// Per report (namespace, name), the workload generations its versions judged, in order.
type Generations = Arc<Mutex<HashMap<(String, String), Vec<i64>>>>;

/// A namespace set, a standard matching it, workloads (every other one
/// deviating), and a record of every report version the watch saw.
struct Scene {
    admin: Client,
    name: String,
    namespaces: Vec<String>,
    standard: String,
    generations: Generations,
    watch: tokio::task::JoinHandle<()>,
    /// The operator's writes in the audit log when the scene was made.
    writes_before: usize,
}

fn deployment(ns: &str, name: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27.3"}]}}
        }
    })
}

impl Scene {
    /// Creates the scene: `enforcement` is the standard's (Audit: no
    /// admission policy is generated).
    async fn new(prefix: &str, enforcement: &str) -> Self {
        let admin = common::client().await;
        setup(&admin, "faults").await;
        let name = unique(prefix);
        let namespaces: Vec<String> = (0..NAMESPACES).map(|i| format!("{name}-{i}")).collect();
        for ns in &namespaces {
            namespace(&admin, ns, json!({"plumbline-test": name})).await;
        }
        let standard = format!("faults-{name}");
        let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
        apply(
            &standards,
            &standard,
            scene_standard(&standard, &name, enforcement, None),
        )
        .await;
        // One request for them all: kubectl applies a list.
        let items: Vec<serde_json::Value> = (0..WORKLOADS)
            .map(|i| {
                let ns = &namespaces[i % NAMESPACES];
                deployment(ns, &format!("w-{i}"), 1 + (i % 2) as i32)
            })
            .collect();
        apply_list(&items);
        let generations = Generations::default();
        let seen = generations.clone();
        let ours: Vec<String> = namespaces.clone();
        let reports: Api<ComplianceReport> = Api::all(admin.clone());
        let watch = tokio::spawn(async move {
            let stream = watcher(reports, watcher::Config::default()).applied_objects();
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let Ok(r) = item else { continue };
                let ns = r.namespace().unwrap_or_default();
                if !ours.contains(&ns) {
                    continue;
                }
                if let Some(g) = r.status.as_ref().and_then(|s| s.workload_generation) {
                    seen.lock()
                        .unwrap()
                        .entry((ns, r.name_any()))
                        .or_default()
                        .push(g);
                }
            }
        });
        Self {
            admin,
            name,
            namespaces,
            standard,
            generations,
            watch,
            writes_before: operator_writes(),
        }
    }

    /// Applies the scene's standard again with `rule` as its only rule.
    async fn set_rule(&self, enforcement: &str, rule: serde_json::Value) {
        let standards: Api<InfrastructureStandard> = Api::all(self.admin.clone());
        apply(
            &standards,
            &self.standard,
            scene_standard(&self.standard, &self.name, enforcement, Some(rule)),
        )
        .await;
    }

    fn deployments(&self, i: usize) -> Api<Deployment> {
        Api::namespaced(self.admin.clone(), &self.namespaces[i % NAMESPACES])
    }

    /// Scales workloads `range` so that each flips between deviating and
    /// not, all in one request.
    fn flip(&self, range: std::ops::Range<usize>, round: usize) {
        let items: Vec<serde_json::Value> = range
            .map(|i| {
                let replicas = 1 + ((i + round) % 2) as i32;
                deployment(
                    &self.namespaces[i % NAMESPACES],
                    &format!("w-{i}"),
                    replicas,
                )
            })
            .collect();
        apply_list(&items);
    }

    /// Every invariant, once the fault is over. `limit` bounds the wait for
    /// the reports to match a fresh evaluation.
    async fn check(&self, operator: &Operator, limit: Duration) {
        let started = Instant::now();
        self.reports_match_a_fresh_evaluation(operator, limit).await;
        // What docs/operator.md's "What it survives" records.
        eprintln!(
            "faults: {}: reports match a fresh evaluation {:.1} s after the fault; {} writes by the operator in this case so far",
            self.name,
            started.elapsed().as_secs_f64(),
            operator_writes() - self.writes_before
        );
        self.no_event_twice().await;
        self.no_report_went_back();
        self.follows_an_edit_within_five_seconds(operator).await;
        self.no_event_twice().await;
    }

    /// Waits until every workload's report is what a fresh evaluation of
    /// the cluster's objects says it should be.
    async fn reports_match_a_fresh_evaluation(&self, operator: &Operator, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let differences = self.differences().await;
            if differences.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} reports differ from a fresh evaluation after {limit:?}; first: {:#?} (operator log: {})",
                differences.len(),
                differences.first(),
                operator.log.display()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The workloads whose report differs from a fresh evaluation: what it
    /// should be, and what it is.
    async fn differences(
        &self,
    ) -> Vec<(
        String,
        Option<ComplianceReportStatus>,
        Option<ComplianceReportStatus>,
    )> {
        let mut text = String::new();
        let mut add = |items: Vec<serde_json::Value>| {
            for item in items {
                text.push_str(&serde_json::to_string(&item).expect("JSON"));
                text.push_str("\n---\n");
            }
        };
        add(list_all(Api::<Namespace>::all(self.admin.clone())).await);
        add(list_all(Api::<InfrastructureStandard>::all(self.admin.clone())).await);
        add(list_all(Api::<StandardException>::all(self.admin.clone())).await);
        add(list_all(Api::<PatchBaseline>::all(self.admin.clone())).await);
        add(list_all(Api::<ServiceOwnership>::all(self.admin.clone())).await);
        add(list_all(Api::<StandardReview>::all(self.admin.clone())).await);
        let mut reports: BTreeMap<(String, String), ComplianceReport> = BTreeMap::new();
        for ns in &self.namespaces {
            add(list_all(Api::<Deployment>::namespaced(self.admin.clone(), ns)).await);
            let api: Api<ComplianceReport> = Api::namespaced(self.admin.clone(), ns);
            for r in api
                .list(&ListParams::default())
                .await
                .expect("list reports")
                .items
            {
                reports.insert((ns.clone(), r.name_any()), r);
            }
        }
        let mut loaded = Loaded::default();
        loaded.add(
            &Source {
                name: "the cluster".into(),
                text,
                json: false,
                walked: false,
            },
            Take::All,
        );
        let now = jiff::Timestamp::now();
        let eval = engine::evaluate(&loaded.inputs, now);
        let mut out = Vec::new();
        for (w, v) in loaded.inputs.workloads.iter().zip(&eval.workloads) {
            if !self.namespaces.contains(&w.namespace) {
                continue;
            }
            let expected = plumbline::controller::plan::report::report(w, v, None, now)
                .status
                .map(comparable);
            let name = plumbline::controller::plan::report::report_name(w);
            let actual = reports
                .get(&(w.namespace.clone(), name.clone()))
                .and_then(|r| r.status.clone())
                .map(comparable);
            if expected != actual {
                out.push((format!("{}/{name}", w.namespace), expected, actual));
            }
        }
        out
    }

    /// No Event about this scene's objects was raised twice: the same
    /// reason and note about the same object.
    async fn no_event_twice(&self) {
        let mut seen: HashMap<(String, String, String, String), i32> = HashMap::new();
        let events: Api<Event> = Api::all(self.admin.clone());
        for e in events
            .list(&ListParams::default())
            .await
            .expect("list Events")
            .items
        {
            if e.reporting_controller.as_deref() != Some("plumbline") {
                continue;
            }
            // A summary's note is a count: two passes may each raise
            // "25 workloads started deviating" about different workloads.
            let reason = e.reason.as_deref().unwrap_or_default();
            if ["DeviationsFound", "DeviationsResolved", "PatchesOverdue"].contains(&reason) {
                continue;
            }
            let regarding = e.regarding.clone().unwrap_or_default();
            let ours = regarding
                .namespace
                .as_ref()
                .is_some_and(|ns| self.namespaces.contains(ns))
                || regarding.name.as_deref() == Some(&self.standard);
            if !ours {
                continue;
            }
            let count = e.series.as_ref().map_or(1, |s| s.count);
            *seen
                .entry((
                    format!(
                        "{}/{}",
                        regarding.namespace.unwrap_or_default(),
                        regarding.name.unwrap_or_default()
                    ),
                    e.reason.clone().unwrap_or_default(),
                    e.note.clone().unwrap_or_default(),
                    regarding.kind.unwrap_or_default(),
                ))
                .or_default() += count;
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "Events raised more than once: {twice:#?}");
    }

    /// No report was ever written back to an older workload generation.
    fn no_report_went_back(&self) {
        let generations = self.generations.lock().unwrap();
        assert!(!generations.is_empty(), "the watch saw no report");
        for (report, seen) in generations.iter() {
            assert!(
                seen.windows(2).all(|w| w[0] <= w[1]),
                "report {report:?} went back to an older workload generation: {seen:?}"
            );
        }
    }

    /// The operator reacts to an edit within 5 s: the fault is over.
    async fn follows_an_edit_within_five_seconds(&self, operator: &Operator) {
        let api = self.deployments(0);
        let current = serde_json::to_value(api.get("w-0").await.expect("w-0")).expect("JSON")["spec"]["replicas"]
            .as_i64()
            .unwrap_or(1);
        let replicas = if current >= 2 { 1 } else { 2 };
        let reports: Api<ComplianceReport> =
            Api::namespaced(self.admin.clone(), &self.namespaces[0]);
        let started = Instant::now();
        apply(
            &api,
            "w-0",
            deployment(&self.namespaces[0], "w-0", replicas),
        )
        .await;
        let deviating = || async {
            reports
                .get_opt("deployment-w-0")
                .await
                .ok()
                .flatten()
                .and_then(|r| r.status)
                .map(|s| s.deviation_count > 0)
        };
        loop {
            if deviating().await == Some(replicas < 2) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the report did not follow an edit within 5 s of the fault's end (operator log: {})",
                operator.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn delete(self) {
        self.watch.abort();
        let standards: Api<InfrastructureStandard> = Api::all(self.admin.clone());
        let _ = standards
            .delete(&self.standard, &DeleteParams::default())
            .await;
        let namespaces: Api<Namespace> = Api::all(self.admin.clone());
        for ns in &self.namespaces {
            let _ = namespaces.delete(ns, &DeleteParams::default()).await;
        }
        let _ = self.name;
    }
}

/// The operator tests' standard, for Deployments only, enforced as the case
/// asks and with no review threshold; `rule` replaces its rule.
fn scene_standard(
    standard: &str,
    name: &str,
    enforcement: &str,
    rule: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut body = replicas_standard(standard, name);
    body["spec"]["match"]["kinds"] = json!(["Deployment"]);
    body["spec"]["enforcement"] = json!(enforcement);
    body["spec"]
        .as_object_mut()
        .expect("a spec")
        .remove("review");
    if let Some(rule) = rule {
        body["spec"]["rules"] = json!([rule]);
    }
    body
}

/// A status as compared: what a condition's transition time or a message's
/// count of seconds would make differ between two correct writers is left
/// out (the transition time depends on when each saw the change).
fn comparable(mut s: ComplianceReportStatus) -> ComplianceReportStatus {
    for c in &mut s.conditions {
        c.last_transition_time =
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH);
    }
    s
}

/// Every object of a kind (in one namespace, or all), as JSON with its
/// apiVersion and kind.
async fn list_all<K>(api: Api<K>) -> Vec<serde_json::Value>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|o| {
            let mut v = serde_json::to_value(o).expect("JSON");
            v["apiVersion"] = K::api_version(&()).into();
            v["kind"] = K::kind(&()).into();
            v
        })
        .collect()
}

/// Applies objects with `kubectl apply --server-side`, in one request per object batch.
fn apply_list(items: &[serde_json::Value]) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let out = common::kubectl_with_input(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            common::MANAGER,
            "-f",
            "-",
        ],
        serde_json::to_string(&list).expect("JSON").as_bytes(),
    );
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sum of the operator's series of a metric whose labels contain `labels`.
async fn operator_metric_sum(operator: &Operator, metric: &str, labels: &str) -> f64 {
    let (_, body) = http_get(&operator.metrics_addr().await, "/metrics");
    body.lines()
        .filter(|l| l.starts_with(metric) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until some report of the scene exists: the operator is in its first pass.
async fn first_report(scene: &Scene, operator: &Operator) {
    eventually(
        "a first report",
        &operator.log,
        || async { !scene.generations.lock().unwrap().is_empty() },
        |some| *some,
    )
    .await;
}

/// The running kube-apiserver's pid and arguments.
fn apiserver() -> (String, Vec<String>) {
    let pid = std::fs::read_to_string(common::controlplane_dir().join("kube-apiserver.pid"))
        .expect("the API server's pid file");
    let pid = pid.trim().to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the API server runs");
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (pid, argv)
}

/// Stops kube-apiserver (SIGKILL), keeps it down for `down`, and starts it
/// again with its arguments changed by `flags` (each `--name=value`
/// replaces any setting of `--name`); records its new pid for `down.sh`;
/// returns once it serves /readyz. Blocks: nothing else of the test runs
/// while the server is down.
fn restart_apiserver(down: Duration, flags: &[&str]) {
    let (pid, mut argv) = apiserver();
    for flag in flags {
        let name = flag.split('=').next().unwrap_or(flag);
        while let Some(i) = argv
            .iter()
            .position(|a| a == name || a.starts_with(&format!("{name}=")))
        {
            let separate = argv[i] == name && argv.get(i + 1).is_some_and(|v| !v.starts_with("--"));
            argv.drain(i..if separate { i + 2 } else { i + 1 });
        }
        argv.push(flag.to_string());
    }
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_until_gone(&pid);
    std::thread::sleep(down);
    start_apiserver(&argv);
}

/// Runs the API server with `flags` until dropped, then as it was.
struct Flags(Vec<String>);

impl Flags {
    fn set(flags: &[&str]) -> Self {
        let (_, original) = apiserver();
        restart_apiserver(Duration::from_secs(1), flags);
        Self(original)
    }
}

impl Drop for Flags {
    fn drop(&mut self) {
        let (pid, _) = apiserver();
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        wait_until_gone(&pid);
        start_apiserver(&self.0);
    }
}

fn wait_until_gone(pid: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    // Stopped once gone or a zombie (its parent, the start-up script, is gone too).
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    };
    while running() {
        assert!(Instant::now() < deadline, "kube-apiserver did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_apiserver(argv: &[String]) {
    let dir = common::controlplane_dir();
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("logs/kube-apiserver.log"))
        .expect("the API server's log");
    // It outlives the test, as up.sh's does: down.sh stops it by its pid.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("setsid")
        .args(argv)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("kube-apiserver starts again");
    std::fs::write(dir.join("kube-apiserver.pid"), child.id().to_string()).expect("record the pid");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ready = common::kubectl()
            .args(["get", "--raw", "/readyz"])
            .output()
            .expect("kubectl runs");
        if ready.status.success() && String::from_utf8_lossy(&ready.stdout).trim() == "ok" {
            return;
        }
        if Instant::now() >= deadline {
            // What the server said last, and what it waits for, in the
            // failure itself: up.sh truncates the log when the next test
            // binary starts a control plane again.
            let log =
                std::fs::read_to_string(dir.join("logs/kube-apiserver.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let verbose = common::kubectl()
                .args(["get", "--raw", "/readyz?verbose"])
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout).to_string()
                        + &String::from_utf8_lossy(&o.stderr)
                })
                .unwrap_or_default();
            panic!(
                "kube-apiserver not ready again within 90 s\n/readyz?verbose:\n{verbose}\nlast lines of {}:\n{}",
                dir.join("logs/kube-apiserver.log").display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn the_api_server_restarting_during_the_first_sync_and_an_edit_burst() {
    let _alone = one_at_a_time().await;
    let scene = Scene::new("faults-restart", "Audit").await;
    let operator = Operator::start("faults-restart", &[]);
    first_report(&scene, &operator).await;
    restart_apiserver(Duration::from_secs(3), &[]);
    scene.check(&operator, Duration::from_secs(90)).await;
    // An edit burst, and the API server gone in its middle.
    scene.flip(0..WORKLOADS / 2, 1);
    restart_apiserver(Duration::from_secs(3), &[]);
    scene.check(&operator, Duration::from_secs(90)).await;
    drop(operator);
    scene.delete().await;
}

#[tokio::test]
async fn a_leader_killed_mid_pass_is_replaced_by_its_standby() {
    let _alone = one_at_a_time().await;
    let scene = Scene::new("faults-leader", "Audit").await;
    let lease = scene.name.clone();
    let args = [
        "--leader-elect",
        "--leader-elect-namespace",
        "plumbline-system",
        "--leader-elect-lease",
        &lease,
    ];
    let first = Operator::start("faults-leader-first", &args);
    eventually(
        "the first operator leads",
        &first.log,
        || first.metric("plumbline_leader"),
        |v| *v == 1.0,
    )
    .await;
    let second = Operator::start("faults-leader-second", &args);
    let addr = second.metrics_addr().await;
    eventually(
        "the standby is ready",
        &second.log,
        || async { http_get(&addr, "/readyz").0 },
        |c| *c == 200,
    )
    .await;
    // An edit burst, and the leader killed (SIGKILL: no Lease released) as
    // soon as it has written one of its reports.
    let before: usize = scene
        .generations
        .lock()
        .unwrap()
        .values()
        .map(Vec::len)
        .sum();
    scene.flip(0..WORKLOADS, 1);
    eventually(
        "the leader writing",
        &first.log,
        || async {
            scene
                .generations
                .lock()
                .unwrap()
                .values()
                .map(Vec::len)
                .sum::<usize>()
        },
        |n| *n > before,
    )
    .await;
    let killed = Instant::now();
    drop(first);
    // The Lease lasts 15 s: the standby leads once it ends.
    eventually(
        "the standby leads",
        &second.log,
        || second.metric("plumbline_leader"),
        |v| *v == 1.0,
    )
    .await;
    let took = killed.elapsed();
    eprintln!(
        "faults: {}: the standby leads {:.1} s after the leader died",
        scene.name,
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(30),
        "the standby led {took:?} after the leader died"
    );
    scene.check(&second, Duration::from_secs(60)).await;
    drop(second);
    scene.delete().await;
}

#[tokio::test]
async fn another_writer_on_its_objects_is_outlasted_without_a_fight() {
    let _alone = one_at_a_time().await;
    let scene = Scene::new("faults-conflict", "Warn").await;
    let operator = Operator::start("faults-conflict", &[]);
    scene.check(&operator, Duration::from_secs(60)).await;
    // For ten seconds another client rewrites reports, the standard's status
    // and the generated admission policy, as fast as it can.
    let reports: Api<ComplianceReport> = Api::namespaced(scene.admin.clone(), &scene.namespaces[0]);
    let standards: Api<InfrastructureStandard> = Api::all(scene.admin.clone());
    let policies: Api<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy> =
        Api::all(scene.admin.clone());
    let policy = format!("plumbline-{}", scene.standard);
    assert!(
        policies.get_opt(&policy).await.expect("read").is_some(),
        "no policy {policy}"
    );
    let merge = PatchParams::default();
    let until = Instant::now() + Duration::from_secs(10);
    let mut edits = 0;
    while Instant::now() < until {
        let i = edits % 10;
        let _ = reports
            .patch(
                &format!("deployment-w-{}", i * NAMESPACES),
                &merge,
                &Patch::Merge(json!({"status": {"deviationCount": 999}})),
            )
            .await;
        let _ = standards
            .patch_status(
                &scene.standard,
                &merge,
                &Patch::Merge(json!({"status": {"matched": 999}})),
            )
            .await;
        let _ = policies
            .patch(
                &policy,
                &merge,
                &Patch::Merge(json!({"spec": {"failurePolicy": "Ignore"}})),
            )
            .await;
        edits += 1;
    }
    scene.check(&operator, Duration::from_secs(30)).await;
    let matched = standards
        .get(&scene.standard)
        .await
        .expect("read")
        .status
        .map(|s| s.matched);
    assert_eq!(matched, Some(WORKLOADS as i32));
    let fixed = policies
        .get(&policy)
        .await
        .expect("read")
        .spec
        .and_then(|s| s.failure_policy);
    assert_eq!(
        fixed.as_deref(),
        Some("Fail"),
        "the policy was not put back"
    );
    // Once the other writer stops, the operator is quiet: no write in 20 s.
    let before = operator_writes();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        operator_writes() - before,
        0,
        "the operator kept writing after {edits} edits stopped"
    );
    drop(operator);
    let _ = policies.delete(&policy, &DeleteParams::default()).await;
    scene.delete().await;
}

#[tokio::test]
async fn a_workload_too_big_for_its_report_gets_a_truncated_one() {
    let _alone = one_at_a_time().await;
    let scene = Scene::new("faults-huge", "Audit").await;
    // Two baselines judge every image: untruncated, the report would list
    // 2 × 3,000 images and exceed what the API server stores.
    let baselines: Api<PatchBaseline> = Api::all(scene.admin.clone());
    let baseline_names: Vec<String> = (0..2)
        .map(|i| format!("faults-{}-{i}", scene.name))
        .collect();
    for b in &baseline_names {
        apply(
            &baselines,
            b,
            json!({
                "apiVersion": "plumbline.dev/v1alpha1", "kind": "PatchBaseline",
                "metadata": {"name": b},
                "spec": {
                    "match": {"namespaceSelector": {"matchLabels": {"plumbline-test": scene.name}}},
                    "images": [{"repository": "registry.example.com/platform/a-rather-long-image-name-for-a-sidecar",
                                "minimumVersion": "2.0.0", "effectiveFrom": "2026-01-01T00:00:00Z"}]
                }
            }),
        )
        .await;
    }
    let containers: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            json!({"name": format!("sidecar-with-a-long-descriptive-name-{i:05}"),
                   "image": "registry.example.com/platform/a-rather-long-image-name-for-a-sidecar:1.0.0"})
        })
        .collect();
    let ns = &scene.namespaces[0];
    let huge = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "huge", "namespace": ns, "labels": {"app": "huge"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "huge"}},
            "template": {"metadata": {"labels": {"app": "huge"}}, "spec": {"containers": containers}}
        }
    });
    apply(
        &Api::<Deployment>::namespaced(scene.admin.clone(), ns),
        "huge",
        huge,
    )
    .await;
    let operator = Operator::start("faults-huge", &[]);
    let reports: Api<ComplianceReport> = Api::namespaced(scene.admin.clone(), ns);
    let report = eventually(
        "the huge workload's report",
        &operator.log,
        || async {
            reports
                .get_opt("deployment-huge")
                .await
                .ok()
                .flatten()
                .and_then(|r| r.status)
        },
        |s| s.is_some(),
    )
    .await
    .and_then(|s| s.patch)
    .expect("a patch report");
    assert_eq!(
        report.images.len(),
        plumbline::api::report::MAX_REPORTED_IMAGES
    );
    assert_eq!(
        report.images_omitted as usize,
        2 * 3000 - plumbline::api::report::MAX_REPORTED_IMAGES
    );
    scene.check(&operator, Duration::from_secs(60)).await;
    drop(operator);
    for b in &baseline_names {
        let _ = baselines.delete(b, &DeleteParams::default()).await;
    }
    scene.delete().await;
}

#[tokio::test]
async fn throttled_by_priority_and_fairness_it_converges_with_backoff() {
    let _alone = one_at_a_time().await;
    let scene = Scene::new("faults-throttled", "Audit").await;
    // The operator's user gets one share of the server's seats, borrows
    // none, and is refused (429) beyond them.
    let level = format!("faults-{}", scene.name);
    let applied = common::kubectl_with_input(
        &["apply", "-f", "-"],
        serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
             "metadata": {"name": level},
             "spec": {"type": "Limited", "limited": {
                 "nominalConcurrencyShares": 1, "lendablePercent": 0, "borrowingLimitPercent": 0,
                 "limitResponse": {"type": "Reject"}}}},
            {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
             "metadata": {"name": level},
             "spec": {"priorityLevelConfiguration": {"name": level}, "matchingPrecedence": 200,
                      "distinguisherMethod": {"type": "ByUser"},
                      "rules": [{"subjects": [{"kind": "User", "user": {"name": "operator"}}],
                                 "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                                    "namespaces": ["*"], "clusterScope": true}],
                                 "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}}
        ]}))
        .expect("JSON")
        .as_bytes(),
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    // No client-side limit: the server's is the one that holds it back.
    let operator = Operator::start(
        "faults-throttled",
        &["--max-concurrent-writes", "64", "--kube-api-qps", "0"],
    );
    scene.check(&operator, Duration::from_secs(180)).await;
    let passes = operator.metric("plumbline_evaluations_total").await;
    // What the API server dispatched and refused at the operator's level.
    let server = common::kubectl()
        .args(["get", "--raw", "/metrics"])
        .output()
        .expect("kubectl runs");
    let server = String::from_utf8_lossy(&server.stdout).into_owned();
    let total = |metric: &str| -> f64 {
        server
            .lines()
            .filter(|l| l.starts_with(metric) && l.contains(&format!("priority_level=\"{level}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let (dispatched, rejected) = (
        total("apiserver_flowcontrol_dispatched_requests_total"),
        total("apiserver_flowcontrol_rejected_requests_total"),
    );
    common::kubectl()
        .args(["delete", "flowschema,prioritylevelconfiguration", &level])
        .output()
        .expect("kubectl runs");
    eprintln!(
        "faults: {}: {dispatched} requests dispatched, {rejected} refused (429), {passes} passes",
        scene.name
    );
    assert!(
        rejected > 0.0,
        "the fault was not injected: the API server refused nothing ({dispatched} dispatched)"
    );
    // Backoff holds: the requests stay within a few per object (kube's
    // client waits as the 429s' Retry-After says, the writer and the loop
    // back off), and passes stay few.
    let objects = (WORKLOADS + 10) as f64;
    assert!(
        dispatched + rejected < 10.0 * objects,
        "{dispatched} requests dispatched and {rejected} refused for {WORKLOADS} workloads"
    );
    assert!(passes < 30.0, "{passes} passes while throttled");
    drop(operator);
    scene.delete().await;
}

#[tokio::test]
async fn watches_expired_by_compaction_relist_and_lose_nothing() {
    let _alone = one_at_a_time().await;
    let scene = Scene::new("faults-expiry", "Audit").await;
    // No watch cache, and etcd compacted every second: a watch that resumes
    // from a version a second old is told 410 Gone and lists again.
    let flags = ["--watch-cache=false", "--etcd-compaction-interval=1s"];
    let server = Flags::set(&flags);
    let operator = Operator::start("faults-expiry", &[]);
    scene.check(&operator, Duration::from_secs(60)).await;
    // Writes move the revision on; the watches of kinds that did not change
    // (baselines, ownerships, reviews) stay at their last list's, which
    // compaction passes. The API server going away in an edit burst makes
    // every watch resume, and those from there: 410.
    scene.flip(0..WORKLOADS / 2, 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    scene.flip(WORKLOADS / 2..WORKLOADS, 1);
    restart_apiserver(Duration::from_secs(1), &flags);
    scene.check(&operator, Duration::from_secs(60)).await;
    // Every kind's watch failed at the restart; some resumed from versions
    // compaction had passed.
    let expired = operator_metric_sum(
        &operator,
        "plumbline_watch_errors_total{",
        "error=\"expired\"",
    )
    .await;
    assert!(
        expired > 0.0,
        "the fault was not injected: no watch expired (operator log: {})",
        operator.log.display()
    );
    drop(server);
    drop(operator);
    scene.delete().await;
}

#[tokio::test]
async fn a_cel_rule_arriving_with_the_api_server_restarting_during_the_relist_it_needs() {
    let _alone = one_at_a_time().await;
    let scene = Scene::new("faults-cel", "Audit").await;
    let operator = Operator::start("faults-cel", &[]);
    first_report(&scene, &operator).await;
    // The built-in rule becomes a CEL rule with the same verdict and another
    // message: every report changes. The operator kept no objects until now,
    // so the workload watches list again to load them, and the API server
    // goes away in the middle of it.
    scene
        .set_rule(
            "Audit",
            json!({"id": "two-replicas", "severity": "High", "description": "Two replicas.",
                   "cel": {"expression": "object.spec.?replicas.orValue(1) >= 2",
                           "messageExpression": "object.metadata.name + ' runs ' + string(object.spec.?replicas.orValue(1)) + ' replica(s)'"}}),
        )
        .await;
    restart_apiserver(Duration::from_secs(3), &[]);
    scene.check(&operator, Duration::from_secs(90)).await;
    // Every report carries the CEL rule's message: the objects were loaded.
    let reports: Api<ComplianceReport> = Api::namespaced(scene.admin.clone(), &scene.namespaces[2]);
    let r = reports
        .get("deployment-w-2")
        .await
        .expect("the report of w-2");
    let text = serde_json::to_string(&r.status).expect("JSON");
    assert!(text.contains("w-2 runs 1 replica(s)"), "{text}");
    // An edit burst on the CEL rule, and the API server gone in its middle.
    scene.flip(0..WORKLOADS / 2, 1);
    restart_apiserver(Duration::from_secs(3), &[]);
    scene.check(&operator, Duration::from_secs(90)).await;
    drop(operator);
    scene.delete().await;
}
