//! Admission: InfrastructureStandards with `Enforce` or `Warn` translated
//! into native ValidatingAdmissionPolicies, so that the API server itself
//! refuses (or warns about) what the engine would report, with the same
//! findings, for every object-local rule. Pure, like the engine beside it:
//! no I/O and no clock; the controller decides when to write.

pub mod cel;
pub mod checks;
pub mod policy;
pub mod re2;

pub use policy::{Coverage, Generated, NotEnforced, Options, Waiver, generate};

use std::collections::HashMap;

use jiff::Timestamp;
use kube::ResourceExt;

use crate::engine::{Evaluation, Inputs};

/// The exceptions in force now, by the standard they waive, as admission
/// honours them: the engine's own judgement of each exception (valid,
/// approved, not expired), with what it selects.
pub fn waivers(inputs: &Inputs, eval: &Evaluation) -> HashMap<String, Vec<Waiver>> {
    let mut out: HashMap<String, Vec<Waiver>> = HashMap::new();
    for (e, v) in inputs.exceptions.iter().zip(&eval.exceptions) {
        let Some(standard) = &e.spec.target.standard else {
            continue;
        };
        if !v.in_force {
            continue;
        }
        out.entry(standard.clone()).or_default().push(Waiver {
            namespace: v.namespace.clone(),
            name: e.name_any(),
            names: crate::engine::exception::named_workloads(&e.spec.workloads),
            selector: e.spec.workloads.selector.clone(),
            rules: e.spec.target.rules.clone(),
            expires_at: v.expires_at,
        });
    }
    out
}

/// The policies of every standard, in input order, for the evaluation's
/// judgement of each (an invalid standard generates none).
pub fn generate_all(
    inputs: &Inputs,
    eval: &Evaluation,
    options: &Options,
    now: Timestamp,
) -> Vec<Generated> {
    let waivers = waivers(inputs, eval);
    inputs
        .standards
        .iter()
        .zip(&eval.standards)
        .map(|(s, v)| {
            let w = waivers.get(&s.name_any()).map_or(&[][..], Vec::as_slice);
            generate(s, v.error.is_none(), w, options, now)
        })
        .collect()
}
