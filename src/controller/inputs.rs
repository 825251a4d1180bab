//! Turns the watch caches into the engine's inputs, in a stable order so
//! that samples and writes never depend on the order events arrived in.
//! Pure reads of the caches; no I/O.

use kube::ResourceExt;

use super::watch::Stores;
use crate::engine::{Inputs, Namespace};

impl Stores {
    /// A snapshot of the caches as the engine's inputs. Workloads are
    /// shared with the caches (converted once, when their watch event came).
    pub fn inputs(&self) -> Inputs {
        let mut workloads = self.workloads.values();
        workloads
            .sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
        let mut standards = self.standards.objects();
        standards.sort_by_key(|s| s.name_any());
        let mut exceptions = self.exceptions.objects();
        exceptions.sort_by_key(|s| (s.namespace(), s.name_any()));
        let mut baselines = self.baselines.objects();
        baselines.sort_by_key(|s| s.name_any());
        let mut ownerships = self.ownerships.objects();
        ownerships.sort_by_key(|s| (s.namespace(), s.name_any()));
        let mut budgets: Vec<_> = self
            .budgets
            .values()
            .iter()
            .map(|b| (**b).clone())
            .collect();
        budgets.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let mut reviews = self.reviews.values();
        reviews.sort_by(|a, b| a.name.cmp(&b.name));
        Inputs {
            workloads,
            namespaces: self
                .namespaces
                .values()
                .iter()
                .map(|n| Namespace::from_object((**n).clone()))
                .collect(),
            budgets,
            standards,
            exceptions,
            baselines,
            ownerships,
            reviews,
        }
    }
}
