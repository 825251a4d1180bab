//! `plumbline explain`: reads one workload (or a manifest's workloads) and
//! what judges it from the cluster with the user's own rights, runs the
//! engine, and prints `crate::explain`'s account of it. The only I/O is
//! reading; a namespaced object the user may not read is named in the
//! output as not considered, never silently left out.

use jiff::Timestamp;
use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::{Namespace, Pod, ReplicationController},
        policy::v1::PodDisruptionBudget,
    },
};
use kube::{Api, Client, Resource, api::ListParams};
use serde::{Serialize, de::DeserializeOwned};

use super::CliError;
use crate::{
    api::{
        InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException, WorkloadKind,
    },
    engine::{self, DisruptionBudget, Inputs, Source, Workload},
    explain::{self, Explanation},
};

/// What to explain.
#[derive(Clone, Debug)]
pub enum Target {
    /// A workload in the cluster.
    Live {
        /// Its kind.
        kind: WorkloadKind,
        /// Its name.
        name: String,
    },
    /// The workloads of a manifest file (`-` for standard input), before
    /// they are applied.
    Manifest(std::path::PathBuf),
}

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// The explanation as JSON (an array of them for `-f`).
    Json,
}

/// One explanation with what could not be read for it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explained {
    /// The explanation.
    #[serde(flatten)]
    pub explanation: Explanation,
    /// What the user may not read, so the verdict leaves it out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_read: Vec<String>,
    /// What else to know (a manifest's objects that are not applied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `KIND/NAME` as kubectl spells it: `deployment/web`, `deploy/web`,
/// `sts/db`, `Pod/debug`, `deployments.apps/web` (kinds plumbline judges
/// only, in their own API group).
pub fn parse_target(text: &str) -> Result<(WorkloadKind, String), String> {
    let (kind_text, name) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: name the workload as KIND/NAME, e.g. deployment/web"))?;
    let lower = kind_text.to_ascii_lowercase();
    // `deployments.apps`, `deployments.v1.apps`.
    let (k, group) = lower.split_once('.').unwrap_or((&lower, ""));
    let found = match k {
        "deployment" | "deployments" | "deploy" => Some((WorkloadKind::Deployment, "apps")),
        "statefulset" | "statefulsets" | "sts" => Some((WorkloadKind::StatefulSet, "apps")),
        "daemonset" | "daemonsets" | "ds" => Some((WorkloadKind::DaemonSet, "apps")),
        "replicaset" | "replicasets" | "rs" => Some((WorkloadKind::ReplicaSet, "apps")),
        "replicationcontroller" | "replicationcontrollers" | "rc" => {
            Some((WorkloadKind::ReplicationController, ""))
        }
        "cronjob" | "cronjobs" | "cj" => Some((WorkloadKind::CronJob, "batch")),
        "job" | "jobs" => Some((WorkloadKind::Job, "batch")),
        "pod" | "pods" | "po" => Some((WorkloadKind::Pod, "")),
        _ => None,
    };
    let in_group =
        |own: &str| group.is_empty() || group == own || group.strip_prefix("v1.") == Some(own);
    let Some((kind, _)) = found.filter(|(_, own)| in_group(own)) else {
        let kinds: Vec<&str> = WorkloadKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(format!(
            "`{kind_text}` is not a kind plumbline judges: explain one of {}",
            kinds.join(", ")
        ));
    };
    if name.is_empty() || name.contains('/') {
        return Err(format!("`{text}`: give one workload name after the kind"));
    }
    Ok((kind, name.to_string()))
}

/// What `plumbline explain` was asked.
#[derive(Clone, Debug)]
pub struct Request {
    /// The namespace (of the workload, or of a manifest's workloads that name none).
    pub namespace: String,
    /// What to explain.
    pub target: Target,
    /// How to print it.
    pub output: Output,
    /// The time to explain it at.
    pub at: Timestamp,
    /// The operator's namespace, which admission never judges.
    pub operator_namespace: String,
}

/// Explains what `request` names, printed as it asks.
pub async fn run(client: &Client, request: &Request) -> Result<String, CliError> {
    let (target, output) = (&request.target, request.output);
    let explained = match target {
        Target::Live { kind, name } => {
            let workload = read_workload(client, &request.namespace, *kind, name).await?;
            vec![explain_one(client, workload, None, request).await?]
        }
        Target::Manifest(path) => {
            let mut manifest = read_manifest(path, &request.namespace)?;
            let workloads = std::mem::take(&mut manifest.workloads);
            let mut out = Vec::new();
            for w in workloads {
                out.push(explain_one(client, w, Some(&manifest), request).await?);
            }
            out
        }
    };
    Ok(match output {
        Output::Text => {
            let parts: Vec<String> = explained
                .iter()
                .map(|e| {
                    let mut notes = String::new();
                    if !e.not_read.is_empty() {
                        notes.push_str("\nNot considered (you may not read them):\n");
                        for n in &e.not_read {
                            notes.push_str(&format!("  {n}\n"));
                        }
                    }
                    for n in &e.notes {
                        notes.push_str(&format!("\nNote: {n}\n"));
                    }
                    // The notes go right under the verdict's first line,
                    // before anything they qualify.
                    let text = explain::text::render(&e.explanation);
                    match text.split_once('\n') {
                        Some((first, rest)) => format!("{first}\n{notes}{rest}"),
                        None => text + &notes,
                    }
                })
                .collect();
            parts.join("\n")
        }
        Output::Json => {
            let json = match target {
                Target::Live { .. } => serde_json::to_string_pretty(&explained[0]),
                Target::Manifest(_) => serde_json::to_string_pretty(&explained),
            };
            json.map_err(|e| CliError::Api(e.to_string()))? + "\n"
        }
    })
}

/// A message for a failed list that says what to do: a list of plumbline's
/// kinds that is not found means its CRDs are missing.
fn list_error(what: &str, err: kube::Error) -> CliError {
    match err {
        kube::Error::Api(s) if s.code == 404 => CliError::Usage(format!(
            "cannot list {what}: plumbline's CRDs are not installed on this cluster (kubectl apply --server-side -f crds/, or install the chart)"
        )),
        other => read_error(what, other),
    }
}

/// A message for a failed read that says what to do.
fn read_error(what: &str, err: kube::Error) -> CliError {
    match err {
        kube::Error::Api(s) if s.code == 404 => CliError::Usage(format!("{what} was not found")),
        kube::Error::Api(s) if s.code == 403 => CliError::Api(format!(
            "you may not read {what}: {} (explain needs get on the workload and the plumbline-standards-reader ClusterRole)",
            s.message
        )),
        kube::Error::Api(s) => CliError::Api(format!("reading {what}: {}", s.message)),
        other => CliError::Connect(causes(&other)),
    }
}

/// An error with its causes, each said once: a connection error's useful
/// part ("Connection refused") is several sources down.
pub fn causes(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Reads a workload; an error naming its judged owner when it is judged
/// through that owner.
async fn read_workload(
    client: &Client,
    ns: &str,
    kind: WorkloadKind,
    name: &str,
) -> Result<Workload, CliError> {
    async fn one<K>(
        client: &Client,
        ns: &str,
        name: &str,
        model: fn(K) -> Option<Workload>,
    ) -> Result<Result<Workload, String>, CliError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + DeserializeOwned
            + Serialize
            + Clone
            + std::fmt::Debug,
    {
        let what = format!("{} {ns}/{name}", K::kind(&()));
        let object = Api::<K>::namespaced(client.clone(), ns)
            .get(name)
            .await
            .map_err(|e| read_error(&what, e))?;
        let source = engine::cel::source_of(&object).map(Source::Object);
        let owner = object
            .meta()
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| format!("{}/{}", o.kind, o.name))
            .unwrap_or_default();
        Ok(model(object).map(|w| w.with_source(source)).ok_or(owner))
    }
    let read = match kind {
        WorkloadKind::Deployment => {
            one::<Deployment>(client, ns, name, |x| Some(Workload::from_deployment(x))).await
        }
        WorkloadKind::StatefulSet => {
            one::<StatefulSet>(client, ns, name, |x| Some(Workload::from_stateful_set(x))).await
        }
        WorkloadKind::DaemonSet => {
            one::<DaemonSet>(client, ns, name, |x| Some(Workload::from_daemon_set(x))).await
        }
        WorkloadKind::ReplicaSet => {
            one::<ReplicaSet>(client, ns, name, Workload::from_replica_set).await
        }
        WorkloadKind::ReplicationController => {
            one::<ReplicationController>(client, ns, name, |x| {
                Some(Workload::from_replication_controller(x))
            })
            .await
        }
        WorkloadKind::CronJob => {
            one::<CronJob>(client, ns, name, |x| Some(Workload::from_cron_job(x))).await
        }
        WorkloadKind::Job => one::<Job>(client, ns, name, Workload::from_job).await,
        WorkloadKind::Pod => one::<Pod>(client, ns, name, Workload::from_pod).await,
    }?;
    let owner = match read {
        Ok(w) => return Ok(w),
        Err(owner) => owner,
    };
    // A Pod of a ReplicaSet of a Deployment (or of a Job of a CronJob) is
    // judged two levels up: name the object that is.
    let mut judged = owner.clone();
    if let Some((owner_kind, owner_name)) = owner.split_once('/') {
        let up = match owner_kind {
            "ReplicaSet" => Api::<ReplicaSet>::namespaced(client.clone(), ns)
                .get(owner_name)
                .await
                .ok()
                .map(|o| o.metadata),
            "Job" => Api::<Job>::namespaced(client.clone(), ns)
                .get(owner_name)
                .await
                .ok()
                .map(|o| o.metadata),
            _ => None,
        };
        if let Some(c) = up
            .and_then(|m| m.owner_references)
            .into_iter()
            .flatten()
            .find(|o| {
                o.controller == Some(true) && matches!(o.kind.as_str(), "Deployment" | "CronJob")
            })
        {
            judged = format!("{}/{}", c.kind, c.name);
        }
    }
    Err(CliError::Usage(format!(
        "{kind} {ns}/{name} is not judged itself: {judged} is (plumbline explain -n {ns} {})",
        judged.to_ascii_lowercase()
    )))
}

/// What a manifest adds to the cluster's objects when it is explained
/// before it is applied: its own PodDisruptionBudgets, exceptions,
/// ownerships and Namespaces take the place of the cluster's of the same
/// name, as applying it would make them.
#[derive(Default)]
struct Manifest {
    workloads: Vec<Workload>,
    budgets: Vec<DisruptionBudget>,
    exceptions: Vec<StandardException>,
    ownerships: Vec<ServiceOwnership>,
    namespaces: Vec<engine::Namespace>,
    /// What it holds that explain does not apply (standards, baselines…).
    notes: Vec<String>,
}

/// Reads a manifest; objects that name no namespace (or an empty one) are
/// in `ns`, as `kubectl apply -n ns -f` would place them.
fn read_manifest(path: &std::path::Path, ns: &str) -> Result<Manifest, CliError> {
    use crate::audit::manifest;
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?
    };
    let name = path.display().to_string();
    let json = name.ends_with(".json") || text.trim_start().starts_with('{');
    let (docs, bad) = manifest::parse(&name, &text, json);
    if let Some(b) = bad.first() {
        return Err(CliError::Usage(format!("{}: {}", b.location, b.message)));
    }
    let mut m = Manifest::default();
    let mut judged_elsewhere = Vec::new();
    for mut doc in docs {
        let location = doc.location.clone();
        let cluster_scoped = matches!(
            doc.value.get("kind").and_then(|k| k.as_str()),
            Some("Namespace" | "InfrastructureStandard" | "PatchBaseline" | "StandardReview")
        );
        if let Some(meta) = doc
            .value
            .get_mut("metadata")
            .and_then(|m| m.as_object_mut())
            && !cluster_scoped
            && meta
                .get("namespace")
                .and_then(|n| n.as_str())
                .is_none_or(str::is_empty)
        {
            meta.insert("namespace".into(), ns.into());
        }
        let source = serde_json::to_string(&doc.value).ok();
        let object = manifest::classify(doc.value)
            .map_err(|message| CliError::Usage(format!("{location}: {message}")))?;
        match object {
            manifest::Object::Workload(w) => m
                .workloads
                .push(std::sync::Arc::unwrap_or_clone(w).with_source(source.map(|s| Source::Manifest(s.into())))),
            manifest::Object::Ignored => judged_elsewhere.push(location.to_string()),
            manifest::Object::Budget(b) => m.budgets.push(b),
            manifest::Object::Exception(e) => m.exceptions.push(*e),
            manifest::Object::Ownership(o) => m.ownerships.push(*o),
            manifest::Object::Namespace(n) => m.namespaces.push(n),
            manifest::Object::Standard(_)
            | manifest::Object::Baseline(_)
            | manifest::Object::Review(_) => m.notes.push(format!(
                "{location}: a standard, baseline or review in the manifest is not applied; the cluster's are"
            )),
            manifest::Object::Foreign(_) => {
                return Err(CliError::Usage(format!(
                    "{location}: not a Kubernetes object (apiVersion and kind are required)"
                )));
            }
            manifest::Object::Unknown(_) => {}
        }
    }
    if m.workloads.is_empty() {
        return Err(CliError::Usage(if judged_elsewhere.is_empty() {
            format!("{name} holds no workload plumbline judges")
        } else {
            format!(
                "{name} holds only workloads judged through their owners ({})",
                judged_elsewhere.join(", ")
            )
        }));
    }
    Ok(m)
}

/// `live` with `ours` in place of the objects of the same key.
fn overlay<T>(
    live: Vec<T>,
    ours: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> String,
) -> Vec<T> {
    let ours: Vec<T> = ours.into_iter().collect();
    let mut out: Vec<T> = live
        .into_iter()
        .filter(|l| !ours.iter().any(|o| key(o) == key(l)))
        .collect();
    out.extend(ours);
    out
}

fn meta_key(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

/// Reads what judges `w` and explains it; `manifest` holds what the
/// manifest it came from adds.
async fn explain_one(
    client: &Client,
    w: Workload,
    manifest: Option<&Manifest>,
    request: &Request,
) -> Result<Explained, CliError> {
    let at = request.at;
    let ns = w.namespace.clone();
    let mut not_read = Vec::new();
    let lp = ListParams::default();
    // Cluster-scoped standards and baselines: without them there is
    // nothing to explain, so they are required.
    let standards = Api::<InfrastructureStandard>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| list_error("InfrastructureStandards", e))?
        .items;
    let baselines = Api::<PatchBaseline>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| list_error("PatchBaselines", e))?
        .items;
    let exceptions = optional(
        Api::<StandardException>::namespaced(client.clone(), &ns)
            .list(&lp)
            .await,
        &format!("the StandardExceptions of {ns}"),
        "so no exception covers anything here",
        &mut not_read,
    )?;
    let ownerships = optional(
        Api::<ServiceOwnership>::namespaced(client.clone(), &ns)
            .list(&lp)
            .await,
        &format!("the ServiceOwnerships of {ns}"),
        "so the owner is unknown (shown as an orphan)",
        &mut not_read,
    )?;
    let budgets = optional(
        Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
            .list(&lp)
            .await,
        &format!("the PodDisruptionBudgets of {ns}"),
        "so none is found to cover it",
        &mut not_read,
    )?;
    let namespace = match Api::<Namespace>::all(client.clone()).get(&ns).await {
        Ok(n) => engine::Namespace::from_object(n),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            not_read.push(format!(
                "namespace {ns}'s labels, so namespace selectors and rollout rings see only its name"
            ));
            engine::Namespace::new(ns.clone(), Default::default())
        }
        // Not there (yet): a manifest may create it.
        Err(kube::Error::Api(s)) if s.code == 404 => {
            engine::Namespace::new(ns.clone(), Default::default())
        }
        Err(e) => return Err(read_error(&format!("namespace {ns}"), e)),
    };
    let budgets: Vec<DisruptionBudget> = budgets
        .into_iter()
        .map(DisruptionBudget::from_object)
        .collect();
    let empty = Manifest::default();
    let m = manifest.unwrap_or(&empty);
    let inputs = Inputs {
        workloads: vec![std::sync::Arc::new(w)],
        namespaces: overlay(vec![namespace], m.namespaces.iter().cloned(), |n| {
            n.name.clone()
        }),
        budgets: overlay(budgets, m.budgets.iter().cloned(), |b| {
            format!("{}/{}", b.namespace, b.name)
        }),
        standards,
        exceptions: overlay(exceptions, m.exceptions.iter().cloned(), |e| {
            meta_key(&e.metadata)
        }),
        baselines,
        ownerships: overlay(ownerships, m.ownerships.iter().cloned(), |o| {
            meta_key(&o.metadata)
        }),
        reviews: Vec::new(),
    };
    let also_exempt = [request.operator_namespace.clone()];
    let setup = explain::Setup {
        also_exempt: &also_exempt,
    };
    let mut explanation = explain::explain(&inputs, at, 0, setup);
    // Judged with this one workload only: "stale" is true of it, not of the
    // exception, which may still cover others.
    for x in &mut explanation.exceptions {
        if x.state == crate::api::ExceptionState::Stale {
            x.message = "this workload complies without it (other workloads it selects may still need it: see its status)".into();
        }
    }
    Ok(Explained {
        explanation,
        not_read,
        notes: m.notes.clone(),
    })
}

/// A namespaced list the user may be unable to read: forbidden is noted in
/// `not_read` (`what`, `so`: what that leaves out) and read as empty; any
/// other failure is an error.
fn optional<K: Clone>(
    listed: Result<kube::core::ObjectList<K>, kube::Error>,
    what: &str,
    so: &str,
    not_read: &mut Vec<String>,
) -> Result<Vec<K>, CliError> {
    match listed {
        Ok(l) => Ok(l.items),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            not_read.push(format!("{what}, {so}"));
            Ok(Vec::new())
        }
        Err(e) => Err(list_error(what, e)),
    }
}
