//! Incremental evaluation gives exactly the verdicts of a full evaluation,
//! after every kind of change, while evaluating only the workloads the
//! change can affect. The inputs are the shipped examples; each step edits
//! them the way a user or the clock would.

mod common;

use std::sync::Arc;

use jiff::{Timestamp, ToSpan};
use plumbline::{
    audit::load::Take,
    engine::{self, Incremental, Inputs},
};

fn examples() -> Inputs {
    let loaded = common::load(&common::example_files(), Take::All);
    loaded.inputs
}

/// Runs one step and checks it against a full evaluation; returns how many
/// workloads were evaluated.
fn step(cache: &mut Incremental, inputs: &Inputs, now: Timestamp, what: &str) -> usize {
    step_at(cache, inputs, now, what).0
}

/// `step`, and where the verdicts are held.
fn step_at(
    cache: &mut Incremental,
    inputs: &Inputs,
    now: Timestamp,
    what: &str,
) -> (usize, *const engine::WorkloadVerdict) {
    let full = format!("{:#?}", engine::evaluate(inputs, now));
    let (_, eval, pass) = cache.evaluate(inputs.clone(), now);
    let at = eval.workloads.as_ptr();
    let incremental = format!("{eval:#?}");
    if full != incremental {
        let line = full
            .lines()
            .zip(incremental.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "after {what}: incremental differs from full at line {line}:\n full: {}\n incr: {}",
            full.lines().nth(line).unwrap_or(""),
            incremental.lines().nth(line).unwrap_or("")
        );
    }
    assert_eq!(
        pass.evaluated + pass.reused,
        inputs.workloads.len(),
        "{what}"
    );
    // `kept` names exactly the reused verdicts, workload by workload: the
    // operator skips building those workloads' reports.
    assert_eq!(pass.kept.len(), inputs.workloads.len(), "{what}");
    assert_eq!(
        pass.kept.iter().filter(|k| **k).count(),
        pass.reused,
        "{what}"
    );
    (pass.evaluated, at)
}

fn workload(inputs: &mut Inputs, name: &str) -> usize {
    inputs
        .workloads
        .iter()
        .position(|w| w.name == name)
        .unwrap_or_else(|| panic!("no workload {name} in examples/"))
}

fn in_namespace(inputs: &Inputs, ns: &str) -> usize {
    inputs
        .workloads
        .iter()
        .filter(|w| w.namespace == ns)
        .count()
}

#[test]
fn incremental_evaluation_equals_full_evaluation_after_every_change() {
    let mut inputs = examples();
    let total = inputs.workloads.len();
    assert!(total >= 8, "the examples hold workloads");
    let mut now: Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
    let mut cache = Incremental::new();

    assert_eq!(step(&mut cache, &inputs, now, "the first pass"), total);
    assert_eq!(step(&mut cache, &inputs, now, "nothing"), 0);
    now += 1.second();
    assert_eq!(step(&mut cache, &inputs, now, "a second"), 0);

    // One workload's image.
    let (_, held) = step_at(&mut cache, &inputs, now, "nothing, again");
    let i = workload(&mut inputs, "payments-api");
    // A changed object is a new one, as the operator's snapshot gives it.
    Arc::make_mut(&mut inputs.workloads[i]).pod.containers[0].image = "nginx:1.20.0".into();
    let (evaluated, at) = step_at(&mut cache, &inputs, now, "an image change");
    assert_eq!(evaluated, 1);
    // An edit replaces its verdict where it stands: no list of every
    // verdict is allocated again (at 10,000 workloads, megabytes per edit).
    assert_eq!(at, held, "an edit allocated a new list of verdicts");

    // A workload's labels (ownership and exceptions select by label).
    let i = workload(&mut inputs, "search-frontend");
    Arc::make_mut(&mut inputs.workloads[i])
        .labels
        .insert("app.kubernetes.io/name".into(), "renamed".into());
    assert_eq!(step(&mut cache, &inputs, now, "a label change"), 1);

    // A namespace's labels move its workloads to another ring.
    let ns = inputs.workloads[i].namespace.clone();
    let n = inputs.namespaces.iter_mut().find(|n| n.name == ns).unwrap();
    n.labels.insert("env".into(), "dev".into());
    assert_eq!(
        step(&mut cache, &inputs, now, "a namespace label"),
        in_namespace(&inputs, &ns)
    );

    // An exception deleted, then one edited.
    let e = inputs.exceptions.remove(0);
    let ens = e.metadata.namespace.clone().unwrap();
    assert_eq!(
        step(&mut cache, &inputs, now, "an exception deleted"),
        in_namespace(&inputs, &ens)
    );
    inputs.exceptions.push(e);
    step(&mut cache, &inputs, now, "an exception restored");
    inputs.exceptions[0].spec.expires_at = (now + 2.seconds()).into();
    step(&mut cache, &inputs, now, "an exception shortened");

    // The clock passes its expiry: only the workloads it covered change.
    now += 3.seconds();
    let evaluated = step(&mut cache, &inputs, now, "an expiry");
    assert!(
        evaluated < total,
        "an expiry re-evaluated all {total} workloads"
    );

    // A standard edited, deleted, added back.
    inputs.standards[0].spec.rules.remove(0);
    let evaluated = step(&mut cache, &inputs, now, "a rule removed");
    assert!(evaluated > 0);
    let s = inputs.standards.remove(0);
    step(&mut cache, &inputs, now, "a standard deleted");
    inputs.standards.insert(0, s);
    step(&mut cache, &inputs, now, "a standard added");

    // A standard that matches nothing changes nothing.
    let mut unmatched = inputs.standards[0].clone();
    unmatched.metadata.name = Some("aaa-unmatched".into());
    unmatched.spec.match_.excluded_namespaces = inputs
        .namespaces
        .iter()
        .map(|n| n.name.clone())
        .chain(inputs.workloads.iter().map(|w| w.namespace.clone()))
        .collect();
    inputs.standards.insert(0, unmatched);
    assert_eq!(step(&mut cache, &inputs, now, "an unmatched standard"), 0);

    // A baseline deleted and a ring deadline passing.
    let b = inputs.baselines.remove(0);
    step(&mut cache, &inputs, now, "a baseline deleted");
    inputs.baselines.push(b);
    step(&mut cache, &inputs, now, "a baseline added");
    now += 960.hours();
    step(&mut cache, &inputs, now, "forty days");

    // Ownership: one deleted, one budget added, a workload added and removed.
    let o = inputs.ownerships.remove(0);
    step(&mut cache, &inputs, now, "an ownership deleted");
    inputs.ownerships.push(o);
    step(&mut cache, &inputs, now, "an ownership added");
    let w = inputs.workloads.remove(0);
    step(&mut cache, &inputs, now, "a workload deleted");
    let mut copy = (*w).clone();
    copy.name = format!("{}-copy", copy.name);
    inputs.workloads.push(w);
    inputs.workloads.push(Arc::new(copy));
    assert_eq!(step(&mut cache, &inputs, now, "two workloads added"), 2);
    inputs.budgets.clear();
    step(&mut cache, &inputs, now, "budgets removed");

    // The order of the inputs does not matter.
    inputs.workloads.reverse();
    inputs.exceptions.reverse();
    inputs.standards.reverse();
    assert_eq!(step(&mut cache, &inputs, now, "reordered inputs"), 0);
}
