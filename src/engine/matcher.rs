//! Which workloads a standard or a baseline applies to (`spec.match`). Pure.

use super::{EngineError, selector::Selector, workload::Workload};
use crate::api::{WorkloadKind, WorkloadMatch};

/// A compiled `match`.
#[derive(Clone, Debug)]
pub struct Matcher {
    kinds: Vec<WorkloadKind>,
    namespaces: Selector,
    workloads: Selector,
    excluded: Vec<String>,
}

impl Matcher {
    /// Compiles `spec.match`.
    pub fn compile(m: &WorkloadMatch) -> Result<Self, EngineError> {
        Ok(Self {
            kinds: m.kinds.clone(),
            namespaces: Selector::compile_optional(
                m.namespace_selector.as_ref(),
                "spec.match.namespaceSelector",
            )?,
            workloads: Selector::compile_optional(m.selector.as_ref(), "spec.match.selector")?,
            excluded: m.excluded_namespaces.clone(),
        })
    }

    /// Whether it selects the workload, given its namespace's labels.
    pub fn matches(&self, w: &Workload, namespace_labels: &super::selector::Labels) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&w.kind))
            && !self.excluded.contains(&w.namespace)
            && self.workloads.matches(&w.labels)
            && self.namespaces.matches(namespace_labels)
    }
}
