//! The built-in checks of a standard's rules: compiled once from the spec
//! (patterns, selectors), then run against each workload. A check returns
//! what is wrong, each finding saying what to fix. Pure.

use regex::{Regex, RegexBuilder};

use super::{
    EngineError,
    containers::{Container, Role},
    findings,
    image::{ImageRef, normalise_prefix, under_prefix},
    ownership::Owner,
    workload::{DisruptionBudget, Workload},
};
use crate::api::{
    common::RequiredKey,
    standard::{HostAccessCheck, ProbesCheck, SecurityContextCheck, StandardRule},
};

/// Regular expressions from specs are bounded so a hostile pattern cannot
/// exhaust the operator's memory.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a user-written pattern; `at` names the field in errors.
pub fn compile_pattern(pattern: &str, at: &str) -> Result<Regex, EngineError> {
    RegexBuilder::new(pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|err| EngineError::InvalidPattern {
            at: at.to_string(),
            pattern: pattern.to_string(),
            reason: err
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string(),
        })
}

/// A rule's check, compiled.
#[derive(Clone, Debug)]
pub enum Check {
    /// Labels or annotations that must be present (and match).
    Keys {
        /// "label" or "annotation".
        noun: &'static str,
        /// Key, optional value pattern (and its source).
        keys: Vec<(String, Option<(Regex, String)>)>,
    },
    /// Requests and limits.
    Resources {
        /// Required requests.
        requests: Vec<String>,
        /// Required limits.
        limits: Vec<String>,
        /// Whether init containers are checked.
        init: bool,
    },
    /// Image origin and reference.
    Images {
        /// Allowed registry prefixes, normalised.
        allowed: Vec<String>,
        /// Refuse `latest` or no tag.
        forbid_latest: bool,
        /// Require a digest.
        require_digest: bool,
        /// Forbidden reference patterns.
        forbidden: Vec<Regex>,
    },
    /// Security context.
    SecurityContext(SecurityContextCheck),
    /// Probes.
    Probes(ProbesCheck),
    /// Least replicas.
    Replicas(i32),
    /// A PodDisruptionBudget must cover the workload.
    DisruptionBudget {
        /// Also refuse budgets that block every disruption.
        forbid_blocking: bool,
    },
    /// Host access.
    HostAccess(HostAccessCheck),
    /// No automatic service account token.
    ServiceAccountToken,
    /// A CEL expression (see `engine::cel`).
    Cel(std::sync::Arc<super::cel::CelRule>),
    /// A CEL rule that does not compile: it evaluates nothing (the
    /// standard's status says why).
    Broken(String),
    /// A (complete) owner.
    Ownership {
        /// Whether the ownership must be complete.
        require_complete: bool,
        /// Least maintainers of a complete ownership.
        min_maintainers: usize,
    },
}

/// Compiles the check of a rule; `at` is the rule's path, e.g. `spec.rules[2]`.
pub fn compile(rule: &StandardRule, at: &str) -> Result<Check, EngineError> {
    let keys =
        |noun: &'static str, field: &str, keys: &[RequiredKey]| -> Result<Check, EngineError> {
            let keys = keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let pattern = k
                        .value_pattern
                        .as_deref()
                        .map(|p| {
                            compile_pattern(p, &format!("{at}.{field}[{i}].valuePattern"))
                                .map(|re| (re, p.to_string()))
                        })
                        .transpose()?;
                    Ok((k.key.clone(), pattern))
                })
                .collect::<Result<_, EngineError>>()?;
            Ok(Check::Keys { noun, keys })
        };
    let mut checks = Vec::new();
    if let Some(k) = &rule.required_labels {
        checks.push(keys("label", "requiredLabels", k)?);
    }
    if let Some(k) = &rule.required_annotations {
        checks.push(keys("annotation", "requiredAnnotations", k)?);
    }
    if let Some(r) = &rule.resources {
        if r.requests.is_empty() && r.limits.is_empty() {
            return Err(EngineError::InvalidSpec {
                at: format!("{at}.resources"),
                reason: "name at least one resource in requests or limits".into(),
            });
        }
        checks.push(Check::Resources {
            requests: r.requests.clone(),
            limits: r.limits.clone(),
            init: r.include_init_containers,
        });
    }
    if let Some(i) = &rule.images {
        let forbidden = i
            .forbidden
            .iter()
            .enumerate()
            .map(|(n, p)| compile_pattern(p, &format!("{at}.images.forbidden[{n}]")))
            .collect::<Result<_, _>>()?;
        checks.push(Check::Images {
            allowed: i
                .allowed_registries
                .iter()
                .map(|p| normalise_prefix(p))
                .collect(),
            forbid_latest: i.forbid_latest_tag,
            require_digest: i.require_digest,
            forbidden,
        });
    }
    if let Some(s) = &rule.security_context {
        checks.push(Check::SecurityContext(s.clone()));
    }
    if let Some(p) = &rule.probes {
        checks.push(Check::Probes(p.clone()));
    }
    if let Some(r) = &rule.replicas {
        checks.push(Check::Replicas(r.minimum));
    }
    if let Some(p) = &rule.pod_disruption_budget {
        checks.push(Check::DisruptionBudget {
            forbid_blocking: p.forbid_blocking_budget,
        });
    }
    if let Some(h) = &rule.host_access {
        checks.push(Check::HostAccess(h.clone()));
    }
    if let Some(t) = &rule.service_account_token {
        if t.forbid_automount {
            checks.push(Check::ServiceAccountToken);
        } else {
            return Err(EngineError::InvalidSpec {
                at: format!("{at}.serviceAccountToken"),
                reason: "forbidAutomount: false checks nothing; remove the rule or set it to true"
                    .into(),
            });
        }
    }
    if let Some(o) = &rule.ownership {
        checks.push(Check::Ownership {
            require_complete: o.require_complete,
            min_maintainers: usize::try_from(o.min_maintainers.max(1)).unwrap_or(1),
        });
    }
    if let Some(c) = &rule.cel {
        checks.push(Check::Cel(std::sync::Arc::new(super::cel::compile(
            c,
            &rule.description,
            at,
        )?)));
    }
    match checks.len() {
        1 => Ok(checks.remove(0)),
        0 => Err(EngineError::InvalidSpec {
            at: at.to_string(),
            reason: "the rule has no check: set exactly one".into(),
        }),
        n => Err(EngineError::InvalidSpec {
            at: at.to_string(),
            reason: format!("the rule has {n} checks: split it into one rule per check"),
        }),
    }
}

/// What a check needs besides the workload.
pub struct Context<'a> {
    /// The workload's containers.
    pub containers: &'a [Container],
    /// PodDisruptionBudgets of the workload's namespace.
    pub budgets: &'a [&'a DisruptionBudget],
    /// Who owns the workload.
    pub owner: &'a Owner,
    /// What CEL rules see of it, built on first use.
    pub cel: &'a super::cel::LazyActivation<'a>,
}

impl Check {
    /// Runs the check; every string returned is one thing to fix.
    pub fn run(&self, workload: &Workload, cx: &Context<'_>) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Check::Keys { noun, keys } => {
                let present = if *noun == "label" {
                    &workload.labels
                } else {
                    &workload.annotations
                };
                for (key, pattern) in keys {
                    match (present.get(key), pattern) {
                        (None, _) => {
                            out.push(findings::text(|s| findings::missing_key(s, noun, key)))
                        }
                        (Some(value), Some((re, source))) if !re.is_match(value) => {
                            out.push(findings::text(|s| {
                                findings::key_mismatch(s, noun, key, value, source)
                            }))
                        }
                        _ => {}
                    }
                }
            }
            Check::Resources {
                requests,
                limits,
                init,
            } => {
                for c in cx.containers {
                    let applies = match c.role() {
                        Role::Regular | Role::Sidecar => true,
                        Role::Init => *init,
                        Role::Ephemeral => false,
                    };
                    if !applies {
                        continue;
                    }
                    for (kind, names, set) in [
                        ("request", requests, &c.requests),
                        ("limit", limits, &c.limits),
                    ] {
                        for name in names.iter().filter(|n| !set.contains(n)) {
                            out.push(findings::text(|s| {
                                findings::missing_resource(s, &c.describe(), name, kind)
                            }));
                        }
                    }
                }
            }
            Check::Images {
                allowed,
                forbid_latest,
                require_digest,
                forbidden,
            } => {
                for c in cx.containers {
                    let image = ImageRef::parse(&c.image);
                    let shown = c.image.as_str();
                    if !allowed.is_empty() {
                        let repo = image.repository();
                        if !allowed.iter().any(|p| under_prefix(&repo, p)) {
                            out.push(findings::text(|s| {
                                findings::registry_not_allowed(s, &c.describe(), shown, allowed)
                            }));
                        }
                    }
                    if *forbid_latest {
                        match (&image.tag, &image.digest) {
                            (Some(tag), _) if tag == "latest" => out.push(findings::text(|s| {
                                findings::latest_tag(s, &c.describe(), shown)
                            })),
                            (None, None) => out.push(findings::text(|s| {
                                findings::untagged(s, &c.describe(), shown)
                            })),
                            _ => {}
                        }
                    }
                    if *require_digest && image.digest.is_none() {
                        out.push(findings::text(|s| {
                            findings::no_digest(s, &c.describe(), shown)
                        }));
                    }
                    let full = image.to_string();
                    if let Some(re) = forbidden
                        .iter()
                        .find(|re| re.is_match(&full) || re.is_match(shown))
                    {
                        out.push(findings::text(|s| {
                            findings::forbidden_image(s, &c.describe(), shown, re.as_str())
                        }));
                    }
                }
            }
            Check::SecurityContext(req) => security_context(req, cx.containers, &mut out),
            // Jobs and CronJobs run to completion: liveness and readiness do not apply.
            Check::Probes(_) if workload.kind.runs_to_completion() => {}
            Check::Probes(req) => {
                for c in cx.containers.iter().filter(|c| c.role().long_running()) {
                    for (wanted, has, name, field) in [
                        (req.liveness, c.liveness, "liveness", "livenessProbe"),
                        (req.readiness, c.readiness, "readiness", "readinessProbe"),
                        (req.startup, c.startup, "startup", "startupProbe"),
                    ] {
                        if wanted && !has {
                            out.push(findings::text(|s| {
                                findings::no_probe(s, &c.describe(), name, field)
                            }));
                        }
                    }
                }
            }
            Check::Replicas(min) => {
                if let Some(replicas) = workload.replicas
                    && replicas < *min
                {
                    let plural = if replicas == 1 { "" } else { "s" };
                    out.push(findings::text(|s| {
                        findings::too_few_replicas(s, &replicas.to_string(), plural, *min)
                    }));
                }
            }
            Check::DisruptionBudget { forbid_blocking } => {
                // Only replicated workloads are protected by a budget: drains
                // skip DaemonSet pods, and Jobs and bare Pods are not replicated.
                if workload.kind.replicated() {
                    let covering: Vec<_> = cx
                        .budgets
                        .iter()
                        .filter(|b| {
                            b.selector
                                .as_ref()
                                .is_some_and(|s| s.matches(&workload.pod_labels))
                        })
                        .collect();
                    if covering.is_empty() {
                        out.push(
                            "no PodDisruptionBudget selects its pods: add one whose selector matches the pod template's labels"
                                .into(),
                        );
                    } else if *forbid_blocking {
                        let replicas = workload.replicas.unwrap_or(1);
                        for b in covering.iter().filter(|b| b.blocks_disruption(replicas)) {
                            out.push(format!(
                                "the PodDisruptionBudget `{}` allows no voluntary disruption of {replicas} replica{}, which blocks node drains: raise maxUnavailable or lower minAvailable",
                                b.name,
                                if replicas == 1 { "" } else { "s" }
                            ));
                        }
                    }
                }
            }
            Check::HostAccess(req) => host_access(req, workload, cx.containers, &mut out),
            Check::ServiceAccountToken => {
                if workload.pod.automount_service_account_token != Some(false) {
                    out.push(findings::text(findings::token_mounted));
                }
            }
            Check::Ownership {
                require_complete,
                min_maintainers,
            } => match cx.owner {
                Owner::Orphan | Owner::Conflict(_) => out.extend(cx.owner.problem()),
                Owner::Owned(o) => {
                    let gaps = o.gaps(*min_maintainers);
                    if *require_complete && !gaps.is_empty() {
                        out.push(format!(
                            "its ServiceOwnership `{}` is incomplete: {}",
                            o.name,
                            gaps.join("; ")
                        ));
                    }
                }
            },
            Check::Broken(_) => {}
            Check::Cel(rule) => match cx.cel.get() {
                Ok(activation) => match rule.evaluate(activation) {
                    super::cel::Outcome::Pass => {}
                    super::cel::Outcome::Fail(message) => out.push(message),
                    super::cel::Outcome::Error(e) => {
                        out.push(format!("the rule could not be evaluated: {e}"))
                    }
                },
                Err(e) => out.push(format!("the rule could not be evaluated: {e}")),
            },
        }
        out
    }
}

fn security_context(req: &SecurityContextCheck, containers: &[Container], out: &mut Vec<String>) {
    for c in containers {
        let what = c.describe();
        if req.run_as_non_root {
            match (c.run_as_non_root, c.run_as_user) {
                (_, Some(0)) => out.push(findings::text(|s| findings::runs_as_root(s, &what))),
                (Some(true), _) | (_, Some(_)) => {}
                _ => out.push(findings::text(|s| findings::may_run_as_root(s, &what))),
            }
        }
        if req.read_only_root_filesystem && c.read_only_root_filesystem != Some(true) {
            out.push(findings::text(|s| findings::writable_root(s, &what)));
        }
        if req.disallow_privilege_escalation && c.allow_privilege_escalation != Some(false) {
            out.push(findings::text(|s| findings::privilege_escalation(s, &what)));
        }
        if req.disallow_privileged && c.privileged == Some(true) {
            out.push(findings::text(|s| findings::privileged(s, &what)));
        }
        if !req.drop_capabilities.is_empty() {
            let dropped = &c.dropped_capabilities;
            let drops_all = dropped.iter().any(|d| d.eq_ignore_ascii_case("ALL"));
            let missing: Vec<&str> = req
                .drop_capabilities
                .iter()
                .map(String::as_str)
                .filter(|cap| {
                    !drops_all
                        && !dropped
                            .iter()
                            .any(|d| normal_cap(d).eq_ignore_ascii_case(normal_cap(cap)))
                })
                .collect();
            if !missing.is_empty() {
                let pronoun = if missing.len() == 1 { "it" } else { "them" };
                out.push(findings::text(|s| {
                    findings::capabilities_kept(s, &what, &missing.join(", "), pronoun)
                }));
            }
        }
        if req.require_seccomp_profile
            && !matches!(c.seccomp.as_deref(), Some("RuntimeDefault" | "Localhost"))
        {
            let shown = c
                .seccomp
                .as_ref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            out.push(findings::text(|s| findings::no_seccomp(s, &what, &shown)));
        }
    }
}

/// `CAP_NET_RAW` and `NET_RAW` are the same capability.
pub fn normal_cap(cap: &str) -> &str {
    cap.strip_prefix("CAP_")
        .or_else(|| cap.strip_prefix("cap_"))
        .unwrap_or(cap)
}

fn host_access(
    req: &HostAccessCheck,
    workload: &Workload,
    containers: &[Container],
    out: &mut Vec<String>,
) {
    let pod = &workload.pod;
    if req.forbid_host_namespaces {
        for (on, field) in [
            (pod.host_network, "hostNetwork"),
            (pod.host_pid, "hostPID"),
            (pod.host_ipc, "hostIPC"),
        ] {
            if on {
                out.push(findings::text(|s| findings::host_namespace(s, field)));
            }
        }
    }
    if req.forbid_host_path {
        for (name, path) in &pod.host_paths {
            out.push(findings::text(|s| findings::host_path(s, name, path)));
        }
    }
    if req.forbid_host_ports {
        for c in containers {
            for port in &c.host_ports {
                out.push(findings::text(|s| {
                    findings::host_port(s, &c.describe(), &port.to_string())
                }));
            }
        }
    }
}
