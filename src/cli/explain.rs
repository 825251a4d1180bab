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
}

/// `KIND/NAME` as kubectl spells it: `deployment/web`, `deploy/web`,
/// `sts/db`, `Pod/debug`, … (kinds plumbline judges only).
pub fn parse_target(text: &str) -> Result<(WorkloadKind, String), String> {
    let (kind, name) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: name the workload as KIND/NAME, e.g. deployment/web"))?;
    let k = kind.to_ascii_lowercase();
    let k = k.split('.').next().unwrap_or_default();
    let kind = match k {
        "deployment" | "deployments" | "deploy" => WorkloadKind::Deployment,
        "statefulset" | "statefulsets" | "sts" => WorkloadKind::StatefulSet,
        "daemonset" | "daemonsets" | "ds" => WorkloadKind::DaemonSet,
        "replicaset" | "replicasets" | "rs" => WorkloadKind::ReplicaSet,
        "replicationcontroller" | "replicationcontrollers" | "rc" => {
            WorkloadKind::ReplicationController
        }
        "cronjob" | "cronjobs" | "cj" => WorkloadKind::CronJob,
        "job" | "jobs" => WorkloadKind::Job,
        "pod" | "pods" | "po" => WorkloadKind::Pod,
        _ => {
            let kinds: Vec<&str> = WorkloadKind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "`{kind}` is not a kind plumbline judges: explain one of {}",
                kinds.join(", ")
            ));
        }
    };
    if name.is_empty() || name.contains('/') {
        return Err(format!("`{text}`: give one workload name after the kind"));
    }
    Ok((kind, name.to_string()))
}

/// Explains `target` in `namespace` at `at`, printed as `output`.
pub async fn run(
    client: &Client,
    namespace: &str,
    target: &Target,
    output: Output,
    at: Timestamp,
) -> Result<String, CliError> {
    let explained = match target {
        Target::Live { kind, name } => {
            let Some(workload) = read_workload(client, namespace, *kind, name).await? else {
                return Ok(String::new());
            };
            vec![explain_one(client, workload, at).await?]
        }
        Target::Manifest(path) => {
            let mut out = Vec::new();
            for w in manifest_workloads(path, namespace)? {
                out.push(explain_one(client, w, at).await?);
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

/// Reads a workload; `None` (after telling why on standard error) when it
/// is judged through its owner.
async fn read_workload(
    client: &Client,
    ns: &str,
    kind: WorkloadKind,
    name: &str,
) -> Result<Option<Workload>, CliError> {
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
    match read {
        Ok(w) => Ok(Some(w)),
        Err(owner) => Err(CliError::Usage(format!(
            "{kind} {ns}/{name} is not judged itself: its controller {owner} is (plumbline explain -n {ns} {})",
            owner.to_ascii_lowercase()
        ))),
    }
}

/// The workloads of a manifest; those that name no namespace are in `ns`,
/// as `kubectl apply -n ns -f` would place them.
fn manifest_workloads(path: &std::path::Path, ns: &str) -> Result<Vec<Workload>, CliError> {
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
    let mut out = Vec::new();
    let mut judged_elsewhere = Vec::new();
    for mut doc in docs {
        let location = doc.location.clone();
        if let Some(meta) = doc
            .value
            .get_mut("metadata")
            .and_then(|m| m.as_object_mut())
            && !meta.contains_key("namespace")
        {
            meta.insert("namespace".into(), ns.into());
        }
        let source = serde_json::to_string(&doc.value).ok();
        match manifest::classify(doc.value) {
            Ok(manifest::Object::Workload(w)) => {
                out.push(w.with_source(source.map(|s| Source::Manifest(s.into()))))
            }
            Ok(manifest::Object::Ignored) => judged_elsewhere.push(location.to_string()),
            Ok(_) => {}
            Err(message) => return Err(CliError::Usage(format!("{location}: {message}"))),
        }
    }
    if out.is_empty() {
        return Err(CliError::Usage(if judged_elsewhere.is_empty() {
            format!("{name} holds no workload plumbline judges")
        } else {
            format!(
                "{name} holds only workloads judged through their owners ({})",
                judged_elsewhere.join(", ")
            )
        }));
    }
    Ok(out)
}

/// Reads what judges `w` and explains it.
async fn explain_one(client: &Client, w: Workload, at: Timestamp) -> Result<Explained, CliError> {
    let ns = w.namespace.clone();
    let mut not_read = Vec::new();
    let lp = ListParams::default();
    // Cluster-scoped standards and baselines: without them there is
    // nothing to explain, so they are required.
    let standards = Api::<InfrastructureStandard>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| read_error("InfrastructureStandards", e))?
        .items;
    let baselines = Api::<PatchBaseline>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| read_error("PatchBaselines", e))?
        .items;
    let exceptions = optional(
        Api::<StandardException>::namespaced(client.clone(), &ns)
            .list(&lp)
            .await,
        &format!("the StandardExceptions of {ns}, so no exception covers anything here"),
        &mut not_read,
    )?;
    let ownerships = optional(
        Api::<ServiceOwnership>::namespaced(client.clone(), &ns)
            .list(&lp)
            .await,
        &format!("the ServiceOwnerships of {ns}, so the owner is unknown (shown as an orphan)"),
        &mut not_read,
    )?;
    let budgets = optional(
        Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
            .list(&lp)
            .await,
        &format!("the PodDisruptionBudgets of {ns}, so none is found to cover it"),
        &mut not_read,
    )?;
    let namespace = match Api::<Namespace>::all(client.clone()).get(&ns).await {
        Ok(n) => Some(n),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            not_read.push(format!(
                "namespace {ns}'s labels, so namespace selectors and rollout rings see none"
            ));
            None
        }
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => return Err(read_error(&format!("namespace {ns}"), e)),
    };
    let inputs = Inputs {
        workloads: vec![std::sync::Arc::new(w)],
        namespaces: namespace
            .map(engine::Namespace::from_object)
            .into_iter()
            .collect(),
        budgets: budgets
            .into_iter()
            .map(DisruptionBudget::from_object)
            .collect(),
        standards,
        exceptions,
        baselines,
        ownerships,
        reviews: Vec::new(),
    };
    Ok(Explained {
        explanation: explain::explain(&inputs, at, 0),
        not_read,
    })
}

/// A namespaced list the user may be unable to read: forbidden is noted in
/// `not_read` and read as empty; any other failure is an error.
fn optional<K: Clone>(
    listed: Result<kube::core::ObjectList<K>, kube::Error>,
    what: &str,
    not_read: &mut Vec<String>,
) -> Result<Vec<K>, CliError> {
    match listed {
        Ok(l) => Ok(l.items),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            not_read.push(what.to_string());
            Ok(Vec::new())
        }
        Err(e) => Err(read_error(what, e)),
    }
}
