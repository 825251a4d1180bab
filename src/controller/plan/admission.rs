//! The admission policies and bindings the standards ask for: which to
//! create or replace (they differ from the cluster's copy, a hand edit
//! included) and which to delete (a standard generated them, and none asks
//! for them any more). Planned before everything else: a standard's status
//! says whether the API server refused its policy. Pure.

use std::collections::{BTreeSet, HashMap, HashSet};

use k8s_openapi::{
    ClusterResourceScope,
    api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{Resource, ResourceExt};

use crate::{
    admission::{Generated, policy::STANDARD_ANNOTATION},
    api::InfrastructureStandard,
    controller::stores::Stores,
};

/// The writes that keep the generated policies as the standards ask.
#[derive(Default)]
pub struct Policies<'g> {
    /// Policies and bindings to create or replace, in pairs.
    pub applies: Vec<Apply<'g>>,
    /// Generated pairs nothing asks for any more.
    pub deletes: Vec<Delete>,
}

/// One standard's policy and binding, each written only when it differs.
/// The policy first: a binding to a policy that does not exist yet does
/// nothing, and neither does a policy without its binding.
pub struct Apply<'g> {
    /// The standard that asks for them (its annotation on the policy).
    pub standard: Option<String>,
    /// The policy, when it differs from the cluster's.
    pub policy: Option<Generate<'g, ValidatingAdmissionPolicy>>,
    /// The binding, when it differs from the cluster's.
    pub binding: Option<Generate<'g, ValidatingAdmissionPolicyBinding>>,
}

/// An object the operator generates whole, to create or replace.
pub struct Generate<'g, K> {
    /// The object as it should be.
    pub desired: &'g K,
    /// The cluster's copy's resourceVersion when there is one (it is
    /// replaced), none when there is none (it is created, never taken over).
    pub existing: Option<Option<String>>,
}

/// A generated pair to delete: the binding first, so that no binding is
/// left naming a missing policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    /// Their name.
    pub name: String,
    /// Whether the binding exists.
    pub binding: bool,
    /// Whether the policy exists.
    pub policy: bool,
}

impl Policies<'_> {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.applies.is_empty() && self.deletes.is_empty()
    }
}

/// Plans the generated policies: `generated` is what the standards ask for.
pub fn plan<'g>(stores: &Stores, generated: &'g [Generated]) -> Policies<'g> {
    let policies: HashMap<String, ValidatingAdmissionPolicy> = stores
        .policies
        .objects()
        .into_iter()
        .map(|p| (p.name_any(), p))
        .collect();
    let bindings: HashMap<String, ValidatingAdmissionPolicyBinding> = stores
        .bindings
        .objects()
        .into_iter()
        .map(|b| (b.name_any(), b))
        .collect();
    let mut plan = Policies::default();
    let mut wanted = HashSet::new();
    for (policy, binding) in generated.iter().flat_map(|g| &g.policies) {
        let name = policy.name_any();
        wanted.insert(name.clone());
        let policy = differing(policy, policies.get(&name), |a, b| a.spec == b.spec);
        let binding = differing(binding, bindings.get(&name), |a, b| a.spec == b.spec);
        if policy.is_none() && binding.is_none() {
            continue;
        }
        plan.applies.push(Apply {
            standard: policy
                .as_ref()
                .map(|p| p.desired)
                .or_else(|| generated_policy(generated, &name))
                .and_then(|p| p.annotations().get(STANDARD_ANNOTATION).cloned()),
            policy,
            binding,
        });
    }
    let present: BTreeSet<&String> = policies.keys().chain(bindings.keys()).collect();
    for name in present {
        // Only what a standard generated is deleted: the label alone (which
        // anyone who can edit the object can add) is not enough.
        let ours = policies
            .get(name)
            .map(|p| &p.metadata)
            .or_else(|| bindings.get(name).map(|b| &b.metadata))
            .is_some_and(generated_by_a_standard);
        if wanted.contains(name) || !ours {
            continue;
        }
        plan.deletes.push(Delete {
            name: name.clone(),
            binding: bindings.contains_key(name),
            policy: policies.contains_key(name),
        });
    }
    plan
}

fn generated_policy<'g>(
    generated: &'g [Generated],
    name: &str,
) -> Option<&'g ValidatingAdmissionPolicy> {
    generated
        .iter()
        .flat_map(|g| &g.policies)
        .map(|(p, _)| p)
        .find(|p| p.metadata.name.as_deref() == Some(name))
}

/// The write of `desired`, unless the cluster's copy has its spec (`same`),
/// owners, labels and annotations.
fn differing<'g, K>(
    desired: &'g K,
    current: Option<&K>,
    same: impl Fn(&K, &K) -> bool,
) -> Option<Generate<'g, K>>
where
    K: Resource<DynamicType = (), Scope = ClusterResourceScope>,
{
    let unchanged = current.is_some_and(|c| {
        same(c, desired)
            && c.meta().owner_references == desired.meta().owner_references
            && desired
                .labels()
                .iter()
                .all(|(k, v)| c.labels().get(k) == Some(v))
            && desired
                .annotations()
                .iter()
                .all(|(k, v)| c.annotations().get(k) == Some(v))
    });
    (!unchanged).then(|| Generate {
        desired,
        existing: current.map(|c| c.resource_version()),
    })
}

/// Whether an InfrastructureStandard controls the object (its controller
/// ownerReference), as every generated policy and binding has it.
fn generated_by_a_standard(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == InfrastructureStandard::kind(&()) && o.controller == Some(true))
}
