//! Reading manifests: multi-document YAML, JSON and `List` kinds into
//! documents that remember their file, index and line; then each document
//! into the object the engine knows it as. Pure: the caller reads the files.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    api::{
        ComplianceReport, InfrastructureStandard, PatchBaseline, ServiceOwnership,
        StandardException,
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

/// Splits YAML text into documents at `---` lines, keeping each one's first line number.
fn split_yaml(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 2;
            // Content on the marker line itself (`--- {a: 1}`) belongs to the new document.
            let rest = line[3..].trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                current.push_str(rest);
                current.push('\n');
                start = i + 1;
            }
        } else if line == "..." {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 2;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.push((start, current));
    docs
}

/// Whether a YAML chunk holds only comments and blank lines.
fn is_blank(chunk: &str) -> bool {
    chunk.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// Parses one input's text. JSON when `json` is set (one value), YAML otherwise.
/// `List` kinds are expanded into their items.
pub fn parse(file: &str, text: &str, json: bool) -> (Vec<Document>, Vec<Malformed>) {
    let mut docs = Vec::new();
    let mut bad = Vec::new();
    let chunks = if json {
        vec![(1, text.to_string())]
    } else {
        split_yaml(text)
    };
    let mut index = 0;
    for (line, chunk) in chunks {
        if is_blank(&chunk) {
            continue;
        }
        let location = Location {
            file: file.to_string(),
            index,
            line: first_content_line(&chunk).map_or(line, |l| line + l),
        };
        index += 1;
        let parsed = if json {
            serde_json::from_str::<Value>(&chunk).map_err(|e| (e.line(), e.to_string()))
        } else {
            serde_saphyr::from_str::<Value>(&chunk).map_err(|e| (0, first_line(&e.to_string())))
        };
        match parsed {
            Ok(Value::Null) => {}
            Ok(value) => expand(value, &location, &mut docs, &mut bad),
            Err((err_line, message)) => bad.push(Malformed {
                location: Location {
                    line: if err_line > 0 {
                        line + err_line - 1
                    } else {
                        location.line
                    },
                    ..location
                },
                message: format!(
                    "not valid {}: {message}",
                    if json { "JSON" } else { "YAML" }
                ),
            }),
        }
    }
    (docs, bad)
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
    /// A workload.
    Workload(Box<Workload>),
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
    /// Known but not evaluated: a ComplianceReport, a Job of a CronJob, a Pod of a controller.
    Ignored,
    /// A kind plumbline does not evaluate (`apiVersion/kind`).
    Unknown(String),
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
/// the types, then the CRD's CEL rules.
fn plumbline<T, F>(value: Value, validate: F) -> Result<T, String>
where
    T: DeserializeOwned,
    F: FnOnce(&T) -> Result<(), String>,
{
    let obj: T = typed(value)?;
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
    if api_version.is_empty() || kind.is_empty() {
        return Err("apiVersion and kind are required".into());
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let cel = |e: kube::core::cel::ValidationErrors| e.to_string();
    Ok(match (group, kind.as_str()) {
        ("apps", "Deployment") => {
            Object::Workload(Box::new(Workload::from_deployment(typed(value)?)))
        }
        ("apps", "StatefulSet") => {
            Object::Workload(Box::new(Workload::from_stateful_set(typed(value)?)))
        }
        ("apps", "DaemonSet") => {
            Object::Workload(Box::new(Workload::from_daemon_set(typed(value)?)))
        }
        ("batch", "CronJob") => Object::Workload(Box::new(Workload::from_cron_job(typed(value)?))),
        ("batch", "Job") => Workload::from_job(typed(value)?)
            .map_or(Object::Ignored, |w| Object::Workload(Box::new(w))),
        ("", "Pod") => Workload::from_pod(typed(value)?)
            .map_or(Object::Ignored, |w| Object::Workload(Box::new(w))),
        ("", "Namespace") => Object::Namespace(Namespace::from_object(typed(value)?)),
        ("policy", "PodDisruptionBudget") => {
            Object::Budget(DisruptionBudget::from_object(typed(value)?))
        }
        ("plumbline.dev", "InfrastructureStandard") => {
            Object::Standard(Box::new(plumbline(value, |o: &InfrastructureStandard| {
                o.validate_cel().map_err(cel)
            })?))
        }
        ("plumbline.dev", "StandardException") => {
            Object::Exception(Box::new(plumbline(value, |o: &StandardException| {
                o.validate_cel().map_err(cel)
            })?))
        }
        ("plumbline.dev", "PatchBaseline") => {
            Object::Baseline(Box::new(plumbline(value, |o: &PatchBaseline| {
                o.validate_cel().map_err(cel)
            })?))
        }
        ("plumbline.dev", "ServiceOwnership") => {
            Object::Ownership(Box::new(plumbline(value, |o: &ServiceOwnership| {
                o.validate_cel().map_err(cel)
            })?))
        }
        ("plumbline.dev", "ComplianceReport") => {
            let _: ComplianceReport = typed(value)?;
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
            err.starts_with("spec.rules[0].severity: unknown variant `Urgent`"),
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
        assert!(classify(serde_json::json!({"kind": "Pod"})).is_err());
    }
}
