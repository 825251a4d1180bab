//! Reading manifests: multi-document YAML, JSON and `List` kinds into
//! documents that remember their file, index and line; then each document
//! into the object the engine knows it as. Pure: the caller reads the files.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    api::{
        ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership,
        StandardException, StandardReview,
    },
    engine::{DisruptionBudget, Namespace, Workload},
};

/// One document of an input, with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Where the document starts.
    pub location: Location,
    /// Its content.
    pub value: Value,
}

/// Where a document is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file as given (or `-` for standard input).
    pub file: String,
    /// The document's index in the file, from 0.
    pub index: usize,
    /// The line its content starts on, from 1.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} (document {})",
            self.file,
            self.line,
            self.index + 1
        )
    }
}

/// A document that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    /// Where it is (the line of the problem, when known).
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

/// Splits YAML text into documents at `---` lines (and `...` ends), without
/// copying: each document is a slice of the text, with its first line number.
fn split_yaml(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if marker || bare == "..." {
            docs.push((start_line, &text[start_byte..offset]));
            start_byte = offset + line.len();
            start_line = i + 2;
            // Content on the marker line itself (`--- {a: 1}`) belongs to the new document.
            if marker {
                let rest = bare[3..].trim_start();
                if !rest.is_empty() && !rest.starts_with('#') {
                    start_byte = offset + 3;
                    start_line = i + 1;
                }
            }
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start_byte..]));
    docs
}

/// Whether a YAML chunk holds only comments and blank lines.
fn is_blank(chunk: &str) -> bool {
    chunk.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// The non-blank documents of an input with where each starts: the whole
/// text for JSON, each `---`-separated part for YAML. Each is a slice of the
/// text, not yet parsed, and can be read on its own ([`read_document`]), on
/// any thread.
pub fn documents<'t>(file: &str, text: &'t str, json: bool) -> Vec<(Location, &'t str)> {
    let parts = if json {
        vec![(1, text)]
    } else {
        split_yaml(text)
    };
    parts
        .into_iter()
        .filter(|(_, chunk)| !is_blank(chunk))
        .enumerate()
        .map(|(index, (line, chunk))| {
            let location = Location {
                file: file.to_string(),
                index,
                line: first_content_line(chunk).map_or(line, |l| line + l),
            };
            (location, chunk)
        })
        .collect()
}

/// Parses one document into a value; an error carries the line of the problem when known.
fn parse_chunk(chunk: &str, json: bool, location: &Location) -> Result<Value, Malformed> {
    let parsed = if json {
        serde_json::from_str::<Value>(chunk).map_err(|e| (e.line(), e.to_string()))
    } else {
        serde_saphyr::from_str::<Value>(chunk).map_err(|e| (0, first_line(&e.to_string())))
    };
    parsed.map_err(|(err_line, message)| Malformed {
        location: Location {
            // JSON reports the line within the text, which is the whole input.
            line: if err_line > 0 {
                err_line
            } else {
                location.line
            },
            ..location.clone()
        },
        message: format!(
            "not valid {}: {message}",
            if json { "JSON" } else { "YAML" }
        ),
    })
}

/// One document's objects (several for a `List`), each with where it is.
pub type Read = Vec<(Location, Result<Object, String>)>;

/// Reads one document (JSON when `json` is set, YAML otherwise) into the
/// objects it holds: `List` kinds are expanded into their items. Pure.
pub fn read_document(location: Location, chunk: &str, json: bool) -> Read {
    // Fast path: a workload read straight into its type, with no
    // intermediate JSON value. Anything unusual takes the general path,
    // which also names the field at fault.
    if !json && let Some(Ok(object)) = fast_classify(chunk) {
        return vec![(location, Ok(with_text(object, || chunk.into())))];
    }
    match parse_chunk(chunk, json, &location) {
        Ok(Value::Null) => Vec::new(),
        // A sequence or a scalar (a CI file's list, a values file's
        // string) is no Kubernetes object; the caller decides whether
        // that is an error.
        Ok(value) if !value.is_object() => vec![(location, Ok(Object::Foreign(Foreign::Neither)))],
        Ok(value) => {
            let mut docs = Vec::new();
            let mut bad = Vec::new();
            expand(value, &location, &mut docs, &mut bad);
            let mut read: Read = bad
                .into_iter()
                .map(|b| (b.location, Err(b.message)))
                .collect();
            for doc in docs {
                let text = serde_json::to_string(&doc.value).unwrap_or_default();
                let object = classify(doc.value).map(|o| with_text(o, || text.into()));
                read.push((doc.location, object));
            }
            read
        }
        Err(m) => vec![(m.location, Err(m.message))],
    }
}

/// Parses one input's text into documents and malformed documents (for
/// tests and tools that want the raw documents).
pub fn parse(file: &str, text: &str, json: bool) -> (Vec<Document>, Vec<Malformed>) {
    let mut docs = Vec::new();
    let mut bad = Vec::new();
    for (location, chunk) in documents(file, text, json) {
        match parse_chunk(chunk, json, &location) {
            Ok(Value::Null) => {}
            Ok(value) => expand(value, &location, &mut docs, &mut bad),
            Err(m) => bad.push(m),
        }
    }
    (docs, bad)
}

/// The top-level `apiVersion` and `kind` of a YAML document, read from its
/// lines without parsing it.
fn header(chunk: &str) -> Option<(&str, &str)> {
    let mut api_version = None;
    let mut kind = None;
    for line in chunk.lines() {
        if let Some(v) = line.strip_prefix("apiVersion:") {
            api_version = Some(v.trim().trim_matches(['"', '\'']));
        } else if let Some(v) = line.strip_prefix("kind:") {
            kind = Some(v.trim().trim_matches(['"', '\'']));
        }
        if let (Some(a), Some(k)) = (api_version, kind) {
            return Some((a, k));
        }
    }
    None
}

/// A workload keeps its document's text, which CEL rules read as their
/// `object` (only when one matches it: reading it costs nothing before).
fn with_text(object: Object, text: impl FnOnce() -> Arc<str>) -> Object {
    match object {
        Object::Workload(mut w) => {
            // Just built, so not shared: set in place, no copy.
            Arc::make_mut(&mut w).source = Some(crate::engine::Source::Manifest(text()));
            Object::Workload(w)
        }
        other => other,
    }
}

/// Reads a workload, namespace or budget straight into its type; `None` when
/// the document is something else, `Some(Err)` when it does not parse.
fn fast_classify(chunk: &str) -> Option<Result<Object, String>> {
    fn typed_yaml<T: DeserializeOwned>(chunk: &str) -> Result<T, String> {
        serde_saphyr::from_str(chunk).map_err(|e| e.to_string())
    }
    let (api_version, kind) = header(chunk)?;
    if api_version.contains('#') || kind.contains('#') {
        return None;
    }
    Some(match (api_version, kind) {
        ("apps/v1", "Deployment") => {
            typed_yaml(chunk).map(|d| Object::Workload(Arc::new(Workload::from_deployment(d))))
        }
        ("apps/v1", "StatefulSet") => {
            typed_yaml(chunk).map(|d| Object::Workload(Arc::new(Workload::from_stateful_set(d))))
        }
        ("apps/v1", "DaemonSet") => {
            typed_yaml(chunk).map(|d| Object::Workload(Arc::new(Workload::from_daemon_set(d))))
        }
        ("apps/v1", "ReplicaSet") => typed_yaml(chunk).map(|d| {
            Workload::from_replica_set(d).map_or(Object::Ignored, |w| Object::Workload(Arc::new(w)))
        }),
        ("v1", "ReplicationController") => typed_yaml(chunk)
            .map(|d| Object::Workload(Arc::new(Workload::from_replication_controller(d)))),
        ("batch/v1", "CronJob") => {
            typed_yaml(chunk).map(|d| Object::Workload(Arc::new(Workload::from_cron_job(d))))
        }
        ("batch/v1", "Job") => typed_yaml(chunk).map(|d| {
            Workload::from_job(d).map_or(Object::Ignored, |w| Object::Workload(Arc::new(w)))
        }),
        ("v1", "Pod") => typed_yaml(chunk).map(|d| {
            Workload::from_pod(d).map_or(Object::Ignored, |w| Object::Workload(Arc::new(w)))
        }),
        _ => return None,
    })
}

fn first_content_line(chunk: &str) -> Option<usize> {
    chunk.lines().position(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn expand(value: Value, location: &Location, docs: &mut Vec<Document>, bad: &mut Vec<Malformed>) {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || (k.ends_with("List") && value.get("items").is_some()));
    if !is_list {
        if value.is_object() {
            docs.push(Document {
                location: location.clone(),
                value,
            });
        } else {
            bad.push(Malformed {
                location: location.clone(),
                message: "not a Kubernetes object: expected a mapping with apiVersion and kind"
                    .into(),
            });
        }
        return;
    }
    match value {
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => {
                for item in items {
                    expand(item, location, docs, bad);
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => bad.push(Malformed {
                location: location.clone(),
                message: "a List's items must be a sequence".into(),
            }),
        },
        _ => unreachable!("a List is an object"),
    }
}

/// What a document is to plumbline.
#[derive(Clone, Debug)]
pub enum Object {
    /// A workload (shared: the engine's inputs hold it as it is read).
    Workload(Arc<Workload>),
    /// A namespace.
    Namespace(Namespace),
    /// A PodDisruptionBudget.
    Budget(DisruptionBudget),
    /// A standard.
    Standard(Box<InfrastructureStandard>),
    /// An exception.
    Exception(Box<StandardException>),
    /// A patch baseline.
    Baseline(Box<PatchBaseline>),
    /// A service ownership.
    Ownership(Box<ServiceOwnership>),
    /// A standard review.
    Review(Box<StandardReview>),
    /// Known but not evaluated: a ComplianceReport, a Job of a CronJob, a Pod of a controller.
    Ignored,
    /// A kind plumbline does not evaluate (`apiVersion/kind`).
    Unknown(String),
    /// Not a Kubernetes object: a mapping with neither `apiVersion` nor
    /// `kind`, or no mapping (a CI pipeline, Helm values, a docs file), or
    /// with only one of them (a Helm `Chart.yaml`, a `.drone.yml`).
    Foreign(Foreign),
}

/// Why a document is not a Kubernetes object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreign {
    /// Neither `apiVersion` nor `kind`, or not a mapping.
    Neither,
    /// Only one of them.
    Half,
}

/// Deserialises a document, naming the field at fault.
fn typed<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        if path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// A plumbline object checked as the API server would: its schema through
/// the types (unknown fields refused, as `kubectl apply` and the API server's
/// strict field validation refuse them), then the CRD's CEL rules.
fn plumbline<T, F>(value: Value, validate: F) -> Result<T, String>
where
    T: DeserializeOwned,
    F: FnOnce(&T) -> Result<(), String>,
{
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let violations = super::schema::check(&kind, &value);
    if !violations.is_empty() {
        return Err(violations.join("; "));
    }
    let mut unknown = Vec::new();
    let obj: T = serde_ignored::deserialize(&value, |path| {
        // `spec.rules.0.x` is written `spec.rules[0].x` in Kubernetes messages.
        let path = path
            .to_string()
            .split('.')
            .fold(String::new(), |mut acc, part| {
                if part == "?" {
                    // serde_ignored marks an Option's inside; Kubernetes paths do not.
                } else if part.parse::<usize>().is_ok() {
                    acc.push_str(&format!("[{part}]"));
                } else {
                    if !acc.is_empty() {
                        acc.push('.');
                    }
                    acc.push_str(part);
                }
                acc
            });
        // apiVersion and kind are read apart; metadata is Kubernetes' own; status is the operator's.
        let top = path.split(['.', '[']).next().unwrap_or_default();
        if !matches!(top, "apiVersion" | "kind" | "metadata" | "status") {
            unknown.push(path);
        }
    })
    .map_err(|_| typed::<T>(value.clone()).err().unwrap_or_default())?;
    if !unknown.is_empty() {
        return Err(format!(
            "unknown field{} {}: correct the spelling or remove {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", "),
            if unknown.len() == 1 { "it" } else { "them" }
        ));
    }
    validate(&obj)?;
    Ok(obj)
}

/// Classifies a document; an error says what is wrong with it.
pub fn classify(value: Value) -> Result<Object, String> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if api_version.is_empty() && kind.is_empty() {
        return Ok(Object::Foreign(Foreign::Neither));
    }
    if api_version.is_empty() || kind.is_empty() {
        return Ok(Object::Foreign(Foreign::Half));
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Ok(match (group, kind.as_str()) {
        ("apps", "Deployment") => {
            Object::Workload(Arc::new(Workload::from_deployment(typed(value)?)))
        }
        ("apps", "StatefulSet") => {
            Object::Workload(Arc::new(Workload::from_stateful_set(typed(value)?)))
        }
        ("apps", "DaemonSet") => {
            Object::Workload(Arc::new(Workload::from_daemon_set(typed(value)?)))
        }
        ("apps", "ReplicaSet") => Workload::from_replica_set(typed(value)?)
            .map_or(Object::Ignored, |w| Object::Workload(Arc::new(w))),
        ("", "ReplicationController") => Object::Workload(Arc::new(
            Workload::from_replication_controller(typed(value)?),
        )),
        ("batch", "CronJob") => Object::Workload(Arc::new(Workload::from_cron_job(typed(value)?))),
        ("batch", "Job") => Workload::from_job(typed(value)?)
            .map_or(Object::Ignored, |w| Object::Workload(Arc::new(w))),
        ("", "Pod") => Workload::from_pod(typed(value)?)
            .map_or(Object::Ignored, |w| Object::Workload(Arc::new(w))),
        ("", "Namespace") => Object::Namespace(Namespace::from_object(typed(value)?)),
        ("policy", "PodDisruptionBudget") => {
            Object::Budget(DisruptionBudget::from_object(typed(value)?))
        }
        ("plumbline.dev", "InfrastructureStandard") => {
            Object::Standard(Box::new(plumbline(value, |o: &InfrastructureStandard| {
                super::schema::validate_cel("InfrastructureStandard", o)
            })?))
        }
        ("plumbline.dev", "StandardException") => {
            Object::Exception(Box::new(plumbline(value, |o: &StandardException| {
                super::schema::validate_cel("StandardException", o)
            })?))
        }
        ("plumbline.dev", "PatchBaseline") => {
            Object::Baseline(Box::new(plumbline(value, |o: &PatchBaseline| {
                super::schema::validate_cel("PatchBaseline", o)
            })?))
        }
        ("plumbline.dev", "ServiceOwnership") => {
            Object::Ownership(Box::new(plumbline(value, |o: &ServiceOwnership| {
                super::schema::validate_cel("ServiceOwnership", o)
            })?))
        }
        ("plumbline.dev", "StandardReview") => {
            Object::Review(Box::new(plumbline(value, |r: &StandardReview| {
                super::schema::validate_cel("StandardReview", r)
            })?))
        }
        ("plumbline.dev", "ComplianceReport") => {
            let _: ComplianceReport = plumbline(value, |_: &ComplianceReport| Ok(()))?;
            Object::Ignored
        }
        _ => Object::Unknown(format!("{api_version}/{kind}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines_and_lists_expand() {
        let text = "# a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: c}}\n";
        let (docs, bad) = parse("f.yaml", text, false);
        assert!(bad.is_empty(), "{bad:?}");
        let names: Vec<_> = docs
            .iter()
            .map(|d| d.value["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(docs[0].location.line, 3);
        assert_eq!(docs[0].location.index, 0);
        assert_eq!(docs[1].location.line, 10);
        assert_eq!(docs[1].location.index, 1);
    }

    #[test]
    fn a_malformed_document_is_reported_and_the_rest_still_read() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [unclosed\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n";
        let (docs, bad) = parse("f.yaml", text, false);
        assert_eq!(docs.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].location.index, 1);
        assert_eq!(bad[0].location.line, 5);
        assert!(
            bad[0].message.starts_with("not valid YAML"),
            "{}",
            bad[0].message
        );
    }

    #[test]
    fn json_errors_carry_their_line() {
        let (_, bad) = parse(
            "f.json",
            "{\n \"apiVersion\": \"v1\",\n \"kind\": }\n",
            true,
        );
        assert_eq!(bad[0].location.line, 3);
    }

    #[test]
    fn typed_errors_name_the_field() {
        let err = classify(serde_json::json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
            "metadata": {"name": "s"},
            "spec": {"rules": [{"id": "a", "severity": "Urgent", "description": "d", "probes": {"liveness": true}}]}
        }))
        .unwrap_err();
        assert!(
            err.starts_with("spec.rules[0].severity: Unsupported value: \"Urgent\""),
            "{err}"
        );
        let err = classify(serde_json::json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
            "metadata": {"name": "s"},
            "spec": {"rules": [{"id": "a", "severity": "High", "description": "d", "probes": {"liveness": true}, "replicas": {"minimum": 2}}]}
        }))
        .unwrap_err();
        assert!(err.contains("exactly one check"), "{err}");
    }

    #[test]
    fn unknown_fields_of_plumbline_objects_are_refused() {
        let err = classify(serde_json::json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
            "metadata": {"name": "s", "labels": {"a": "b"}},
            "spec": {"enforcment": "Enforce", "rules": [{"id": "a", "severity": "High", "description": "d",
                      "probes": {"liveness": true, "readyness": true}}]}
        }))
        .unwrap_err();
        assert!(err.contains("\"spec.enforcment\""), "{err}");
        assert!(err.contains("\"spec.rules[0].probes.readyness\""), "{err}");
    }

    #[test]
    fn unknown_kinds_and_managed_pods_are_told_apart() {
        let svc = classify(
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}),
        )
        .unwrap();
        assert!(matches!(svc, Object::Unknown(k) if k == "v1/Service"));
        let pod = classify(serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "u", "controller": true}]},
            "spec": {"containers": []}}))
        .unwrap();
        assert!(matches!(pod, Object::Ignored));
        // Half a header: not a Kubernetes object (the loader decides
        // whether that is an error: where named, or with --strict).
        assert!(matches!(
            classify(serde_json::json!({"kind": "Pod"})),
            Ok(Object::Foreign(Foreign::Half))
        ));
        assert!(matches!(
            classify(serde_json::json!({"on": ["push"]})),
            Ok(Object::Foreign(Foreign::Neither))
        ));
    }
}
