//! Service ownership: which ServiceOwnership owns each workload (or none:
//! an orphan; or several: a conflict), and whether an ownership is complete
//! at a given time. Pure.

use std::sync::Arc;

use jiff::{Timestamp, tz::TimeZone};

use super::{EngineError, selector::Selector};
use crate::api::{Date, ServiceOwnership, ownership::Tier};

/// The reasons of an ownership's findings (its `Complete` condition's
/// reason when it has one finding).
pub mod reasons {
    /// Fewer maintainers than the bar.
    pub const TOO_FEW_MAINTAINERS: &str = "TooFewMaintainers";
    /// No runbook.
    pub const NO_RUNBOOK: &str = "NoRunbook";
    /// No on-call rotation.
    pub const NO_ON_CALL: &str = "NoOnCall";
    /// A support tier is missing.
    pub const MISSING_SUPPORT_TIERS: &str = "MissingSupportTiers";
    /// Its end of life passed.
    pub const END_OF_LIFE_PASSED: &str = "EndOfLifePassed";
    /// Its end of support passed.
    pub const END_OF_SUPPORT_PASSED: &str = "EndOfSupportPassed";
    /// Its vendor contract ended.
    pub const VENDOR_CONTRACT_ENDED: &str = "VendorContractEnded";
}

/// How many maintainers a complete ownership names unless a standard says
/// otherwise: "three people per technology".
pub const DEFAULT_MIN_MAINTAINERS: usize = 3;

/// The instant a date is over: the start of the next day, in UTC.
pub fn day_end(date: Date) -> Option<Timestamp> {
    date.0
        .tomorrow()
        .ok()?
        .to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Something missing or out of date in an ownership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// A CamelCase reason.
    pub reason: &'static str,
    /// What to do.
    pub message: String,
}

/// What the engine keeps of a ServiceOwnership.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnerInfo {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The owning team.
    pub team: String,
    maintainers: usize,
    runbook: bool,
    on_call: bool,
    tiers: Vec<Tier>,
    end_of_support: Option<Date>,
    end_of_life: Option<Date>,
    contract_end: Option<Date>,
    now: Timestamp,
}

impl OwnerInfo {
    fn new(so: &ServiceOwnership, now: Timestamp) -> Self {
        let spec = &so.spec;
        let lifecycle = spec.lifecycle.as_ref();
        Self {
            namespace: super::namespace_or_default(so.metadata.namespace.as_deref()),
            name: so.metadata.name.clone().unwrap_or_default(),
            team: spec.team.clone(),
            maintainers: spec.maintainers.len(),
            runbook: spec
                .runbook
                .as_deref()
                .is_some_and(|r| !r.trim().is_empty()),
            on_call: spec.on_call.is_some(),
            tiers: spec.support_tiers.iter().map(|t| t.tier).collect(),
            end_of_support: lifecycle.and_then(|l| l.end_of_support),
            end_of_life: lifecycle.and_then(|l| l.end_of_life),
            contract_end: spec.vendor.as_ref().and_then(|v| v.contract_end),
            now,
        }
    }

    fn passed(&self, date: Option<Date>) -> Option<Date> {
        date.filter(|d| day_end(*d).is_some_and(|end| self.now >= end))
    }

    /// What is missing or out of date, for a bar of `min_maintainers`.
    pub fn findings(&self, min_maintainers: usize) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.maintainers < min_maintainers {
            out.push(Finding {
                reason: reasons::TOO_FEW_MAINTAINERS,
                message: format!(
                    "{} maintainer{} named, {min_maintainers} needed: add people who can run and fix the service to spec.maintainers",
                    self.maintainers,
                    if self.maintainers == 1 { "" } else { "s" }
                ),
            });
        }
        if !self.runbook {
            out.push(Finding {
                reason: reasons::NO_RUNBOOK,
                message: "no runbook: set spec.runbook to its address".into(),
            });
        }
        if !self.on_call {
            out.push(Finding {
                reason: reasons::NO_ON_CALL,
                message: "no on-call: set spec.onCall.rotation".into(),
            });
        }
        let missing: Vec<&str> = [
            (Tier::First, "First"),
            (Tier::Second, "Second"),
            (Tier::Third, "Third"),
        ]
        .into_iter()
        .filter(|(t, _)| !self.tiers.contains(t))
        .map(|(_, n)| n)
        .collect();
        if !missing.is_empty() {
            out.push(Finding {
                reason: reasons::MISSING_SUPPORT_TIERS,
                message: format!(
                    "no {} line of support: add {} to spec.supportTiers",
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            });
        }
        if let Some(d) = self.passed(self.end_of_life) {
            out.push(Finding {
                reason: reasons::END_OF_LIFE_PASSED,
                message: format!(
                    "end of life was {}: retire the service or agree a new lifecycle",
                    d.0
                ),
            });
        } else if let Some(d) = self.passed(self.end_of_support) {
            out.push(Finding {
                reason: reasons::END_OF_SUPPORT_PASSED,
                message: format!(
                    "end of support was {}: migrate, or extend support and update spec.lifecycle",
                    d.0
                ),
            });
        }
        if let Some(d) = self.passed(self.contract_end) {
            out.push(Finding {
                reason: reasons::VENDOR_CONTRACT_ENDED,
                message: format!(
                    "the vendor contract ended {}: renew it or update spec.vendor.contractEnd",
                    d.0
                ),
            });
        }
        out
    }

    /// The findings' messages, for a bar of `min_maintainers`.
    pub fn gaps(&self, min_maintainers: usize) -> Vec<String> {
        self.findings(min_maintainers)
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    /// Whether it names everything it should, for the default bar: the one
    /// place an ownership is judged complete (reports, the audit, metrics).
    pub fn complete(&self) -> bool {
        self.findings(DEFAULT_MIN_MAINTAINERS).is_empty()
    }

    /// The next instant after `now` at which a date of this ownership passes.
    pub fn next_change(&self) -> Option<Timestamp> {
        [self.end_of_support, self.end_of_life, self.contract_end]
            .into_iter()
            .flatten()
            .filter_map(day_end)
            .filter(|t| *t > self.now)
            .min()
    }
}

/// Who owns a workload.
#[derive(Clone, Debug, PartialEq)]
pub enum Owner {
    /// Exactly one ServiceOwnership selects it.
    Owned(Arc<OwnerInfo>),
    /// None does.
    Orphan,
    /// Several do: their names.
    Conflict(Vec<String>),
}

impl Owner {
    /// What is wrong with a workload's ownership, and what to do, or
    /// nothing when exactly one ServiceOwnership owns it: the one wording of
    /// an orphan and a conflict, for reports, standards' checks and every
    /// audit format.
    pub fn problem(&self) -> Option<String> {
        match self {
            Owner::Owned(_) => None,
            Owner::Orphan => Some(
                "no ServiceOwnership selects it: create one in its namespace whose selector matches its labels".into(),
            ),
            Owner::Conflict(names) => Some(format!(
                "several ServiceOwnerships select it ({}): narrow their selectors so exactly one does",
                names.join(", ")
            )),
        }
    }
}

/// A ServiceOwnership, compiled.
#[derive(Clone, Debug)]
pub struct CompiledOwnership {
    /// What the engine keeps of it.
    pub info: Arc<OwnerInfo>,
    /// Its selector, or why it is invalid.
    pub selector: Result<Selector, EngineError>,
}

impl CompiledOwnership {
    /// Compiles an ownership at `now`.
    pub fn new(so: &ServiceOwnership, now: Timestamp) -> Self {
        Self {
            info: Arc::new(OwnerInfo::new(so, now)),
            selector: Selector::compile(&so.spec.selector, "spec.selector"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ownership(yaml: &str) -> ServiceOwnership {
        serde_saphyr::from_str(yaml).expect("valid ServiceOwnership")
    }

    #[test]
    fn a_complete_ownership_has_no_findings_until_its_support_ends() {
        let so = ownership(
            r#"
apiVersion: plumbline.dev/v1alpha1
kind: ServiceOwnership
metadata: {name: api, namespace: pay}
spec:
  selector: {}
  team: pay
  maintainers: [{name: a}, {name: b}, {name: c}]
  supportTiers:
  - {tier: First, team: desk, contact: x}
  - {tier: Second, team: pay, contact: y}
  - {tier: Third, team: vendor, contact: z}
  onCall: {rotation: pay}
  runbook: https://wiki/pay
  lifecycle: {stage: Production, endOfSupport: "2027-06-30", endOfLife: "2027-12-31"}
"#,
        );
        let before: Timestamp = "2027-06-30T23:59:59Z".parse().unwrap();
        let info = OwnerInfo::new(&so, before);
        assert_eq!(info.findings(3), vec![]);
        assert_eq!(
            info.next_change(),
            Some("2027-07-01T00:00:00Z".parse().unwrap())
        );
        let after = OwnerInfo::new(&so, "2027-07-01T00:00:00Z".parse().unwrap());
        let reasons: Vec<_> = after.findings(3).iter().map(|f| f.reason).collect();
        assert_eq!(reasons, ["EndOfSupportPassed"]);
        assert_eq!(
            after.next_change(),
            Some("2028-01-01T00:00:00Z".parse().unwrap())
        );
        let dead = OwnerInfo::new(&so, "2028-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(dead.findings(3)[0].reason, "EndOfLifePassed");
        assert_eq!(dead.next_change(), None);
        assert_eq!(
            info.findings(4)[0].reason,
            "TooFewMaintainers",
            "a stricter bar"
        );
    }

    #[test]
    fn an_incomplete_ownership_lists_every_gap() {
        let so = ownership(
            r#"
apiVersion: plumbline.dev/v1alpha1
kind: ServiceOwnership
metadata: {name: search, namespace: search}
spec:
  selector: {}
  team: search
  maintainers: [{name: a}]
  supportTiers: [{tier: Second, team: search, contact: y}]
"#,
        );
        let info = OwnerInfo::new(&so, "2026-11-24T00:00:00Z".parse().unwrap());
        let findings = info.findings(DEFAULT_MIN_MAINTAINERS);
        let reasons: Vec<_> = findings.iter().map(|f| f.reason).collect();
        assert_eq!(
            reasons,
            [
                "TooFewMaintainers",
                "NoRunbook",
                "NoOnCall",
                "MissingSupportTiers"
            ]
        );
        assert!(
            findings[0]
                .message
                .starts_with("1 maintainer named, 3 needed")
        );
        assert!(
            findings[3]
                .message
                .contains("no First, Third line of support")
        );
    }
}
