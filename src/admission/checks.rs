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
    engine::checks::{Check, normal_cap},
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
}

impl std::ops::BitOrAssign for Needs {
    fn bitor_assign(&mut self, other: Self) {
        self.images |= other.images;
        self.security |= other.security;
        self.capabilities |= other.capabilities;
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
    /// Variables of the rule's own, `(suffix, expression)`, named after the rule.
    pub own: Vec<(&'static str, String)>,
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
    fn filter(self) -> Option<&'static str> {
        match self {
            Roles::All => None,
            Roles::LongRunning => Some(
                "variables.roles[i] == \"container\" || variables.roles[i] == \"sidecar container\"",
            ),
            Roles::NotEphemeral => Some("variables.roles[i] != \"ephemeral container\""),
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

/// A message starting with the container's description, then literal text.
fn about_container(rest: &str) -> String {
    format!("variables.ds[i] + {}", cel::string(rest))
}

/// Translates the engine's compiled check of a rule, or says why it cannot
/// be checked at admission. The match has no catch-all: a new kind of check
/// does not compile until admission translates it or says why not.
pub fn translate(check: &Check) -> Result<Findings, String> {
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
            for (kind, names, field) in [("request", requests, "requests"), ("limit", limits, "limits")] {
                for name in names {
                    pieces.push(piece(
                        &format!(
                            "!({} in variables.cs[i].?resources.?{field}.orValue({{}}))",
                            cel::string(name)
                        ),
                        &about_container(&format!(" has no {name} {kind}: set resources.{field}.{name}")),
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
        Check::SecurityContext(s) => Ok(security_context(s)),
        Check::Probes(p) => Ok(containers(probes(p))),
        Check::Replicas(min) => {
            let replicas = "object.spec.?replicas.orValue(1)";
            Ok(plain(format!(
                "(variables.kind in {} && {replicas} < {min}) ? \
                 [\"runs \" + string({replicas}) + \" replica\" + ({replicas} == 1 ? \"\" : \"s\") + {}] : []",
                kinds(WorkloadKind::replicated),
                cel::string(&format!(
                    ", fewer than {min}: set spec.replicas to at least {min}"
                ))
            )))
        }
        Check::DisruptionBudget { .. } => Err("it needs the namespace's PodDisruptionBudgets, which a GitOps sync may apply after the workload".into()),
        // Pod scope: host ports are per container, but ephemeral containers
        // may have none, so a debug session adds nothing this rule reads.
        Check::HostAccess(h) => Ok(plain(host_access(h))),
        Check::ServiceAccountToken => Ok(plain(format!(
            "variables.spec.?automountServiceAccountToken.orValue(true) != false ? [{}] : []",
            cel::string(
                "the service account token is mounted automatically: set automountServiceAccountToken: false in the pod spec"
            )
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
        let missing = cel::string(&format!(
            "the {noun} `{name}` is missing: add it to metadata.{noun}s"
        ));
        let part = match pattern.as_ref().map(|(_, source)| source) {
            None => format!("(!({key} in {map}) ? [{missing}] : [])"),
            Some(p) => {
                re2::compatible(p)
                    .map_err(|why| format!("valuePattern of {noun} {i} `{p}`: {why}"))?;
                format!(
                    "(!({key} in {map}) ? [{missing}] : !{map}[{key}].matches({}) ? [{} + {map}[{key}] + {}] : [])",
                    cel::string(p),
                    cel::string(&format!("the {noun} `{name}` is `")),
                    cel::string(&format!("`, which does not match `{p}`: correct its value")),
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
    let shown = "variables.imgShown[i]";
    let mut pieces = Vec::new();
    if !allowed.is_empty() {
        // Normalised by the engine when it compiled the rule.
        let prefixes = allowed;
        pieces.push(piece(
            &format!(
                "!{}.exists(p, variables.imgRepo[i] == p || variables.imgRepo[i].startsWith(p + \"/\"))",
                cel::strings(prefixes.iter().map(String::as_str))
            ),
            &format!(
                "variables.ds[i] + \" uses `\" + {shown} + {}",
                cel::string(&format!(
                    "` from a registry that is not allowed: pull it from {}",
                    prefixes.join(" or ")
                ))
            ),
        ));
    }
    if forbid_latest {
        pieces.push(format!(
            "variables.imgTag[i] == \"latest\" ? variables.ds[i] + \" uses the `latest` tag (`\" + {shown} + \"`): pin a version tag\" \
             : (variables.imgTag[i] == \"\" && variables.imgAt[i] < 0) ? variables.ds[i] + \" uses `\" + {shown} + \"` without a tag, which means `latest`: pin a version tag\" : \"\""
        ));
    }
    if require_digest {
        pieces.push(piece(
            "variables.imgAt[i] < 0",
            &format!(
                "variables.ds[i] + \" uses `\" + {shown} + \"` without a digest: pin it as `\" + {shown} + \"@sha256:...`\""
            ),
        ));
    }
    if !forbidden.is_empty() {
        // The first pattern that matches names the finding, as in the engine.
        let mut chain = "\"\"".to_string();
        for p in forbidden.iter().rev() {
            let re = cel::string(p);
            chain = format!(
                "(variables.imgFull[i].matches({re}) || {shown}.matches({re})) ? variables.ds[i] + \" uses `\" + {shown} + {} : {chain}",
                cel::string(&format!("`, a forbidden image (matches `{p}`): replace it"))
            );
        }
        pieces.push(chain);
    }
    per_container(Roles::All, &pieces)
}

fn security_context(req: &SecurityContextCheck) -> Findings {
    let mut pieces = Vec::new();
    let mut own = Vec::new();
    let mut needs = Needs {
        security: true,
        ..Needs::default()
    };
    if req.run_as_non_root {
        pieces.push(format!(
            "variables.runAsUser[i] == 0 ? {} : (variables.runAsNonRoot[i] || variables.runAsUser[i] > 0) ? \"\" : {}",
            about_container(" runs as root (runAsUser: 0): set a non-zero runAsUser and runAsNonRoot: true"),
            about_container(" may run as root: set securityContext.runAsNonRoot: true (or a non-zero runAsUser)"),
        ));
    }
    if req.read_only_root_filesystem {
        pieces.push(piece(
            "variables.cs[i].?securityContext.?readOnlyRootFilesystem.orValue(false) != true",
            &about_container(
                " has a writable root filesystem: set securityContext.readOnlyRootFilesystem: true",
            ),
        ));
    }
    if req.disallow_privilege_escalation {
        pieces.push(piece(
            "variables.cs[i].?securityContext.?allowPrivilegeEscalation.orValue(true) != false",
            &about_container(
                " allows privilege escalation: set securityContext.allowPrivilegeEscalation: false",
            ),
        ));
    }
    if req.disallow_privileged {
        pieces.push(piece(
            "variables.cs[i].?securityContext.?privileged.orValue(false) == true",
            &about_container(" is privileged: remove securityContext.privileged"),
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
        own.push((
            "missingCaps",
            format!(
                "lists.range(size(variables.cs)).map(i, variables.dropsAll[i] ? [] : [{}].filter(p, !variables.drops[i].exists(d, d == p[1])).map(p, p[0]))",
                pairs.join(", ")
            ),
        ));
        pieces.push(
            "size(variables.OWN_missingCaps[i]) == 0 ? \"\" : variables.ds[i] + \" does not drop \" + variables.OWN_missingCaps[i].join(\", \") + \": add \" + (size(variables.OWN_missingCaps[i]) == 1 ? \"it\" : \"them\") + \" to securityContext.capabilities.drop\"".to_string(),
        );
    }
    if req.require_seccomp_profile {
        pieces.push(
            "variables.seccomp[i] in [\"RuntimeDefault\", \"Localhost\"] ? \"\" : variables.ds[i] + \" runs without a seccomp profile\" + (variables.seccomp[i] == \"\" ? \"\" : \" (\" + variables.seccomp[i] + \")\") + \": set securityContext.seccompProfile.type: RuntimeDefault\"".to_string(),
        );
    }
    Findings {
        expression: per_container(Roles::All, &pieces),
        own,
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
                &about_container(&format!(" has no {name} probe: add {field}")),
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
                    &cel::string(&format!(
                        "the pod uses the host's namespace ({field}: true): remove {field}"
                    )),
                )
            })
            .collect();
        parts.push(format!("[{}].filter(s, s != \"\")", pieces.join(", ")));
    }
    if req.forbid_host_path {
        parts.push(
            "variables.spec.?volumes.orValue([]).filter(v, v.?hostPath.hasValue()).map(v, \"the volume `\" + v.name + \"` mounts the host path `\" + v.hostPath.path + \"`: use a persistentVolumeClaim, configMap or emptyDir instead\")".to_string(),
        );
    }
    if req.forbid_host_ports {
        // With hostNetwork every container port is a host port (the API
        // server even writes it into a Pod's hostPort): the engine agrees.
        parts.push(
            "lists.range(size(variables.cs)).filter(i, variables.roles[i] != \"ephemeral container\").map(i, variables.cs[i].?ports.orValue([]).map(p, p.?hostPort.orValue(0) != 0 ? p.hostPort : variables.spec.?hostNetwork.orValue(false) ? p.containerPort : 0).filter(n, n != 0).map(n, variables.ds[i] + \" binds host port \" + string(n) + \": remove hostPort and expose it through a Service\")).flatten()".to_string(),
        );
    }
    parts.join(" + ")
}
