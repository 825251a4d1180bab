//! One rule of a standard as a CEL expression that evaluates, at admission,
//! to the list of what is wrong with the object: the same findings, worded
//! the same, as `crate::engine`'s check gives for the same pod spec. Rules
//! that need other objects (PodDisruptionBudgets, ServiceOwnerships) or a
//! pattern RE2 reads differently are not expressible and say why. Pure.

use super::{cel, re2};
use crate::{
    api::{
        WorkloadKind,
        standard::{HostAccessCheck, ProbesCheck, SecurityContextCheck},
    },
    engine::{
        checks::{Check, normal_cap},
        containers::Role,
        findings,
    },
};

/// Which shared variables a rule's expression reads (see `policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The parsed image references of every container.
    pub images: bool,
    /// The effective security settings of every container.
    pub security: bool,
    /// The normalised dropped capabilities of every container.
    pub capabilities: bool,
    /// The variables of CEL rules (`podSpec`, `podMetadata`, `containers`,
    /// `containerRoles`).
    pub cel: bool,
}

impl std::ops::BitOrAssign for Needs {
    fn bitor_assign(&mut self, other: Self) {
        self.images |= other.images;
        self.security |= other.security;
        self.capabilities |= other.capabilities;
        self.cel |= other.cel;
    }
}

/// What part of an object a rule reads, which decides when an UPDATE is
/// judged by it (see `policy`): running workloads are never wedged by a
/// change that does not touch what the rule reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    /// The object's own labels or annotations: an UPDATE is refused when it
    /// adds a finding. The expression is the same rule over the old object's
    /// map, to tell new findings from those the workload already had.
    Metadata {
        /// The findings on `oldObject`.
        old: String,
    },
    /// The pod spec as a whole, or the workload's own spec: judged on CREATE
    /// and when the pod template changes.
    Pod,
    /// Each container: also judged on the containers a debug session adds
    /// through `pods/ephemeralcontainers`.
    Containers,
}

/// A rule, translated.
#[derive(Clone, Debug, PartialEq)]
pub struct Findings {
    /// A CEL expression of type list(string): one entry per thing to fix.
    pub expression: String,
    /// Variables of the rule's own, `(name, expression)`, each name starting
    /// with the prefix `translate` was given.
    pub own: Vec<(String, String)>,
    /// Shared variables it reads.
    pub needs: Needs,
    /// What it reads.
    pub scope: Scope,
}

/// The labels of the object before an UPDATE.
const OLD_LABELS: &str = "oldObject.metadata.?labels.orValue({})";
/// The annotations of the object before an UPDATE.
const OLD_ANNOTATIONS: &str = "oldObject.metadata.?annotations.orValue({})";

/// The containers a per-container check looks at, by role.
#[derive(Clone, Copy)]
enum Roles {
    /// Every container.
    All,
    /// Regular containers and native sidecars (long-running).
    LongRunning,
    /// Regular, sidecar and init containers (not ephemeral).
    NotEphemeral,
}

impl Roles {
    fn filter(self) -> Option<String> {
        match self {
            Roles::All => None,
            Roles::LongRunning => Some(format!(
                "variables.roles[i] == {} || variables.roles[i] == {}",
                cel::string(Role::Regular.noun()),
                cel::string(Role::Sidecar.noun())
            )),
            Roles::NotEphemeral => Some(format!(
                "variables.roles[i] != {}",
                cel::string(Role::Ephemeral.noun())
            )),
        }
    }
}

/// The names of the kinds that have a property, as a CEL list.
fn kinds(has: fn(WorkloadKind) -> bool) -> String {
    cel::strings(
        WorkloadKind::ALL
            .into_iter()
            .filter(|k| has(*k))
            .map(WorkloadKind::as_str),
    )
}

/// `[piece, ...]` per container, joined with "; ", empty ones dropped: the
/// engine's findings, one entry per container with something to fix.
fn per_container(roles: Roles, pieces: &[String]) -> String {
    let range = "lists.range(size(variables.cs))";
    let filtered = match roles.filter() {
        Some(f) => format!("{range}.filter(i, {f})"),
        None => range.to_string(),
    };
    format!(
        "{filtered}.map(i, [{}].filter(s, s != \"\").join(\"; \")).filter(s, s != \"\")",
        pieces.join(", ")
    )
}

/// `cond ? message : ""`, the message being CEL source.
fn piece(condition: &str, message: &str) -> String {
    format!("({condition}) ? {message} : \"\"")
}

/// The container a per-container finding is about, as its description.
const CONTAINER: &str = "variables.ds[i]";
/// Its image as written.
const SHOWN: &str = "variables.imgShown[i]";

/// A CEL rule: the expression as written, in a variable of its own (on
/// lines of its own, so that nothing in it can reach past it), and its
/// message as the engine writes it: `messageExpression`'s value when it is a
/// non-empty single-line string of at most 5,120 characters (trimmed), else
/// `message`.
fn custom(rule: &crate::engine::cel::CelRule, own: &str) -> Findings {
    let ok = format!("{own}ok");
    let mut vars = vec![(ok.clone(), format!("(\n{}\n)", rule.expression))];
    let fallback = cel::string(&rule.message);
    let message = match &rule.message_expression {
        Some(m) => {
            let name = format!("{own}msg");
            vars.push((name.clone(), format!("(\n{m}\n)")));
            let v = format!("variables.{name}");
            format!(
                "(type({v}) == string && {v}.trim() != \"\" && !{v}.contains(\"\\n\") && size({v}.trim()) <= {limit} ? {v}.trim() : {fallback})",
                limit = crate::engine::cel::MESSAGE_LIMIT
            )
        }
        None => fallback,
    };
    Findings {
        expression: format!("variables.{ok} ? [] : [{message}]"),
        own: vars,
        needs: Needs {
            cel: true,
            ..Needs::default()
        },
        scope: Scope::Pod,
    }
}

/// Translates the engine's compiled check of a rule, or says why it cannot
/// be checked at admission; the rule's own variables are named `<own>…`. The match has no catch-all: a new kind of check
/// does not compile until admission translates it or says why not.
pub fn translate(check: &Check, own: &str) -> Result<Findings, String> {
    let of = |scope: Scope| {
        move |expression: String| Findings {
            expression,
            own: Vec::new(),
            needs: Needs::default(),
            scope: scope.clone(),
        }
    };
    let plain = of(Scope::Pod);
    let containers = of(Scope::Containers);
    match check {
        Check::Cel(rule) => Ok(custom(rule, own)),
        Check::Broken(e) => Err(format!("the rule does not compile: {e}")),
        Check::Keys { noun, keys } => {
            let (map, old_map) = if *noun == "annotation" {
                ("variables.annotations", OLD_ANNOTATIONS)
            } else {
                ("variables.labels", OLD_LABELS)
            };
            let old = keys_check(noun, old_map, keys)?;
            keys_check(noun, map, keys).map(of(Scope::Metadata { old }))
        }
        Check::Resources {
            requests,
            limits,
            init,
        } => {
            let roles = if *init {
                Roles::NotEphemeral
            } else {
                Roles::LongRunning
            };
            let mut pieces = Vec::new();
            for (kind, names, field) in [
                ("request", requests, "requests"),
                ("limit", limits, "limits"),
            ] {
                for name in names {
                    pieces.push(piece(
                        &format!(
                            "!({} in variables.cs[i].?resources.?{field}.orValue({{}}))",
                            cel::string(name)
                        ),
                        &cel::finding(|s| findings::missing_resource(s, CONTAINER, name, kind)),
                    ));
                }
            }
            Ok(containers(per_container(roles, &pieces)))
        }
        Check::Images {
            allowed,
            forbid_latest,
            require_digest,
            forbidden,
        } => {
            let patterns: Vec<&str> = forbidden.iter().map(|re| re.as_str()).collect();
            for (n, pattern) in patterns.iter().enumerate() {
                re2::compatible(pattern)
                    .map_err(|why| format!("images.forbidden[{n}] `{pattern}`: {why}"))?;
            }
            Ok(Findings {
                expression: images(allowed, *forbid_latest, *require_digest, &patterns),
                own: Vec::new(),
                needs: Needs {
                    images: true,
                    ..Needs::default()
                },
                scope: Scope::Containers,
            })
        }
        Check::SecurityContext(s) => Ok(security_context(s, own)),
        Check::Probes(p) => Ok(containers(probes(p))),
        Check::Replicas(min) => {
            let replicas = "object.spec.?replicas.orValue(1)";
            let finding = cel::finding(|s| {
                findings::too_few_replicas(
                    s,
                    &format!("string({replicas})"),
                    &format!("{replicas} == 1 ? \"\" : \"s\""),
                    *min,
                )
            });
            Ok(plain(format!(
                "(variables.kind in {} && {replicas} < {min}) ? [{finding}] : []",
                kinds(WorkloadKind::replicated),
            )))
        }
        Check::DisruptionBudget { .. } => Err("it needs the namespace's PodDisruptionBudgets, which a GitOps sync may apply after the workload".into()),
        // Pod scope: host ports are per container, but ephemeral containers
        // may have none, so a debug session adds nothing this rule reads.
        Check::HostAccess(h) => Ok(plain(host_access(h))),
        Check::ServiceAccountToken => Ok(plain(format!(
            "variables.spec.?automountServiceAccountToken.orValue(true) != false ? [{}] : []",
            cel::finding(findings::token_mounted)
        ))),
        Check::Ownership { .. } => Err("it needs the namespace's ServiceOwnerships, which a GitOps sync may apply after the workload".into()),
    }
}

fn keys_check(
    noun: &str,
    map: &str,
    keys: &[(String, Option<(regex::Regex, String)>)],
) -> Result<String, String> {
    let mut parts = Vec::new();
    for (i, (name, pattern)) in keys.iter().enumerate() {
        let key = cel::string(name);
        let missing = cel::finding(|s| findings::missing_key(s, noun, name));
        let part = match pattern.as_ref().map(|(_, source)| source) {
            None => format!("(!({key} in {map}) ? [{missing}] : [])"),
            Some(p) => {
                re2::compatible(p)
                    .map_err(|why| format!("valuePattern of {noun} {i} `{p}`: {why}"))?;
                let value = format!("{map}[{key}]");
                format!(
                    "(!({key} in {map}) ? [{missing}] : !{value}.matches({}) ? [{}] : [])",
                    cel::string(p),
                    cel::finding(|s| findings::key_mismatch(s, noun, name, &value, p)),
                )
            }
        };
        parts.push(part);
    }
    Ok(parts.join(" + "))
}

fn images(
    allowed: &[String],
    forbid_latest: bool,
    require_digest: bool,
    forbidden: &[&str],
) -> String {
    let mut pieces = Vec::new();
    if !allowed.is_empty() {
        // Normalised by the engine when it compiled the rule.
        let prefixes = allowed;
        pieces.push(piece(
            &format!(
                "!{}.exists(p, variables.imgRepo[i] == p || variables.imgRepo[i].startsWith(p + \"/\"))",
                cel::strings(prefixes.iter().map(String::as_str))
            ),
            &cel::finding(|s| findings::registry_not_allowed(s, CONTAINER, SHOWN, prefixes)),
        ));
    }
    if forbid_latest {
        pieces.push(format!(
            "variables.imgTag[i] == \"latest\" ? {} : (variables.imgTag[i] == \"\" && variables.imgAt[i] < 0) ? {} : \"\"",
            cel::finding(|s| findings::latest_tag(s, CONTAINER, SHOWN)),
            cel::finding(|s| findings::untagged(s, CONTAINER, SHOWN)),
        ));
    }
    if require_digest {
        pieces.push(piece(
            "variables.imgAt[i] < 0",
            &cel::finding(|s| findings::no_digest(s, CONTAINER, SHOWN)),
        ));
    }
    if !forbidden.is_empty() {
        // The first pattern that matches names the finding, as in the engine.
        let mut chain = "\"\"".to_string();
        for p in forbidden.iter().rev() {
            let re = cel::string(p);
            chain = format!(
                "(variables.imgFull[i].matches({re}) || {SHOWN}.matches({re})) ? {} : {chain}",
                cel::finding(|s| findings::forbidden_image(s, CONTAINER, SHOWN, p))
            );
        }
        pieces.push(chain);
    }
    per_container(Roles::All, &pieces)
}

fn security_context(req: &SecurityContextCheck, own: &str) -> Findings {
    let mut pieces = Vec::new();
    let mut own_vars = Vec::new();
    let mut needs = Needs {
        security: true,
        ..Needs::default()
    };
    if req.run_as_non_root {
        pieces.push(format!(
            "variables.runAsUser[i] == 0 ? {} : (variables.runAsNonRoot[i] || variables.runAsUser[i] > 0) ? \"\" : {}",
            cel::finding(|s| findings::runs_as_root(s, CONTAINER)),
            cel::finding(|s| findings::may_run_as_root(s, CONTAINER)),
        ));
    }
    if req.read_only_root_filesystem {
        pieces.push(piece(
            "variables.cs[i].?securityContext.?readOnlyRootFilesystem.orValue(false) != true",
            &cel::finding(|s| findings::writable_root(s, CONTAINER)),
        ));
    }
    if req.disallow_privilege_escalation {
        pieces.push(piece(
            "variables.cs[i].?securityContext.?allowPrivilegeEscalation.orValue(true) != false",
            &cel::finding(|s| findings::privilege_escalation(s, CONTAINER)),
        ));
    }
    if req.disallow_privileged {
        pieces.push(piece(
            "variables.cs[i].?securityContext.?privileged.orValue(false) == true",
            &cel::finding(|s| findings::privileged(s, CONTAINER)),
        ));
    }
    if !req.drop_capabilities.is_empty() {
        needs.capabilities = true;
        let pairs: Vec<String> = req
            .drop_capabilities
            .iter()
            .map(|cap| {
                format!(
                    "[{}, {}]",
                    cel::string(cap),
                    cel::string(&normal_cap(cap).to_ascii_lowercase())
                )
            })
            .collect();
        // The capabilities each container fails to drop, as the rule names them.
        own_vars.push((
            format!("{own}missingCaps"),
            format!(
                "lists.range(size(variables.cs)).map(i, variables.dropsAll[i] ? [] : [{}].filter(p, !variables.drops[i].exists(d, d == p[1])).map(p, p[0]))",
                pairs.join(", ")
            ),
        ));
        let missing = format!("variables.{own}missingCaps[i]");
        pieces.push(format!(
            "size({missing}) == 0 ? \"\" : {}",
            cel::finding(|s| findings::capabilities_kept(
                s,
                CONTAINER,
                &format!("{missing}.join(\", \")"),
                &format!("size({missing}) == 1 ? \"it\" : \"them\""),
            ))
        ));
    }
    if req.require_seccomp_profile {
        pieces.push(format!(
            "variables.seccomp[i] in [\"RuntimeDefault\", \"Localhost\"] ? \"\" : {}",
            cel::finding(|s| findings::no_seccomp(
                s,
                CONTAINER,
                "variables.seccomp[i] == \"\" ? \"\" : \" (\" + variables.seccomp[i] + \")\"",
            ))
        ));
    }
    Findings {
        expression: per_container(Roles::All, &pieces),
        own: own_vars,
        needs,
        scope: Scope::Containers,
    }
}

fn probes(req: &ProbesCheck) -> String {
    let mut pieces = Vec::new();
    for (wanted, field, name) in [
        (req.liveness, "livenessProbe", "liveness"),
        (req.readiness, "readinessProbe", "readiness"),
        (req.startup, "startupProbe", "startup"),
    ] {
        if wanted {
            pieces.push(piece(
                &format!("!variables.cs[i].?{field}.hasValue()"),
                &cel::finding(|s| findings::no_probe(s, CONTAINER, name, field)),
            ));
        }
    }
    // Jobs and CronJobs run to completion: probes do not apply (as in the engine).
    format!(
        "variables.kind in {} ? [] : {}",
        kinds(WorkloadKind::runs_to_completion),
        per_container(Roles::LongRunning, &pieces)
    )
}

fn host_access(req: &HostAccessCheck) -> String {
    let mut parts = Vec::new();
    if req.forbid_host_namespaces {
        let pieces: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
            .iter()
            .map(|field| {
                piece(
                    &format!("variables.spec.?{field}.orValue(false) == true"),
                    &cel::finding(|s| findings::host_namespace(s, field)),
                )
            })
            .collect();
        parts.push(format!("[{}].filter(s, s != \"\")", pieces.join(", ")));
    }
    if req.forbid_host_path {
        parts.push(format!(
            "variables.spec.?volumes.orValue([]).filter(v, v.?hostPath.hasValue()).map(v, {})",
            cel::finding(|s| findings::host_path(s, "v.name", "v.hostPath.path"))
        ));
    }
    if req.forbid_host_ports {
        // With hostNetwork every container port is a host port (the API
        // server even writes it into a Pod's hostPort): the engine agrees.
        parts.push(format!(
            "lists.range(size(variables.cs)).filter(i, variables.roles[i] != {}).map(i, variables.cs[i].?ports.orValue([]).map(p, p.?hostPort.orValue(0) != 0 ? p.hostPort : variables.spec.?hostNetwork.orValue(false) ? p.containerPort : 0).filter(n, n != 0).map(n, {})).flatten()",
            cel::string(Role::Ephemeral.noun()),
            cel::finding(|s| findings::host_port(s, CONTAINER, "string(n)"))
        ));
    }
    parts.join(" + ")
}
