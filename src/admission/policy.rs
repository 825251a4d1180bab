//! An InfrastructureStandard as native ValidatingAdmissionPolicies and their
//! bindings: what to match, how to read the pod spec of each kind, every
//! expressible rule, the exceptions in effect, and the message a developer
//! reads. Pure: the controller only writes what this returns.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::{
    api::admissionregistration::v1::{
        MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
        ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
        ValidatingAdmissionPolicySpec, Validation, Variable,
    },
    apimachinery::pkg::apis::meta::v1::{
        LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference,
    },
};
use kube::{Resource, ResourceExt};

use super::{
    cel,
    checks::{self, Findings, Needs, Scope},
};
use crate::{
    api::{InfrastructureStandard, Severity, WorkloadKind, standard::Enforcement},
    engine::{cel::ROLES, containers::Role, judged},
};

/// The label on every object the operator generates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "plumbline");
/// The annotation naming the standard a policy enforces.
pub const STANDARD_ANNOTATION: &str = "plumbline.dev/standard";
/// The annotation with the generation of the standard a policy was made from.
pub const GENERATION_ANNOTATION: &str = "plumbline.dev/standard-generation";
/// Namespaces no generated policy ever matches.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// The namespaces no generated policy ever matches: the system ones and
/// `also_exempt` (the operator's own).
pub fn exempt_namespaces(also_exempt: &[String]) -> Vec<String> {
    SYSTEM_NAMESPACES
        .iter()
        .map(|s| s.to_string())
        .chain(also_exempt.iter().cloned())
        .collect()
}

/// Rules per policy. Each policy's evaluation has its own CEL cost budget;
/// see docs/operator.md for what was measured.
pub const RULES_PER_POLICY: usize = 50;

/// How generation is set up.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// More namespaces never matched besides `SYSTEM_NAMESPACES` (the operator's own).
    pub also_exempt: Vec<String>,
    /// CEL rules the API server refused, by standard and rule id, with its
    /// message: their standards' policies are generated without them (they
    /// are checked in the background only), so that the rest is enforced.
    pub cel_refused: BTreeMap<(String, String), String>,
}

/// A StandardException in effect at admission: valid, approved, not expired.
#[derive(Clone, Debug, PartialEq)]
pub struct Waiver {
    /// Its namespace (it covers workloads of that namespace only).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Workloads it names.
    pub names: Vec<(WorkloadKind, String)>,
    /// Workloads it selects by their labels.
    pub selector: Option<LabelSelector>,
    /// The rules it waives; all when `None`.
    pub rules: Option<Vec<String>>,
    /// When it stops applying.
    pub expires_at: Timestamp,
}

/// A rule that admission does not check, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotEnforced {
    /// The rule's id.
    pub rule: String,
    /// Why.
    pub reason: String,
}

/// What admission does with a standard.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    /// The standard's enforcement.
    pub enforcement: Enforcement,
    /// Whether the standard is invalid (then nothing is generated).
    pub invalid: bool,
    /// Whether the standard is retired (then nothing is generated).
    pub retired: bool,
    /// Rules checked at admission, in spec order.
    pub enforced: Vec<String>,
    /// Rules checked in the background only.
    pub background: Vec<NotEnforced>,
}

/// Policies and bindings for one standard, and what they cover.
#[derive(Clone, Debug)]
pub struct Generated {
    /// One binding per policy, of the same name.
    pub policies: Vec<(ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding)>,
    /// What admission checks of the standard.
    pub coverage: Coverage,
}

/// Generates the policies of `standard` with the exceptions in effect at
/// `now` (`waivers`: those of this standard; expired ones are left out).
/// `valid` is the engine's judgement of its spec: nothing is generated for
/// an invalid one.
pub fn generate(
    standard: &InfrastructureStandard,
    valid: bool,
    waivers: &[Waiver],
    options: &Options,
    now: Timestamp,
) -> Generated {
    let spec = &standard.spec;
    let invalid = !valid;
    let retired = spec.stage() == crate::api::standard::Stage::Retired;
    let mut coverage = Coverage {
        enforcement: spec.enforcement,
        invalid,
        retired,
        enforced: Vec::new(),
        background: Vec::new(),
    };
    // Nothing is generated, and the Enforced condition names no rules, for
    // an Audit, invalid or retired standard: its checks are not translated
    // (nor compiled again) on every pass.
    if invalid || retired || spec.enforcement == Enforcement::Audit {
        return Generated {
            policies: Vec::new(),
            coverage,
        };
    }
    let mut rules = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        // The engine's own compilation of the rule: admission translates
        // what the engine evaluates, not the raw spec. (A valid standard's
        // rules all compile; an invalid one generates nothing below.)
        let refused = options
            .cel_refused
            .get(&(standard.name_any(), rule.id.clone()))
            .filter(|_| rule.cel.is_some());
        let translated = match refused {
            Some(message) => Err(format!("the API server refused it: {message}")),
            None => crate::engine::checks::compile(rule, &format!("spec.rules[{i}]"))
                .map_err(|e| e.to_string())
                .and_then(|check| checks::translate(&check, &format!("own{i}_"))),
        };
        match translated {
            Ok(findings) => {
                coverage.enforced.push(rule.id.clone());
                rules.push((rule.id.as_str(), rule.severity, findings));
            }
            Err(reason) => coverage.background.push(NotEnforced {
                rule: rule.id.clone(),
                reason,
            }),
        }
    }
    if rules.is_empty() {
        return Generated {
            policies: Vec::new(),
            coverage,
        };
    }
    // Most severe first, then by id: the order of a report's deviations.
    rules.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let waivers: Vec<&Waiver> = waivers.iter().filter(|w| now < w.expires_at).collect();
    let chunks: Vec<_> = rules.chunks(RULES_PER_POLICY).collect();
    let policies = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let name = policy_name(&standard.name_any(), i);
            let policy = ValidatingAdmissionPolicy {
                metadata: metadata(standard, &name),
                spec: Some(policy_spec(standard, chunk, &waivers, options)),
                status: None,
            };
            let binding = ValidatingAdmissionPolicyBinding {
                metadata: metadata(standard, &name),
                spec: ValidatingAdmissionPolicyBindingSpec {
                    policy_name: name,
                    validation_actions: vec![
                        match spec.enforcement {
                            Enforcement::Warn => "Warn",
                            _ => "Deny",
                        }
                        .into(),
                    ],
                    match_resources: None,
                    param_ref: None,
                },
            };
            (policy, binding)
        })
        .collect();
    Generated { policies, coverage }
}

/// The ids of the CEL rules whose expressions an API server refusal of
/// `generated`'s policies names (`spec.variables[N]`, and the rule's own
/// variables are named `own<i>_`); empty when it names none of them.
pub fn refused_cel_rules(
    standard: &InfrastructureStandard,
    generated: &Generated,
    message: &str,
) -> Vec<String> {
    let mut indexes = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find("spec.variables[") {
        rest = &rest[at + "spec.variables[".len()..];
        if let Some(n) = rest.split(']').next().and_then(|n| n.parse::<usize>().ok()) {
            indexes.push(n);
        }
    }
    let mut ids = Vec::new();
    for (policy, _) in &generated.policies {
        if !message.contains(&format!("\"{}\"", policy.name_any())) {
            continue;
        }
        let variables = policy
            .spec
            .as_ref()
            .and_then(|s| s.variables.as_deref())
            .unwrap_or_default();
        for &n in &indexes {
            let Some(v) = variables.get(n) else { continue };
            let Some(i) = v
                .name
                .strip_prefix("own")
                .and_then(|r| r.split('_').next())
                .and_then(|i| i.parse::<usize>().ok())
            else {
                continue;
            };
            if let Some(rule) = standard.spec.rules.get(i).filter(|r| r.cel.is_some())
                && !ids.contains(&rule.id)
            {
                ids.push(rule.id.clone());
            }
        }
    }
    ids
}

/// `plumbline-<standard>`, then `-2`, `-3` for further parts; a long
/// standard name is shortened so that the name stays valid and unique.
pub fn policy_name(standard: &str, part: usize) -> String {
    let suffix = if part == 0 {
        String::new()
    } else {
        format!("-{}", part + 1)
    };
    let base = crate::names::shorten(
        &format!("plumbline-{standard}"),
        crate::names::MAX_NAME - suffix.len(),
    );
    format!("{base}{suffix}")
}

fn metadata(standard: &InfrastructureStandard, name: &str) -> ObjectMeta {
    let std_name = standard.name_any();
    let mut labels = BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]);
    // Labels too, so that `kubectl get validatingadmissionpolicies -L
    // plumbline.dev/standard,plumbline.dev/standard-generation` shows them
    // (a name too long for a label value is in the annotation only).
    if is_label_value(&std_name) {
        labels.insert(STANDARD_ANNOTATION.into(), std_name.clone());
    }
    labels.insert(
        GENERATION_ANNOTATION.into(),
        standard.metadata.generation.unwrap_or_default().to_string(),
    );
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([
            (STANDARD_ANNOTATION.to_string(), std_name.clone()),
            (
                GENERATION_ANNOTATION.to_string(),
                standard.metadata.generation.unwrap_or_default().to_string(),
            ),
        ])),
        owner_references: Some(vec![OwnerReference {
            api_version: InfrastructureStandard::api_version(&()).into(),
            kind: InfrastructureStandard::kind(&()).into(),
            name: std_name,
            uid: standard.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }]),
        ..Default::default()
    }
}

/// Whether `s` can be a label value (and so a namespace name in a selector).
fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

fn var(name: &str, expression: impl Into<String>) -> Variable {
    Variable {
        name: name.into(),
        expression: expression.into(),
    }
}

/// The pod template changed: a rollout, judged whole.
const TEMPLATE_CHANGED: &str = "(request.kind.kind == \"Pod\" ? object.spec != oldObject.spec \
    : request.kind.kind == \"CronJob\" ? object.spec.jobTemplate != oldObject.spec.jobTemplate \
    : object.spec.template != oldObject.spec.template)";

/// A debug session adding ephemeral containers to a running Pod.
const DEBUG: &str = "(has(request.subResource) && request.subResource == \"ephemeralcontainers\")";

/// The policy's variables every rule may read, in dependency order.
fn shared_variables(needs: Needs, selector: Option<&LabelSelector>) -> Vec<Variable> {
    // An object that enters the standard's selector by a label change is
    // judged as if it were new.
    let entering = selector
        .and_then(|sel| cel::selector(sel, "oldObject.metadata.?labels.orValue({})"))
        .map(|old| format!(" || (request.operation == \"UPDATE\" && !({old}))"))
        .unwrap_or_default();
    let mut v = vec![
        var("kind", "request.kind.kind"),
        var("debug", DEBUG),
        // Each kind keeps its pod spec at its own path.
        var(
            "spec",
            "variables.kind == \"Pod\" ? object.spec : variables.kind == \"CronJob\" \
             ? object.spec.jobTemplate.?spec.?template.?spec.orValue({}) : object.spec.?template.?spec.orValue({})",
        ),
        var("labels", "object.metadata.?labels.orValue({})"),
        var("annotations", "object.metadata.?annotations.orValue({})"),
        // Judged whole: a new object, a new pod template, or one entering the selector.
        var(
            "whole",
            format!(
                "!variables.debug && (request.operation == \"CREATE\" || {TEMPLATE_CHANGED}{entering})"
            ),
        ),
        // The containers a debug session adds (existing ones cannot change).
        var(
            "newEphemeral",
            "variables.spec.?ephemeralContainers.orValue([]).filter(c, \
             !oldObject.spec.?ephemeralContainers.orValue([]).exists(o, o.name == c.name))",
        ),
        // Every container, regular, then init and sidecar, then ephemeral, as
        // the engine lists them; in a debug session only the added ones.
        var(
            "cs",
            "variables.debug ? variables.newEphemeral : variables.spec.?containers.orValue([]) \
             + variables.spec.?initContainers.orValue([]) + variables.spec.?ephemeralContainers.orValue([])",
        ),
        var(
            "roles",
            format!(
                "variables.debug ? variables.newEphemeral.map(c, {ephemeral}) \
                 : variables.spec.?containers.orValue([]).map(c, {regular}) \
                 + variables.spec.?initContainers.orValue([]).map(c, c.?restartPolicy.orValue(\"\") == \"Always\" ? {sidecar} : {init}) \
                 + variables.spec.?ephemeralContainers.orValue([]).map(c, {ephemeral})",
                ephemeral = cel::string(Role::Ephemeral.noun()),
                regular = cel::string(Role::Regular.noun()),
                sidecar = cel::string(Role::Sidecar.noun()),
                init = cel::string(Role::Init.noun()),
            ),
        ),
        var(
            "ds",
            "lists.range(size(variables.cs)).map(i, variables.roles[i] + \" `\" + variables.cs[i].name + \"`\")",
        ),
    ];
    if needs.cel {
        // What CEL rules see, built as `engine::cel::Activation` builds it.
        v.extend([
            var("podSpec", "variables.spec"),
            var(
                "podMetadata",
                "variables.kind == \"Pod\" ? object.metadata : variables.kind == \"CronJob\" \
                 ? object.spec.jobTemplate.?spec.?template.?metadata.orValue({}) : object.spec.?template.?metadata.orValue({})",
            ),
            var(
                "containers",
                "variables.spec.?containers.orValue([]) + variables.spec.?initContainers.orValue([]) \
                 + variables.spec.?ephemeralContainers.orValue([])",
            ),
            var(
                "containerRoles",
                format!(
                    "variables.spec.?containers.orValue([]).map(c, {regular}) \
                     + variables.spec.?initContainers.orValue([]).map(c, c.?restartPolicy.orValue(\"\") == \"Always\" ? {sidecar} : {init}) \
                     + variables.spec.?ephemeralContainers.orValue([]).map(c, {ephemeral})",
                    regular = cel::string(ROLES[0]),
                    init = cel::string(ROLES[1]),
                    sidecar = cel::string(ROLES[2]),
                    ephemeral = cel::string(ROLES[3]),
                ),
            ),
        ]);
    }
    if needs.security {
        v.extend([
            var(
                "runAsUser",
                "variables.cs.map(c, c.?securityContext.?runAsUser.orValue(variables.spec.?securityContext.?runAsUser.orValue(-1)))",
            ),
            var(
                "runAsNonRoot",
                "variables.cs.map(c, c.?securityContext.?runAsNonRoot.orValue(variables.spec.?securityContext.?runAsNonRoot.orValue(false)))",
            ),
            var(
                "seccomp",
                "variables.cs.map(c, c.?securityContext.?seccompProfile.?type.orValue(variables.spec.?securityContext.?seccompProfile.?type.orValue(\"\")))",
            ),
        ]);
    }
    if needs.capabilities {
        v.extend([
            var(
                "dropsAll",
                "variables.cs.map(c, c.?securityContext.?capabilities.?drop.orValue([]).exists(d, d.lowerAscii() == \"all\"))",
            ),
            var(
                "drops",
                "variables.cs.map(c, c.?securityContext.?capabilities.?drop.orValue([]).map(d, ((d.startsWith(\"CAP_\") || d.startsWith(\"cap_\")) ? d.substring(4) : d).lowerAscii()))",
            ),
        ]);
    }
    if needs.images {
        // An image reference parsed as the engine's ImageRef::parse does,
        // one list per step, indexed like the containers.
        v.extend([
            var("imgShown", "variables.cs.map(c, c.?image.orValue(\"\"))"),
            var("imgRef", "variables.imgShown.map(r, r.trim())"),
            var("imgAt", "variables.imgRef.map(r, r.indexOf(\"@\"))"),
            var(
                "imgRest",
                "lists.range(size(variables.cs)).map(i, variables.imgAt[i] >= 0 ? variables.imgRef[i].substring(0, variables.imgAt[i]) : variables.imgRef[i])",
            ),
            var(
                "imgDigest",
                "lists.range(size(variables.cs)).map(i, variables.imgAt[i] >= 0 ? variables.imgRef[i].substring(variables.imgAt[i] + 1) : \"\")",
            ),
            var("imgSeg", "variables.imgRest.map(r, r.lastIndexOf(\"/\") + 1)"),
            var(
                "imgColon",
                "lists.range(size(variables.cs)).map(i, variables.imgRest[i].substring(variables.imgSeg[i]).lastIndexOf(\":\"))",
            ),
            var(
                "imgName",
                "lists.range(size(variables.cs)).map(i, variables.imgColon[i] >= 0 ? variables.imgRest[i].substring(0, variables.imgSeg[i] + variables.imgColon[i]) : variables.imgRest[i])",
            ),
            var(
                "imgTag",
                "lists.range(size(variables.cs)).map(i, variables.imgColon[i] >= 0 ? variables.imgRest[i].substring(variables.imgSeg[i] + variables.imgColon[i] + 1) : \"\")",
            ),
            var("imgSlash", "variables.imgName.map(n, n.indexOf(\"/\"))"),
            var(
                "imgFirst",
                "lists.range(size(variables.cs)).map(i, variables.imgSlash[i] >= 0 ? variables.imgName[i].substring(0, variables.imgSlash[i]) : \"\")",
            ),
            var(
                "imgIsReg",
                "lists.range(size(variables.cs)).map(i, variables.imgSlash[i] >= 0 && (variables.imgFirst[i].contains(\".\") || variables.imgFirst[i].contains(\":\") || variables.imgFirst[i] == \"localhost\"))",
            ),
            var(
                "imgRegistry",
                "lists.range(size(variables.cs)).map(i, !variables.imgIsReg[i] ? \"docker.io\" : variables.imgFirst[i] in [\"index.docker.io\", \"registry-1.docker.io\", \"registry.hub.docker.com\"] ? \"docker.io\" : variables.imgFirst[i].lowerAscii())",
            ),
            var(
                "imgPath",
                "lists.range(size(variables.cs)).map(i, variables.imgIsReg[i] ? variables.imgName[i].substring(variables.imgSlash[i] + 1) : variables.imgName[i])",
            ),
            var(
                "imgRepo",
                "lists.range(size(variables.cs)).map(i, variables.imgRegistry[i] + \"/\" + ((variables.imgRegistry[i] == \"docker.io\" && !variables.imgPath[i].contains(\"/\")) ? \"library/\" + variables.imgPath[i] : variables.imgPath[i]))",
            ),
            var(
                "imgFull",
                "lists.range(size(variables.cs)).map(i, variables.imgRepo[i] + (variables.imgTag[i] != \"\" ? \":\" + variables.imgTag[i] : \"\") + (variables.imgAt[i] >= 0 ? \"@\" + variables.imgDigest[i] : \"\"))",
            ),
        ]);
    }
    v
}

/// Whether a waiver takes effect for this request: it selects the object and
/// has not expired by the API server's own clock, which it leaves in the
/// object before validating admission runs: `creationTimestamp` on CREATE,
/// and on UPDATE the time of the `managedFields` entry of whoever changes it
/// (stamped on every change, whatever the client sends). An UPDATE that
/// arrives with no managed fields, or an entry without a time (a client can
/// reset them by sending `managedFields: [{}]`), is not waived: fail closed
/// rather than let an expired exception through.
fn waiver_expression(w: &Waiver) -> Option<String> {
    let mut selects: Vec<String> = w
        .names
        .iter()
        .map(|(kind, name)| {
            format!(
                "(variables.kind == {} && object.metadata.name == {})",
                cel::string(kind.as_str()),
                cel::string(name)
            )
        })
        .collect();
    if let Some(sel) = &w.selector {
        selects.push(format!("({})", cel::selector(sel, "variables.labels")?));
    }
    if selects.is_empty() {
        return None;
    }
    Some(format!(
        "request.namespace == {ns} && ({selects}) && (request.operation == \"CREATE\" \
         ? (object.metadata.?creationTimestamp.hasValue() && timestamp(object.metadata.creationTimestamp) < timestamp({exp})) \
         : (size(object.metadata.?managedFields.orValue([])) > 0 \
            && object.metadata.?managedFields.orValue([]).all(m, m.?time.hasValue() && timestamp(m.time) < timestamp({exp}))))",
        ns = cel::string(&w.namespace),
        selects = selects.join(" || "),
        exp = cel::string(&w.expires_at.to_string())
    ))
}

fn policy_spec(
    standard: &InfrastructureStandard,
    rules: &[(&str, Severity, Findings)],
    waivers: &[&Waiver],
    options: &Options,
) -> ValidatingAdmissionPolicySpec {
    let spec = &standard.spec;
    let std_name = standard.name_any();
    let mut needs = Needs::default();
    for (_, _, f) in rules {
        needs |= f.needs;
    }
    let mut variables = shared_variables(needs, spec.match_.selector.as_ref());
    // The exceptions, each once: whether it lets this object through.
    let mut in_effect = Vec::new();
    for (j, w) in waivers.iter().enumerate() {
        if let Some(expr) = waiver_expression(w) {
            variables.push(var(&format!("exception{j}"), expr));
            in_effect.push((j, *w));
        }
    }
    let mut failed = Vec::new();
    let mut failed_ids = Vec::new();
    let mut warn = Vec::new();
    for (n, (id, severity, findings)) in rules.iter().enumerate() {
        let name = format!("rule{n}");
        for (own, expr) in &findings.own {
            variables.push(var(own, expr.clone()));
        }
        let expression = &findings.expression;
        // What this request is judged on (see `checks::Scope`): a workload
        // that already runs is refused only for what the change brings.
        let judged = match &findings.scope {
            Scope::Metadata { old } => {
                variables.push(var(&format!("{name}_now"), expression));
                variables.push(var(&format!("{name}_before"), old.clone()));
                format!(
                    "variables.whole ? variables.{name}_now \
                     : variables.{name}_now.filter(f, !(f in variables.{name}_before))"
                )
            }
            Scope::Pod => format!("variables.whole ? ({expression}) : []"),
            Scope::Containers => {
                format!("(variables.whole || variables.debug) ? ({expression}) : []")
            }
        };
        variables.push(var(&name, judged));
        let covering: Vec<String> = in_effect
            .iter()
            .filter(|(_, w)| w.rules.as_ref().is_none_or(|r| r.iter().any(|x| x == id)))
            .map(|(j, _)| format!("variables.exception{j}"))
            .collect();
        let waived = if covering.is_empty() {
            "false".to_string()
        } else {
            covering.join(" || ")
        };
        let fails = format!("(size(variables.{name}) > 0 && !({waived}))");
        failed.push(format!(
            "({fails} ? [{} + variables.{name}.join(\"; \")] : [])",
            cel::string(&format!("[{severity}] {id}: "))
        ));
        failed_ids.push(format!("({fails} ? [{}] : [])", cel::string(id)));
        warn.push((name, *id, *severity, fails));
    }
    variables.push(var("failed", failed.join(" + ")));
    variables.push(var("failedIds", failed_ids.join(" + ")));

    let subject = "variables.kind + \" \" + request.namespace + \"/\" + object.metadata.name";
    let ask = if spec.exception_policy.allowed {
        format!(
            "; to be excused, ask an approver for a StandardException in namespace \" + request.namespace + \" naming standard {std_name} and rules \" + variables.failedIds.join(\", \") + \" (kubectl explain standardexception)"
        )
    } else {
        "; this standard allows no exceptions".to_string()
    };
    let validations = match spec.enforcement {
        Enforcement::Warn => warn
            .into_iter()
            .map(|(name, id, severity, fails)| Validation {
                expression: format!("!{fails}"),
                message: Some(format!(
                    "plumbline: does not meet rule {id} of InfrastructureStandard {std_name}; see the workload's ComplianceReport"
                )),
                // The API server cuts a warning at 256 characters, its own
                // prefix included: the rule and the first finding come first.
                message_expression: Some(capped(&format!(
                    "{} + variables.{name}.join(\"; \")",
                    cel::string(&format!("[{severity}] {id} ({std_name}): "))
                ))),
                reason: Some("Forbidden".into()),
            })
            .collect(),
        _ => vec![Validation {
            expression: "size(variables.failed) == 0".into(),
            message: Some(format!(
                "plumbline: refused by InfrastructureStandard {std_name}; see the rules in its spec and the workload's ComplianceReport"
            )),
            message_expression: Some(capped(&format!(
                "\"plumbline: \" + {subject} + {} + variables.failed.join(\" | \") + \"{ask}\"",
                cel::string(&format!(" violates InfrastructureStandard {std_name}: "))
            ))),
            reason: Some("Forbidden".into()),
        }],
    };

    ValidatingAdmissionPolicySpec {
        failure_policy: Some("Fail".into()),
        match_constraints: Some(match_constraints(standard, options)),
        match_conditions: Some(match_conditions(spec.match_.selector.as_ref())),
        variables: Some(variables),
        validations: Some(validations),
        audit_annotations: None,
        param_kind: None,
    }
}

/// A message expression whose result stays under the API server's 5 KiB
/// limit (a longer one would be replaced by the static message).
fn capped(expression: &str) -> String {
    format!(
        "bytes({expression}).size() <= 4096 ? {expression} : ({expression}).substring(0, 1000) + \" … (more in the ComplianceReport)\""
    )
}

fn match_constraints(standard: &InfrastructureStandard, options: &Options) -> MatchResources {
    let m = &standard.spec.match_;
    let kinds: Vec<WorkloadKind> = if m.kinds.is_empty() {
        WorkloadKind::ALL.to_vec()
    } else {
        WorkloadKind::ALL
            .into_iter()
            .filter(|k| m.kinds.contains(k))
            .collect()
    };
    let mut groups: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for kind in kinds {
        let version = kind
            .api_version()
            .rsplit_once('/')
            .map_or(kind.api_version(), |(_, v)| v);
        let resources = groups.entry((kind.group(), version)).or_default();
        resources.push(kind.resource().to_string());
        if kind == WorkloadKind::Pod {
            // Debug sessions: the containers they add are judged.
            resources.push("pods/ephemeralcontainers".into());
        }
    }
    let resource_rules = groups
        .into_iter()
        .map(|((group, version), resources)| NamedRuleWithOperations {
            api_groups: Some(vec![group.into()]),
            api_versions: Some(vec![version.into()]),
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            resources: Some(resources),
            resource_names: None,
            scope: Some("*".into()),
        })
        .collect();
    let mut exempt = exempt_namespaces(&options.also_exempt);
    // A name that cannot be a label value cannot name a namespace either.
    exempt.extend(
        m.excluded_namespaces
            .iter()
            .filter(|n| is_label_value(n))
            .cloned(),
    );
    exempt.sort();
    exempt.dedup();
    let mut namespaces = m.namespace_selector.clone().unwrap_or_default();
    namespaces
        .match_expressions
        .get_or_insert_with(Vec::new)
        .push(LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".into(),
            operator: "NotIn".into(),
            values: Some(exempt),
        });
    MatchResources {
        // Written with the API server's defaults, so that what it stores
        // equals what is generated and a steady cluster causes no writes.
        match_policy: Some("Equivalent".into()),
        namespace_selector: Some(namespaces),
        object_selector: Some(LabelSelector::default()),
        resource_rules: Some(resource_rules),
        exclude_resource_rules: None,
    }
}

/// True unless the request is a judged owner's controller writing what it
/// makes (a Deployment's ReplicaSet, a ReplicaSet's Pods, ...): that was
/// judged through its owner. Only the exact controller identity paired with
/// the owner kind it manages is believed, so an ownerReference anyone can
/// write, or another controller's identity, gets nothing past a standard.
fn not_made_by_a_judged_owner() -> String {
    let made: Vec<String> = judged::PRODUCTS
        .iter()
        .map(|p| {
            let group = p.owner.group();
            let api = if group.is_empty() {
                "r.apiVersion == \"v1\"".to_string()
            } else {
                format!("r.apiVersion.startsWith({})", cel::string(&format!("{group}/")))
            };
            let who = p.identities();
            format!(
                "(request.kind.kind == {} && r.kind == {} && {api} && request.userInfo.username in {})",
                cel::string(p.kind.as_str()),
                cel::string(p.owner.as_str()),
                cel::strings(who.iter().map(String::as_str))
            )
        })
        .collect();
    format!(
        "!object.metadata.?ownerReferences.orValue([]).exists(r, r.?controller.orValue(false) && ({}))",
        made.join(" || ")
    )
}

fn match_conditions(selector: Option<&LabelSelector>) -> Vec<MatchCondition> {
    let mut conditions = vec![
        MatchCondition {
            name: "not-made-by-a-judged-owner".into(),
            expression: not_made_by_a_judged_owner(),
        },
        // What already runs keeps running: scaling, finalizer removal and
        // status writes are admitted. A new object, a new pod template, a
        // debug session, and a label or annotation change are judged (the
        // last two only on what they change: see `shared_variables`).
        MatchCondition {
            name: "judged-change".into(),
            expression: format!(
                "request.operation == \"CREATE\" || {DEBUG} || {TEMPLATE_CHANGED} \
                 || object.metadata.?labels.orValue({{}}) != oldObject.metadata.?labels.orValue({{}}) \
                 || object.metadata.?annotations.orValue({{}}) != oldObject.metadata.?annotations.orValue({{}})"
            ),
        },
    ];
    if let Some(sel) = selector
        && let Some(expr) = cel::selector(sel, "object.metadata.?labels.orValue({})")
    {
        // The workload's own labels, as the engine reads them (an
        // objectSelector would also match on the old object's labels).
        conditions.push(MatchCondition {
            name: "standard-selector".into(),
            expression: expr,
        });
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard(enforcement: &str, rules: serde_json::Value) -> InfrastructureStandard {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
            "metadata": {"name": "std", "uid": "u-1", "generation": 7},
            "spec": {"enforcement": enforcement, "rules": rules,
                     "match": {"kinds": ["Deployment", "Pod"], "excludedNamespaces": ["legacy", "Not A Name"],
                               "selector": {"matchLabels": {"tier": "web"}}}}
        }))
        .expect("a standard")
    }

    fn rule(id: &str, check: serde_json::Value) -> serde_json::Value {
        let mut r = serde_json::json!({"id": id, "severity": "High", "description": "d"});
        for (k, v) in check.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    }

    /// `generate`, with the engine judging the spec as the operator's evaluation does.
    fn generate(
        s: &InfrastructureStandard,
        waivers: &[Waiver],
        options: &Options,
        now: Timestamp,
    ) -> Generated {
        let valid = crate::engine::standard::CompiledStandard::new(s)
            .compiled
            .is_ok();
        super::generate(s, valid, waivers, options, now)
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn waiver(rules: Option<Vec<&str>>, expires: &str) -> Waiver {
        Waiver {
            namespace: "shop".into(),
            name: "w".into(),
            names: vec![(WorkloadKind::Deployment, "cart".into())],
            selector: None,
            rules: rules.map(|r| r.into_iter().map(String::from).collect()),
            expires_at: at(expires),
        }
    }

    fn spec(g: &Generated, i: usize) -> &ValidatingAdmissionPolicySpec {
        g.policies[i].0.spec.as_ref().unwrap()
    }

    fn variable<'a>(s: &'a ValidatingAdmissionPolicySpec, name: &str) -> &'a str {
        &s.variables
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == name)
            .unwrap()
            .expression
    }

    const NOW: &str = "2027-01-01T00:00:00Z";

    #[test]
    fn audit_and_invalid_standards_generate_nothing() {
        let rules =
            serde_json::json!([rule("tok", serde_json::json!({"serviceAccountToken": {}}))]);
        let g = generate(&standard("Audit", rules), &[], &Options::default(), at(NOW));
        assert!(g.policies.is_empty());
        assert_eq!(g.coverage.enforcement, Enforcement::Audit);
        let bad = serde_json::json!([rule(
            "l",
            serde_json::json!({"requiredLabels": [{"key": "a", "valuePattern": "("}]})
        )]);
        let g = generate(&standard("Enforce", bad), &[], &Options::default(), at(NOW));
        assert!(g.policies.is_empty());
        assert!(g.coverage.invalid);
    }

    #[test]
    fn enforce_denies_once_and_warn_warns_per_rule() {
        let rules = serde_json::json!([
            rule("tok", serde_json::json!({"serviceAccountToken": {}})),
            rule("reps", serde_json::json!({"replicas": {"minimum": 2}})),
        ]);
        let g = generate(
            &standard("Enforce", rules.clone()),
            &[],
            &Options::default(),
            at(NOW),
        );
        let (policy, binding) = &g.policies[0];
        assert_eq!(policy.metadata.name.as_deref(), Some("plumbline-std"));
        assert_eq!(binding.spec.policy_name, "plumbline-std");
        assert_eq!(binding.spec.validation_actions, ["Deny"]);
        assert_eq!(spec(&g, 0).validations.as_ref().unwrap().len(), 1);
        assert_eq!(spec(&g, 0).failure_policy.as_deref(), Some("Fail"));
        let meta = &policy.metadata;
        assert_eq!(
            meta.annotations.as_ref().unwrap()[GENERATION_ANNOTATION],
            "7"
        );
        assert_eq!(
            meta.annotations.as_ref().unwrap()[STANDARD_ANNOTATION],
            "std"
        );
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("InfrastructureStandard", "u-1", Some(true))
        );
        let g = generate(&standard("Warn", rules), &[], &Options::default(), at(NOW));
        assert_eq!(g.policies[0].1.spec.validation_actions, ["Warn"]);
        assert_eq!(spec(&g, 0).validations.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn rules_needing_other_objects_or_rust_only_patterns_stay_in_the_background() {
        let rules = serde_json::json!([
            rule("pdb", serde_json::json!({"podDisruptionBudget": {}})),
            rule("own", serde_json::json!({"ownership": {}})),
            rule(
                "img",
                serde_json::json!({"images": {"forbidden": ["(?x) debug"]}})
            ),
            rule("tok", serde_json::json!({"serviceAccountToken": {}})),
        ]);
        let g = generate(
            &standard("Enforce", rules),
            &[],
            &Options::default(),
            at(NOW),
        );
        assert_eq!(g.coverage.enforced, ["tok"]);
        let background: Vec<&str> = g
            .coverage
            .background
            .iter()
            .map(|n| n.rule.as_str())
            .collect();
        assert_eq!(background, ["pdb", "own", "img"]);
        assert!(g.coverage.background[2].reason.contains("flag x"));
        assert_eq!(g.policies.len(), 1);
        let only_background =
            serde_json::json!([rule("pdb", serde_json::json!({"podDisruptionBudget": {}}))]);
        let g = generate(
            &standard("Enforce", only_background),
            &[],
            &Options::default(),
            at(NOW),
        );
        assert!(g.policies.is_empty(), "no policy that checks nothing");
    }

    #[test]
    fn system_and_excluded_namespaces_and_kinds_are_never_matched() {
        let rules =
            serde_json::json!([rule("tok", serde_json::json!({"serviceAccountToken": {}}))]);
        let options = Options {
            also_exempt: vec!["plumbline-system".into()],
            ..Default::default()
        };
        let g = generate(&standard("Enforce", rules), &[], &options, at(NOW));
        let m = spec(&g, 0).match_constraints.as_ref().unwrap();
        let expr = &m
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0];
        assert_eq!(expr.operator, "NotIn");
        assert_eq!(
            expr.values.as_deref().unwrap(),
            [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "legacy",
                "plumbline-system"
            ]
        );
        let resources: Vec<String> = m
            .resource_rules
            .as_ref()
            .unwrap()
            .iter()
            .flat_map(|r| r.resources.clone().unwrap())
            .collect();
        assert_eq!(
            resources,
            ["pods", "pods/ephemeralcontainers", "deployments"]
        );
        let conditions: Vec<&str> = spec(&g, 0)
            .match_conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            conditions,
            [
                "not-made-by-a-judged-owner",
                "judged-change",
                "standard-selector"
            ]
        );
    }

    #[test]
    fn exceptions_in_force_waive_their_rules_until_they_expire() {
        let rules = serde_json::json!([
            rule("tok", serde_json::json!({"serviceAccountToken": {}})),
            rule("reps", serde_json::json!({"replicas": {"minimum": 2}})),
        ]);
        let s = standard("Enforce", rules);
        let waivers = [
            waiver(Some(vec!["reps"]), "2027-02-01T00:00:00Z"),
            waiver(None, NOW),
        ];
        let g = generate(&s, &waivers, &Options::default(), at(NOW));
        let sp = spec(&g, 0);
        let e = variable(sp, "exception0");
        assert!(e.contains(r#"request.namespace == "shop""#), "{e}");
        assert!(e.contains(r#"object.metadata.name == "cart""#), "{e}");
        assert!(e.contains(r#"timestamp(object.metadata.creationTimestamp) < timestamp("2027-02-01T00:00:00Z")"#), "{e}");
        assert!(
            e.contains(r#"timestamp(m.time) < timestamp("2027-02-01T00:00:00Z")"#),
            "{e}"
        );
        assert!(
            sp.variables
                .as_ref()
                .unwrap()
                .iter()
                .all(|v| v.name != "exception1"),
            "an expired waiver is left out"
        );
        let failed = variable(sp, "failed");
        // High severity both; by id: reps (rule0, waived), tok (rule1, not).
        assert!(
            failed.contains("size(variables.rule0) > 0 && !(variables.exception0)"),
            "{failed}"
        );
        assert!(
            failed.contains("size(variables.rule1) > 0 && !(false)"),
            "{failed}"
        );
    }

    #[test]
    fn large_standards_are_split_and_long_names_shortened() {
        let rules: Vec<serde_json::Value> = (0..120)
            .map(|i| {
                rule(
                    &format!("r{i}"),
                    serde_json::json!({"requiredLabels": [{"key": format!("k{i}")}]}),
                )
            })
            .collect();
        let g = generate(
            &standard("Enforce", serde_json::json!(rules)),
            &[],
            &Options::default(),
            at(NOW),
        );
        let names: Vec<&str> = g
            .policies
            .iter()
            .map(|(p, _)| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(
            names,
            ["plumbline-std", "plumbline-std-2", "plumbline-std-3"]
        );
        let long = "s".repeat(253);
        assert!(policy_name(&long, 0).len() <= 253);
        assert!(policy_name(&long, 2).ends_with("-3"));
        assert_ne!(policy_name(&long, 0), policy_name(&format!("{long}x"), 0));
    }

    /// Every CEL expression of a generated policy, by where it is.
    fn expressions(g: &Generated) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (policy, _) in &g.policies {
            let s = policy.spec.as_ref().unwrap();
            for c in s.match_conditions.iter().flatten() {
                out.push((format!("matchCondition {}", c.name), c.expression.clone()));
            }
            for v in s.variables.iter().flatten() {
                out.push((format!("variable {}", v.name), v.expression.clone()));
            }
            for (i, v) in s.validations.iter().flatten().enumerate() {
                out.push((format!("validation {i}"), v.expression.clone()));
                if let Some(m) = &v.message_expression {
                    out.push((format!("messageExpression {i}"), m.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn refused_cel_rules_leave_the_rest_enforced() {
        let rules = serde_json::json!([
            rule("tok", serde_json::json!({"serviceAccountToken": {}})),
            rule(
                "custom",
                serde_json::json!({"cel": {"expression": "object.spec.replicas > 1"}})
            ),
        ]);
        let s = standard("Enforce", rules);
        let all = generate(&s, &[], &Options::default(), at(NOW));
        assert_eq!(all.coverage.enforced, ["tok", "custom"]);
        let options = Options {
            cel_refused: [(
                ("std".to_string(), "custom".to_string()),
                "a type error".to_string(),
            )]
            .into(),
            ..Default::default()
        };
        let without = generate(&s, &[], &options, at(NOW));
        assert_eq!(without.coverage.enforced, ["tok"]);
        assert_eq!(
            without.coverage.background,
            [NotEnforced {
                rule: "custom".into(),
                reason: "the API server refused it: a type error".into()
            }]
        );
        assert!(
            !expressions(&without)
                .iter()
                .any(|(_, e)| e.contains("replicas > 1"))
        );
    }

    #[test]
    fn every_generated_expression_parses() {
        // Every check kind, with a selector and an exception of each shape.
        let rules = serde_json::json!([
            rule(
                "l",
                serde_json::json!({"requiredLabels": [{"key": "team", "valuePattern": "^[a-z]+$"}]})
            ),
            rule(
                "a",
                serde_json::json!({"requiredAnnotations": [{"key": "owner"}]})
            ),
            rule(
                "res",
                serde_json::json!({"resources": {"requests": ["cpu"], "limits": ["memory"]}})
            ),
            rule(
                "img",
                serde_json::json!({"images": {"allowedRegistries": ["registry.example.com"], "forbidLatestTag": true, "requireDigest": true, "forbidden": ["evil"]}})
            ),
            rule(
                "sec",
                serde_json::json!({"securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true, "disallowPrivilegeEscalation": true, "disallowPrivileged": true, "dropCapabilities": ["NET_RAW"], "requireSeccompProfile": true}})
            ),
            rule(
                "probes",
                serde_json::json!({"probes": {"liveness": true, "readiness": true, "startup": true}})
            ),
            rule("reps", serde_json::json!({"replicas": {"minimum": 2}})),
            rule(
                "host",
                serde_json::json!({"hostAccess": {"forbidHostNamespaces": true, "forbidHostPath": true, "forbidHostPorts": true}})
            ),
            rule("tok", serde_json::json!({"serviceAccountToken": {}})),
            rule(
                "custom",
                serde_json::json!({"cel": {"expression": "variables.containers.all(c, c.?imagePullPolicy.orValue('') != 'Never')", "messageExpression": "'container ' + variables.containers[0].name + ' uses Never'"}}),
            ),
        ]);
        let mut selected = waiver(Some(vec!["l"]), "2027-02-01T00:00:00Z");
        selected.selector = Some(LabelSelector {
            match_labels: Some([("app".to_string(), "cart".to_string())].into()),
            ..Default::default()
        });
        for enforcement in ["Enforce", "Warn"] {
            let g = generate(
                &standard(enforcement, rules.clone()),
                &[waiver(None, "2027-02-01T00:00:00Z"), selected.clone()],
                &Options::default(),
                at(NOW),
            );
            assert_eq!(g.coverage.enforced.len(), 10, "{:?}", g.coverage);
            let parser = || ::cel::parser::Parser::new().enable_optional_syntax(true);
            for (at, expression) in expressions(&g) {
                if let Err(err) = parser().parse(&expression) {
                    panic!("{enforcement}: {at} does not parse: {err:?}\n{expression}");
                }
            }
        }
    }

    #[test]
    fn spec_values_cannot_change_an_expression() {
        let rules = serde_json::json!([rule(
            "l",
            serde_json::json!({"requiredLabels": [{"key": "a\" || true || \""}]})
        )]);
        let g = generate(
            &standard("Enforce", rules),
            &[],
            &Options::default(),
            at(NOW),
        );
        let r = variable(spec(&g, 0), "rule0_now");
        assert!(
            r.contains(r#"!("a\" || true || \"" in variables.labels)"#),
            "{r}"
        );
        let before = variable(spec(&g, 0), "rule0_before");
        assert!(
            before.contains(r#"!("a\" || true || \"" in oldObject.metadata.?labels.orValue({}))"#),
            "{before}"
        );
    }
}
