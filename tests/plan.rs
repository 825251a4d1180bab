//! The fast tier: the operator's passes in-process, with no API server.
//! Stores are built from YAML objects (`Stores::from_objects`), the clock
//! is whatever a test says, and each pass is the operator's own: the
//! incremental evaluation, then the plan of every output kind. What a plan
//! writes is put back into the stores as the watches would show it, so the
//! next pass reads the pass before; the writer's I/O, the watches and the
//! Lease are the real-server tier's (tests/operator.rs, tests/faults.rs).
//!
//! `make test-fast` runs this file with the unit tests.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use kube::api::DynamicObject;
use plumbline::{
    admission,
    controller::{
        plan::{self, Plan, events::Tally, report::Built},
        stores::Stores,
    },
    engine::{self, Incremental},
};
use proptest::prelude::*;

/// An object's apiVersion/kind, namespace and name.
type Key = (String, String, String);

fn key(o: &DynamicObject) -> Key {
    let t = o.types.as_ref().expect("apiVersion and kind");
    (
        format!("{}/{}", t.api_version, t.kind),
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().expect("a name"),
    )
}

/// One Event raised: about what (kind/namespace/name), and its reason.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Raised {
    about: String,
    reason: &'static str,
}

/// What one pass did.
#[derive(Debug, Default)]
struct Pass {
    /// Objects written or deleted.
    writes: Vec<String>,
    /// Events raised.
    events: Vec<Raised>,
    /// When the loop would wake by itself next (a verdict changes with time).
    wake_at: Option<Timestamp>,
    /// The incremental evaluation, and a full one of the same inputs, as
    /// text (only when the cluster is asked to compare them).
    compared: Option<(String, String)>,
}

impl Pass {
    fn reasons(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.reason).collect()
    }
}

/// The objects of a cluster, as the API server would hold them, and the
/// operator's state: its stores, engine cache and report digests.
struct Cluster {
    objects: BTreeMap<Key, DynamicObject>,
    stores: Stores,
    engine: Incremental,
    built: Built,
    version: u64,
    warning: SignedDuration,
    /// Whether each pass also evaluates from scratch, to compare.
    compare: bool,
}

fn parse(yaml: &str) -> Vec<DynamicObject> {
    serde_saphyr::from_multiple::<serde_json::Value>(yaml)
        .expect("the fixture is YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v).expect("the fixture holds Kubernetes objects"))
        .collect()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/plan/{name}"))
        .unwrap_or_else(|e| panic!("tests/fixtures/plan/{name}: {e}"))
}

/// Every file of examples/ (the shipped examples), in order.
fn examples() -> String {
    let mut files: Vec<_> = std::fs::read_dir("examples")
        .expect("examples/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("an example"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

impl Cluster {
    fn new(yaml: &str) -> Self {
        let mut cluster = Self {
            objects: BTreeMap::new(),
            stores: Stores::from_objects([]).expect("empty stores"),
            engine: Incremental::new(),
            built: Built::default(),
            version: 0,
            warning: SignedDuration::from_hours(7 * 24),
            compare: false,
        };
        for o in parse(yaml) {
            cluster.put(o);
        }
        cluster
    }

    /// Stores or replaces an object as the API server would: a uid and a
    /// creation time when new, a new resourceVersion, a generation that
    /// moves with the spec. Then its watch shows it.
    fn put(&mut self, mut o: DynamicObject) {
        self.version += 1;
        let k = key(&o);
        let old = self.objects.get(&k);
        let m = &mut o.metadata;
        m.uid = old
            .and_then(|o| o.metadata.uid.clone())
            .or_else(|| Some(format!("uid-{}-{}-{}", k.0, k.1, k.2)));
        m.creation_timestamp = old
            .and_then(|o| o.metadata.creation_timestamp.clone())
            .or_else(|| m.creation_timestamp.clone())
            .or_else(|| {
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(
                    "2026-01-01T00:00:00Z",
                )))
            });
        let spec_changed = old.is_none_or(|old| old.data.get("spec") != o.data.get("spec"));
        let generation = old.and_then(|o| o.metadata.generation).unwrap_or(0);
        m.generation = Some(if spec_changed {
            generation + 1
        } else {
            generation
        });
        m.resource_version = Some(self.version.to_string());
        self.stores.apply(&o).expect("the stores keep the kind");
        self.objects.insert(k, o);
    }

    /// Applies YAML objects, as `kubectl apply` would (whole objects; a
    /// status given is kept, as a status write would).
    fn apply(&mut self, yaml: &str) {
        for mut o in parse(yaml) {
            if o.data.get("status").is_none()
                && let Some(status) = self
                    .objects
                    .get(&key(&o))
                    .and_then(|old| old.data.get("status"))
            {
                o.data["status"] = status.clone();
            }
            self.put(o);
        }
    }

    fn delete(&mut self, kind: &str, ns: &str, name: &str) {
        let k = self
            .objects
            .keys()
            .find(|k| k.0.ends_with(&format!("/{kind}")) && k.1 == ns && k.2 == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} {ns}/{name}"));
        let o = self.objects.remove(&k).expect("present");
        self.stores.delete(&o).expect("the stores keep the kind");
    }

    fn get(&self, kind: &str, ns: &str, name: &str) -> &DynamicObject {
        self.objects
            .iter()
            .find(|(k, _)| k.0.ends_with(&format!("/{kind}")) && k.1 == ns && k.2 == name)
            .map(|(_, o)| o)
            .unwrap_or_else(|| panic!("no {kind} {ns}/{name}"))
    }

    /// Someone else edits an object (a status, a report) in place.
    fn edit(
        &mut self,
        kind: &str,
        ns: &str,
        name: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) {
        let mut o = self.get(kind, ns, name).clone();
        edit(&mut o.data);
        self.put(o);
    }

    /// A new operator process: empty caches filled from what the cluster holds.
    fn restart(&mut self) {
        self.stores = Stores::from_objects(self.objects.values()).expect("stores");
        self.engine = Incremental::new();
        self.built = Built::default();
    }

    /// A resync: every verdict evaluated again.
    fn resync(&mut self) {
        self.engine.clear();
    }

    /// Writes a status into the cluster's object of `meta`'s name.
    fn write_status(
        &mut self,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        status: serde_json::Value,
    ) {
        let ns = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        self.edit(kind, &ns, &name, |d| d["status"] = status);
    }

    /// One pass of the operator at `now`: evaluate, plan, and put what the
    /// plan writes into the cluster.
    fn pass(&mut self, now: Timestamp) -> Pass {
        let mut out = Pass::default();
        let inputs = self.stores.inputs();
        let full = self
            .compare
            .then(|| format!("{:#?}", engine::evaluate(&inputs, now)));
        let (inputs, eval, pass) = self.engine.evaluate(inputs, now);
        out.compared = full.map(|full| (format!("{eval:#?}"), full));
        // Owned copies: the plan borrows the evaluation, the writes below
        // need the cluster.
        let (inputs, eval, kept) = (inputs.clone(), eval.clone(), pass.kept.clone());
        out.wake_at = eval.wakes_at(now, self.warning);
        let generated =
            admission::generate_all(&inputs, &eval, &admission::Options::default(), now);
        let mut objects: Vec<(String, DynamicObject)> = Vec::new();
        let mut deletes: Vec<(String, String, String)> = Vec::new();
        let mut statuses: Vec<(
            String,
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
            serde_json::Value,
        )> = Vec::new();
        {
            let policies = plan::admission::plan(&self.stores, &generated);
            for a in &policies.applies {
                if let Some(p) = &a.policy {
                    objects.push(("ValidatingAdmissionPolicy".into(), to_object(p.desired)));
                }
                if let Some(b) = &a.binding {
                    objects.push((
                        "ValidatingAdmissionPolicyBinding".into(),
                        to_object(b.desired),
                    ));
                }
            }
            for d in &policies.deletes {
                if d.binding {
                    deletes.push((
                        "ValidatingAdmissionPolicyBinding".into(),
                        String::new(),
                        d.name.clone(),
                    ));
                }
                if d.policy {
                    deletes.push((
                        "ValidatingAdmissionPolicy".into(),
                        String::new(),
                        d.name.clone(),
                    ));
                }
            }
            let cx = plan::Context {
                stores: &self.stores,
                inputs: &inputs,
                eval: &eval,
                kept: &kept,
                now,
                expiry_warning: self.warning,
            };
            let plan = Plan::new(cx, &self.built, &generated, &HashMap::new());
            let mut written = Tally::default();
            for w in plan.reports.writes() {
                let about = about(&w.regarding);
                out.events.extend(w.events.iter().map(|t| Raised {
                    about: about.clone(),
                    reason: t.reason,
                }));
                written.add(&w.changes);
                objects.push(("ComplianceReport".into(), to_object(&w.desired)));
            }
            for (regarding, t) in plan.reports.summaries(&written) {
                out.events.push(Raised {
                    about: about(&regarding),
                    reason: t.reason,
                });
            }
            for (ns, name) in &plan.reports.deletes {
                deletes.push(("ComplianceReport".into(), ns.clone(), name.clone()));
            }
            let mut status = |kind: &str,
                              meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                              value: serde_json::Value,
                              events: &[plan::events::Transition]| {
                let about = format!(
                    "{kind}/{}/{}",
                    meta.namespace.clone().unwrap_or_default(),
                    meta.name.clone().unwrap_or_default()
                );
                out.events.extend(events.iter().map(|t| Raised {
                    about: about.clone(),
                    reason: t.reason,
                }));
                statuses.push((kind.to_string(), meta.clone(), value));
            };
            for s in &plan.standards {
                status(
                    "InfrastructureStandard",
                    &s.meta,
                    json(&s.desired),
                    &s.events,
                );
            }
            for s in &plan.exceptions {
                status("StandardException", &s.meta, json(&s.desired), &s.events);
            }
            for s in &plan.baselines {
                status("PatchBaseline", &s.meta, json(&s.desired), &s.events);
            }
            for s in &plan.ownerships {
                status("ServiceOwnership", &s.meta, json(&s.desired), &s.events);
            }
            for s in &plan.reviews {
                status("StandardReview", &s.meta, json(&s.desired), &s.events);
            }
            for p in &plan.promotions {
                let current = self.get("StandardReview", "", &p.name).data["status"].clone();
                let mut current = if current.is_null() {
                    serde_json::json!({})
                } else {
                    current
                };
                current["current"] = true.into();
                let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(p.name.clone()),
                    ..Default::default()
                };
                status("StandardReview", &meta, current, &[]);
            }
        }
        for (kind, o) in objects {
            out.writes.push(format!(
                "{kind}/{}/{}",
                o.metadata.namespace.clone().unwrap_or_default(),
                o.metadata.name.clone().unwrap_or_default()
            ));
            let mut o = o;
            // What the cluster holds beside what the operator writes (a
            // report's uid) stays.
            if let Some(old) = self.objects.get(&key(&o)) {
                o.metadata.uid = old.metadata.uid.clone();
            }
            self.put(o);
        }
        for (kind, meta, value) in statuses {
            out.writes.push(format!(
                "{kind}/{}/{} status",
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap_or_default()
            ));
            self.write_status(&kind, &meta, value);
        }
        for (kind, ns, name) in deletes {
            out.writes.push(format!("delete {kind}/{ns}/{name}"));
            self.delete(&kind, &ns, &name);
        }
        out
    }

    /// Passes at `now` until one writes nothing (at most five); returns them.
    fn settle(&mut self, now: Timestamp) -> Vec<Pass> {
        let mut passes = Vec::new();
        for _ in 0..5 {
            let p = self.pass(now);
            let quiet = p.writes.is_empty();
            passes.push(p);
            if quiet {
                return passes;
            }
        }
        panic!(
            "the cluster does not settle: {:#?}",
            passes.last().map(|p| &p.writes)
        );
    }

    fn condition(&self, kind: &str, ns: &str, name: &str, type_: &str) -> (String, String) {
        let o = self.get(kind, ns, name);
        o.data["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or_default().to_string(),
                    c["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
            .unwrap_or_else(|| {
                panic!(
                    "{kind} {ns}/{name} has no {type_} condition: {}",
                    o.data["status"]
                )
            })
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("serialisable")
}

fn to_object<T: serde::Serialize>(v: &T) -> DynamicObject {
    serde_json::from_value(json(v)).expect("a Kubernetes object")
}

fn about(r: &k8s_openapi::api::core::v1::ObjectReference) -> String {
    format!(
        "{}/{}/{}",
        r.kind.clone().unwrap_or_default(),
        r.namespace.clone().unwrap_or_default(),
        r.name.clone().unwrap_or_default()
    )
}

const T0: &str = "2026-06-01T00:00:00Z";

#[test]
fn a_quiet_cluster_writes_nothing() {
    let mut cluster = Cluster::new(&examples());
    let passes = cluster.settle(at(T0));
    let first = &passes[0];
    assert!(
        first
            .writes
            .iter()
            .filter(|w| w.starts_with("ComplianceReport/"))
            .count()
            > 5,
        "{:#?}",
        first.writes
    );
    assert!(
        first
            .writes
            .iter()
            .any(|w| w.starts_with("InfrastructureStandard/")),
        "{:#?}",
        first.writes
    );
    // Settled in two passes at most: the second may only promote or record
    // what the first wrote.
    assert!(
        passes.len() <= 3,
        "{:#?}",
        passes.iter().map(|p| &p.writes).collect::<Vec<_>>()
    );
    // Later passes, a second on: nothing (not even the time of a condition).
    let later = cluster.pass(at(T0) + SignedDuration::from_secs(1));
    assert_eq!(later.writes, Vec::<String>::new());
    assert_eq!(later.events, Vec::new());
    // A resync evaluates everything again, and still writes nothing.
    cluster.resync();
    let resynced = cluster.pass(at(T0) + SignedDuration::from_secs(2));
    assert_eq!(resynced.writes, Vec::<String>::new());
}

#[test]
fn no_event_is_repeated_after_a_restart() {
    let mut cluster = Cluster::new(&examples());
    let first: Vec<Raised> = cluster
        .settle(at(T0))
        .into_iter()
        .flat_map(|p| p.events)
        .collect();
    assert!(
        first.iter().any(|e| e.reason == "DeviationFound"),
        "{first:#?}"
    );
    cluster.restart();
    let again = cluster.pass(at(T0) + SignedDuration::from_secs(30));
    assert_eq!(again.writes, Vec::<String>::new(), "a restart rewrote");
    assert_eq!(again.events, Vec::new(), "a restart raised Events again");
}

#[test]
fn what_changed_while_it_was_down_is_raised_once() {
    let mut cluster = Cluster::new(&fixture("expiry.yaml"));
    cluster.settle(at(T0));
    cluster.restart();
    // Down across the exception's expiry: the next process raises the
    // expiry and the deviation once, and then nothing.
    let after = cluster.pass(at("2026-06-20T00:00:00Z"));
    let mut reasons = after.reasons();
    reasons.sort();
    assert_eq!(
        reasons,
        ["DeviationFound", "ExceptionExpired"],
        "{:#?}",
        after.events
    );
    cluster.restart();
    let quiet = cluster.pass(at("2026-06-20T00:00:01Z"));
    assert_eq!(
        (quiet.writes.len(), quiet.events.len()),
        (0, 0),
        "{quiet:#?}"
    );
}

#[test]
fn expiry_and_its_warning_happen_at_the_exact_second() {
    let expires = at("2026-06-10T00:00:00Z");
    let warns = expires - SignedDuration::from_hours(7 * 24);
    let second = SignedDuration::from_secs(1);
    let mut cluster = Cluster::new(&fixture("expiry.yaml"));
    let settled = cluster.settle(at(T0));
    // The loop wakes by itself exactly when the warning window opens...
    assert_eq!(settled.last().and_then(|p| p.wake_at), Some(warns));
    assert_eq!(
        cluster
            .condition("StandardException", "shop", "web-single", "ExpiringSoon")
            .0,
        "False"
    );
    let before = cluster.pass(warns - second);
    assert!(before.events.is_empty(), "{before:#?}");
    let warned = cluster.pass(warns);
    assert_eq!(warned.reasons(), ["ExceptionExpiringSoon"]);
    assert_eq!(
        cluster
            .condition("StandardException", "shop", "web-single", "ExpiringSoon")
            .0,
        "True"
    );
    // ...and exactly when it expires.
    assert_eq!(cluster.pass(warns + second).wake_at, Some(expires));
    let still = cluster.pass(expires - second);
    assert!(still.events.is_empty(), "{still:#?}");
    assert_eq!(
        cluster.condition("ComplianceReport", "shop", "deployment-web", "Compliant"),
        ("True".into(), "Excepted".into())
    );
    let expired = cluster.pass(expires);
    let mut reasons = expired.reasons();
    reasons.sort();
    assert_eq!(
        reasons,
        ["DeviationFound", "ExceptionExpired"],
        "{expired:#?}"
    );
    assert_eq!(
        cluster.condition("ComplianceReport", "shop", "deployment-web", "Compliant"),
        ("False".into(), "Deviating".into())
    );
    let (_, reason) = cluster.condition("StandardException", "shop", "web-single", "Active");
    assert_eq!(reason, "Expired");
    assert!(cluster.pass(expires + second).writes.is_empty());
}

#[test]
fn status_only_edits_are_healed_without_events() {
    let mut cluster = Cluster::new(&fixture("expiry.yaml"));
    cluster.settle(at(T0));
    let written = cluster.get("InfrastructureStandard", "", "replicas").data["status"].clone();
    cluster.edit("InfrastructureStandard", "", "replicas", |d| {
        d["status"]["matched"] = 999.into()
    });
    let healed = cluster.pass(at(T0) + SignedDuration::from_secs(1));
    assert_eq!(healed.writes, ["InfrastructureStandard//replicas status"]);
    assert!(healed.events.is_empty(), "{healed:#?}");
    assert_eq!(
        cluster.get("InfrastructureStandard", "", "replicas").data["status"],
        written
    );
    // A report someone rewrote (a report has no status subresource) is put
    // back whole, with no Event: its transitions were raised already.
    let report = cluster
        .get("ComplianceReport", "shop", "deployment-web")
        .data["status"]
        .clone();
    cluster.edit("ComplianceReport", "shop", "deployment-web", |d| {
        d["status"]["deviationCount"] = 999.into();
        d["status"]["deviations"] = serde_json::json!([]);
    });
    let put_back = cluster.pass(at(T0) + SignedDuration::from_secs(2));
    assert_eq!(put_back.writes, ["ComplianceReport/shop/deployment-web"]);
    assert_eq!(
        cluster
            .get("ComplianceReport", "shop", "deployment-web")
            .data["status"],
        report
    );
    // A generated admission policy edited by hand is replaced.
    let policy = cluster
        .objects
        .keys()
        .find(|k| k.0.ends_with("/ValidatingAdmissionPolicy"))
        .cloned()
        .expect("the Enforce standard's policy");
    cluster.edit("ValidatingAdmissionPolicy", "", &policy.2, |d| {
        d["spec"]["failurePolicy"] = "Ignore".into()
    });
    let replaced = cluster.pass(at(T0) + SignedDuration::from_secs(3));
    assert_eq!(
        replaced.writes,
        [format!("ValidatingAdmissionPolicy//{}", policy.2)]
    );
    assert!(
        cluster
            .pass(at(T0) + SignedDuration::from_secs(4))
            .writes
            .is_empty()
    );
}

#[test]
fn a_workload_on_a_deprecated_standard_is_quiet_until_the_sunset() {
    // The examples plus a Deprecated standard (sunset 2027-03-31) that
    // every workload runs on.
    let yaml = format!(
        "{}\n---\n{}",
        examples(),
        std::fs::read_to_string("examples/lifecycle/labels-v1-deprecated.yaml")
            .expect("the lifecycle example")
    );
    let mut cluster = Cluster::new(&yaml);
    cluster.settle(at(T0));
    let (status, reason) = cluster.condition(
        "ComplianceReport",
        "checkout",
        "deployment-cart",
        "StandardsSupported",
    );
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "DeprecatedStandard")
    );
    // Every report rebuilt (a resync), a day later: nothing to write, the
    // StandardsSupported transition time included.
    cluster.resync();
    let quiet = cluster.pass(at(T0) + SignedDuration::from_hours(24));
    assert_eq!(quiet.writes, Vec::<String>::new());
    // The sunset flips each such report once, exactly then.
    let sunset = at("2027-03-31T00:00:00Z");
    // (Much else changes in ten months: exceptions expire, deadlines pass.)
    cluster.settle(sunset - SignedDuration::from_secs(1));
    assert_eq!(
        cluster
            .condition(
                "ComplianceReport",
                "checkout",
                "deployment-cart",
                "StandardsSupported"
            )
            .0,
        "True"
    );
    let passed = cluster.pass(sunset);
    assert!(
        passed
            .writes
            .iter()
            .any(|w| w == "ComplianceReport/checkout/deployment-cart"),
        "{:#?}",
        passed.writes
    );
    assert!(
        passed.reasons().contains(&"StandardSunsetPassed"),
        "{:#?}",
        passed.events
    );
    assert_eq!(
        cluster.condition(
            "ComplianceReport",
            "checkout",
            "deployment-cart",
            "StandardsSupported"
        ),
        ("False".into(), "SunsetPassed".into())
    );
    cluster.resync();
    assert_eq!(
        cluster.pass(sunset + SignedDuration::from_secs(1)).writes,
        Vec::<String>::new()
    );
}

#[test]
fn status_changes_of_workloads_signal_nothing() {
    use plumbline::controller::cache::Applied;
    let mut cluster = Cluster::new(&fixture("expiry.yaml"));
    cluster.settle(at(T0));
    // Rollout progress: only the workload's status and resourceVersion
    // move. The cache says Moved, which wakes no pass (only Changed does).
    let mut web = cluster.get("Deployment", "shop", "web").clone();
    web.data["status"] =
        serde_json::json!({"observedGeneration": 1, "replicas": 2, "unavailableReplicas": 2});
    web.metadata.resource_version = Some("999999".into());
    assert_eq!(
        cluster.stores.apply(&web).expect("a Deployment"),
        Applied::Moved
    );
    // Its labels are what a verdict reads: a change.
    web.metadata.labels = Some([("touched".to_string(), "yes".to_string())].into());
    assert_eq!(
        cluster.stores.apply(&web).expect("a Deployment"),
        Applied::Changed
    );
}

/// `n` deployments of one replica in namespace `bulk`.
fn deployments(n: usize, replicas: u32) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web-{i}, namespace: bulk}}\nspec:\n  replicas: {replicas}\n  template: {{spec: {{containers: [{{name: c, image: \"nginx:1.27.3\"}}]}}}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn many_workloads_changing_at_once_raise_one_summary_each_way() {
    let mut cluster = Cluster::new(&format!(
        "{}---\n{}",
        fixture("bulk.yaml"),
        deployments(30, 1)
    ));
    let first = cluster.pass(at(T0));
    let found: Vec<_> = first
        .events
        .iter()
        .filter(|e| e.reason == "DeviationFound")
        .collect();
    assert!(found.is_empty(), "one Event per workload: {found:#?}");
    let summaries: Vec<_> = first
        .events
        .iter()
        .filter(|e| e.reason == "DeviationsFound")
        .collect();
    assert_eq!(summaries.len(), 1, "{:#?}", first.events);
    assert_eq!(summaries[0].about, "InfrastructureStandard//two-replicas");
    // A few more are below the threshold: one Event each.
    cluster.apply(&deployments(33, 1));
    let few = cluster.pass(at(T0) + SignedDuration::from_secs(1));
    assert_eq!(few.reasons(), ["DeviationFound"; 3]);
    // All fixed at once: one summary again.
    cluster.apply(&deployments(33, 2));
    let fixed = cluster.pass(at(T0) + SignedDuration::from_secs(2));
    assert_eq!(
        fixed.reasons(),
        ["DeviationsResolved"],
        "{:#?}",
        fixed.events
    );
}

/// One edit a user (or the clock) makes.
#[derive(Clone, Debug)]
enum Edit {
    Scale(usize, u32),
    Label(usize, bool),
    Delete(usize),
    Except(usize, u32),
    Unexcept(usize),
    Minimum(u32),
    Later(u32),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..6usize, 1..4u32).prop_map(|(i, r)| Edit::Scale(i, r)),
        (0..6usize, any::<bool>()).prop_map(|(i, b)| Edit::Label(i, b)),
        (0..6usize).prop_map(Edit::Delete),
        (0..6usize, 1..20u32).prop_map(|(i, d)| Edit::Except(i, d)),
        (0..6usize).prop_map(Edit::Unexcept),
        (1..4u32).prop_map(Edit::Minimum),
        (1..200u32).prop_map(Edit::Later),
    ]
}

fn workload(i: usize, replicas: u32, team: bool) -> String {
    let labels = if team { "{team: shop}" } else { "{}" };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w-{i}, namespace: shop, labels: {labels}}}\nspec:\n  replicas: {replicas}\n  template: {{spec: {{containers: [{{name: c, image: \"nginx:1.27.3\"}}]}}}}\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// After any sequence of edits, the incremental evaluation the operator
    /// keeps gives the verdicts of a full one, and its plan (which skips
    /// kept verdicts' reports) leaves the cluster as a fresh operator's
    /// would: a restarted operator finds nothing to write.
    #[test]
    fn incremental_passes_equal_full_ones(edits in proptest::collection::vec(edit(), 1..12)) {
        let mut cluster = Cluster::new(&fixture("random.yaml"));
        cluster.compare = true;
        let mut now = at(T0);
        for i in 0..6 {
            cluster.apply(&workload(i, 1 + (i as u32 % 3), i % 2 == 0));
        }
        cluster.pass(now);
        for e in &edits {
            match *e {
                Edit::Scale(i, r) => cluster.apply(&workload(i, r, i % 2 == 0)),
                Edit::Label(i, team) => cluster.apply(&workload(i, 1 + (i as u32 % 3), team)),
                Edit::Delete(i) => {
                    if cluster.objects.keys().any(|k| k.2 == format!("w-{i}") && k.0.ends_with("/Deployment")) {
                        cluster.delete("Deployment", "shop", &format!("w-{i}"));
                    }
                }
                Edit::Except(i, days) => cluster.apply(&format!(
                    "apiVersion: plumbline.dev/v1alpha1\nkind: StandardException\nmetadata: {{name: e-{i}, namespace: shop}}\nspec:\n  target: {{standard: replicas}}\n  workloads: {{names: [{{kind: Deployment, name: w-{i}}}]}}\n  justification: A test of incremental evaluation.\n  requestedBy: alice\n  approvedBy: bob\n  expiresAt: \"{}\"\n",
                    now + SignedDuration::from_hours(24 * i64::from(days))
                )),
                Edit::Unexcept(i) => {
                    if cluster.objects.keys().any(|k| k.2 == format!("e-{i}")) {
                        cluster.delete("StandardException", "shop", &format!("e-{i}"));
                    }
                }
                Edit::Minimum(m) => cluster.apply(&fixture("random.yaml").replace("minimum: 2", &format!("minimum: {m}"))),
                Edit::Later(hours) => now += SignedDuration::from_hours(i64::from(hours)),
            }
            let (incremental, full) = cluster.pass(now).compared.expect("compared");
            prop_assert_eq!(incremental, full, "after {:?}", e);
        }
        cluster.restart();
        let fresh = cluster.pass(now);
        prop_assert_eq!(fresh.writes, Vec::<String>::new());
        prop_assert_eq!(fresh.events, Vec::<Raised>::new());
    }
}
