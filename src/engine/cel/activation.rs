//! What a CEL rule sees of one workload: `object` (the workload as stored,
//! without what the engine never judges), `namespaceObject`, and
//! `variables` (`podSpec`, `podMetadata`, `containers`, `containerRoles`,
//! `kind`), each built the way the generated admission policy builds it.
//! Built once per workload, and only when a CEL rule matches it. Pure.

use std::{collections::HashMap, sync::Arc, sync::OnceLock};

use cel::{
    Context, Value,
    objects::{Key, Map},
};
use serde::Serialize;
use serde_json::Value as Json;

use crate::engine::{
    selector::Labels,
    workload::{LAST_APPLIED, Source},
};

/// The object of a workload as a CEL rule sees it, as compact JSON:
/// without `status`, `metadata.managedFields`, `metadata.resourceVersion`
/// and the text of the `kubectl apply` copy of the object, which no rule
/// may read (its key stays, with an empty value, so that a rule over the
/// annotations' keys sees what the API server sees).
/// `None` when the object does not serialise (never for the typed kinds).
pub fn source_of<K: Serialize>(object: &K) -> Option<Arc<str>> {
    let mut json = serde_json::to_value(object).ok()?;
    if let Json::Object(o) = &mut json {
        o.remove("status");
        if let Some(Json::Object(meta)) = o.get_mut("metadata") {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
            if let Some(Json::Object(a)) = meta.get_mut("annotations")
                && let Some(copy) = a.get_mut(LAST_APPLIED)
            {
                *copy = Json::String(String::new());
            }
        }
    }
    serde_json::to_string(&json).ok().map(Into::into)
}

/// A manifest document read as its kind, then written as `source_of` does,
/// so that `object` holds what the typed object holds (no unknown fields,
/// quantities as strings), as the API server would store it.
fn manifest_json(kind: &str, text: &str) -> Result<Arc<str>, String> {
    use k8s_openapi::api::{
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::{Pod, ReplicationController},
    };
    fn typed<K: serde::de::DeserializeOwned + Serialize>(text: &str) -> Result<Arc<str>, String> {
        let k: K = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        source_of(&k).ok_or_else(|| "the object does not serialise".to_string())
    }
    match kind {
        "Deployment" => typed::<Deployment>(text),
        "StatefulSet" => typed::<StatefulSet>(text),
        "DaemonSet" => typed::<DaemonSet>(text),
        "ReplicaSet" => typed::<ReplicaSet>(text),
        "ReplicationController" => typed::<ReplicationController>(text),
        "CronJob" => typed::<CronJob>(text),
        "Job" => typed::<Job>(text),
        "Pod" => typed::<Pod>(text),
        other => Err(format!("{other} is not a workload kind")),
    }
}

/// The role of each container in `variables.containerRoles`.
pub const ROLES: [&str; 4] = ["regular", "init", "sidecar", "ephemeral"];

/// A workload's variables, bound once in a scope of the library's root
/// context: every rule evaluated on the workload shares them (binding
/// converts the whole object for the interpreter, which costs more than
/// most rules do).
pub struct Activation {
    cx: Context<'static>,
}

impl Activation {
    /// From a workload's object (JSON as `source_of` gives it), its kind,
    /// and its namespace's name and labels.
    pub fn new(
        kind: &str,
        source: &Source,
        namespace: &str,
        labels: &Labels,
    ) -> Result<Self, String> {
        let text = match source {
            Source::Object(json) => json.clone(),
            Source::Manifest(text) => manifest_json(kind, text)?,
        };
        let json: Json = serde_json::from_str(&text)
            .map_err(|e| format!("the workload's object does not parse: {e}"))?;
        let object = to_value(&json);
        let pod_template = match kind {
            "Pod" => Some(&json),
            "CronJob" => json.pointer("/spec/jobTemplate/spec/template"),
            _ => json.pointer("/spec/template"),
        };
        let (pod_spec, pod_meta) = if kind == "Pod" {
            (json.get("spec"), json.get("metadata"))
        } else {
            (
                pod_template.and_then(|t| t.get("spec")),
                pod_template.and_then(|t| t.get("metadata")),
            )
        };
        let empty = Json::Object(Default::default());
        let pod_spec = pod_spec.unwrap_or(&empty);
        let mut containers = Vec::new();
        let mut roles = Vec::new();
        let list = |field: &str| {
            pod_spec
                .get(field)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for c in list("containers") {
            containers.push(to_value(&c));
            roles.push(ROLES[0]);
        }
        for c in list("initContainers") {
            let sidecar = c.get("restartPolicy").and_then(Json::as_str) == Some("Always");
            containers.push(to_value(&c));
            roles.push(if sidecar { ROLES[2] } else { ROLES[1] });
        }
        for c in list("ephemeralContainers") {
            containers.push(to_value(&c));
            roles.push(ROLES[3]);
        }
        let variables = map([
            ("podSpec", to_value(pod_spec)),
            ("podMetadata", to_value(pod_meta.unwrap_or(&empty))),
            ("containers", Value::List(Arc::new(containers))),
            (
                "containerRoles",
                Value::List(Arc::new(roles.into_iter().map(string).collect())),
            ),
            ("kind", string(kind)),
        ]);
        let ns_labels: HashMap<Key, Value> = labels
            .iter()
            .map(|(k, v)| (Key::String(Arc::new(k.to_string())), string(v)))
            .collect();
        let namespace = map([
            ("apiVersion", string("v1")),
            ("kind", string("Namespace")),
            (
                "metadata",
                map([
                    ("name", string(namespace)),
                    (
                        "labels",
                        Value::Map(Map {
                            map: Arc::new(ns_labels),
                        }),
                    ),
                ]),
            ),
        ]);
        let mut cx = super::library::ROOT.new_inner_scope();
        cx.add_variable_from_value("object", object);
        cx.add_variable_from_value("namespaceObject", namespace);
        cx.add_variable_from_value("variables", variables);
        Ok(Self { cx })
    }

    /// The scope the workload's rules are evaluated in.
    pub(super) fn context(&self) -> &Context<'static> {
        &self.cx
    }
}

/// A workload's activation, built on first use.
pub struct LazyActivation<'a> {
    kind: &'a str,
    source: Option<&'a Source>,
    namespace: &'a str,
    labels: &'a Labels,
    built: OnceLock<Result<Activation, String>>,
}

impl<'a> LazyActivation<'a> {
    /// For a workload (`source`: its object, when kept).
    pub fn new(
        kind: &'a str,
        source: Option<&'a Source>,
        namespace: &'a str,
        labels: &'a Labels,
    ) -> Self {
        Self {
            kind,
            source,
            namespace,
            labels,
            built: OnceLock::new(),
        }
    }

    /// The activation, or why there is none.
    pub fn get(&self) -> Result<&Activation, &str> {
        self.built
            .get_or_init(|| match self.source {
                Some(s) => Activation::new(self.kind, s, self.namespace, self.labels),
                None => Err("the workload's object is not loaded (the operator loads it once a CEL rule exists): it is evaluated on the next pass".into()),
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

fn string(s: &str) -> Value {
    Value::String(Arc::new(s.to_string()))
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(Map {
        map: Arc::new(
            entries
                .into_iter()
                .map(|(k, v)| (Key::String(Arc::new(k.to_string())), v))
                .collect(),
        ),
    })
}

/// JSON as a CEL value: integers as int, other numbers as double.
pub fn to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n
                .as_u64()
                .map(Value::UInt)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or_default())),
        },
        Json::String(s) => string(s),
        Json::Array(a) => Value::List(Arc::new(a.iter().map(to_value).collect())),
        Json::Object(o) => Value::Map(Map {
            map: Arc::new(
                o.iter()
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_value(v)))
                    .collect(),
            ),
        }),
    }
}
