//! Reading the audit's inputs from disk and standard input (the audit's only
//! I/O besides printing), then sorting documents into engine inputs.

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
};

use super::manifest::{self, Foreign, Location, Malformed, Object};
use crate::engine::Inputs;

/// Why the audit could not read something.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path that does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Everything read, ready for the engine.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The engine's inputs.
    pub inputs: Inputs,
    /// Where each workload was read, parallel to `inputs.workloads`.
    pub workload_locations: Vec<Location>,
    /// Where each plumbline object was read, by `Kind/namespace/name`.
    pub object_locations: BTreeMap<String, Location>,
    /// Documents that could not be read or are invalid.
    pub malformed: Vec<Malformed>,
    /// Kinds skipped because plumbline does not evaluate them, with their counts.
    pub unknown_kinds: BTreeMap<String, usize>,
    /// Documents read but not evaluated (reports, managed Pods, Jobs of CronJobs).
    pub ignored: usize,
    /// Files read.
    pub files: usize,
    /// Documents of a directory walk that are not Kubernetes objects (CI
    /// pipelines, Helm values, docs), skipped.
    pub foreign: usize,
    /// Objects defined more than once; the last definition is the one judged,
    /// as with `kubectl apply` of the files in order.
    pub duplicates: Vec<Duplicate>,
    /// `--strict`: a document that is not a Kubernetes object is an error
    /// wherever it is, not only in a file named explicitly.
    pub strict: bool,
    /// Where each workload is in `inputs.workloads`, by `Kind/namespace/name`.
    workload_index: std::collections::HashMap<String, usize>,
}

/// An object defined twice in the inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// `Kind/namespace/name` (`Kind/name` when cluster-scoped).
    pub key: String,
    /// The definition set aside.
    pub earlier: Location,
    /// The definition judged.
    pub later: Location,
}

/// One input source: a file or standard input.
pub struct Source {
    /// Its name in messages.
    pub name: String,
    /// Its text.
    pub text: String,
    /// Whether it is JSON.
    pub json: bool,
    /// Whether it was found by walking a directory (not named explicitly).
    pub walked: bool,
}

/// Reads paths (files, directories recursively, `-` for standard input).
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, LoadError> {
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| LoadError::Read {
                    path: "-".into(),
                    source,
                })?;
            let json = text.trim_start().starts_with(['{', '[']);
            sources.push(Source {
                name: "-".into(),
                text,
                json,
                walked: false,
            });
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let walked = meta.is_dir();
        let files = if walked {
            walk(path)?
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Read {
                path: file.display().to_string(),
                source,
            })?;
            let json = file.extension().is_some_and(|e| e == "json");
            sources.push(Source {
                name: file.display().to_string(),
                text,
                json,
                walked,
            });
        }
    }
    Ok(sources)
}

/// The manifest files below a directory, sorted; hidden directories and
/// files are skipped.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| LoadError::Read {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LoadError::Read {
                path: dir.display().to_string(),
                source,
            })?;
            let path = entry.path();
            // Hidden directories and files (.git, .github, .gitlab-ci.yml) are
            // tooling, not manifests.
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What to take from a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// Everything: workloads and plumbline resources.
    All,
    /// Only plumbline resources and namespaces (`--standards`).
    PlumblineOnly,
}

impl Loaded {
    /// Parses and sorts one source's documents.
    pub fn add(&mut self, source: &Source, take: Take) {
        self.add_all(std::slice::from_ref(source), take);
    }

    /// Parses every source's documents on every core (each document is read
    /// on its own), then sorts them in the order of the sources and of the
    /// documents in each, so that duplicates and errors come out as if they
    /// were read one by one.
    pub fn add_all(&mut self, sources: &[Source], take: Take) {
        use rayon::prelude::*;
        let documents: Vec<(&Source, Location, &str)> = sources
            .iter()
            .flat_map(|s| {
                manifest::documents(&s.name, &s.text, s.json)
                    .into_iter()
                    .map(move |(location, chunk)| (s, location, chunk))
            })
            .collect();
        let read: Vec<manifest::Read> = documents
            .par_iter()
            .map(|(source, location, chunk)| {
                manifest::read_document(location.clone(), chunk, source.json)
            })
            .collect();
        self.files += sources.len();
        for ((source, _, _), objects) in documents.iter().zip(read) {
            for (location, object) in objects {
                self.add_object(location, object, take, source.walked);
            }
        }
    }

    fn add_object(
        &mut self,
        location: Location,
        object: Result<Object, String>,
        take: Take,
        walked: bool,
    ) {
        if let Ok(o) = &object
            && nameless(o)
        {
            self.malformed.push(Malformed {
                location,
                message:
                    "metadata.name: Required value (kubectl apply refuses an object without a name)"
                        .into(),
            });
            return;
        }
        match object {
            Err(message) => self.malformed.push(Malformed { location, message }),
            Ok(Object::Foreign(_)) if walked && !self.strict => self.foreign += 1,
            Ok(Object::Foreign(why)) => {
                let what = match why {
                    Foreign::Neither => "not a Kubernetes object: no apiVersion and kind",
                    Foreign::Half => "apiVersion and kind are required",
                };
                let rule = if walked { FOREIGN_STRICT } else { FOREIGN };
                self.malformed.push(Malformed {
                    location,
                    message: format!("{what} ({rule})"),
                })
            }
            Ok(Object::Workload(w)) if take == Take::All => {
                let key = object_key(w.kind.as_str(), Some(&w.namespace), &w.name);
                match self.workload_index.get(&key) {
                    Some(&i) => {
                        let earlier = std::mem::replace(&mut self.workload_locations[i], location);
                        self.duplicates.push(Duplicate {
                            key,
                            earlier,
                            later: self.workload_locations[i].clone(),
                        });
                        self.inputs.workloads[i] = w;
                    }
                    None => {
                        self.workload_index.insert(key, self.inputs.workloads.len());
                        self.inputs.workloads.push(w);
                        self.workload_locations.push(location);
                    }
                }
            }
            Ok(Object::Workload(_)) | Ok(Object::Budget(_)) if take == Take::PlumblineOnly => {
                self.ignored += 1
            }
            Ok(Object::Workload(_)) => unreachable!("handled above"),
            Ok(Object::Namespace(n)) => {
                // The last definition of a namespace wins, as with kubectl apply.
                let name = n.name.clone();
                let again = self.remember("Namespace", None, Some(&name), location);
                keep_last(&mut self.inputs.namespaces, n, again, |x| x.name == name);
            }
            Ok(Object::Budget(b)) => {
                let (ns, name) = (b.namespace.clone(), b.name.clone());
                let again = self.remember("PodDisruptionBudget", Some(&ns), Some(&name), location);
                keep_last(&mut self.inputs.budgets, b, again, |x| {
                    x.namespace == ns && x.name == name
                });
            }
            Ok(Object::Standard(s)) => {
                let name = s.metadata.name.clone();
                let again =
                    self.remember("InfrastructureStandard", None, name.as_deref(), location);
                keep_last(&mut self.inputs.standards, *s, again, |x| {
                    x.metadata.name == name
                });
            }
            Ok(Object::Exception(e)) => {
                let ns = crate::engine::namespace_or_default(e.metadata.namespace.as_deref());
                let name = e.metadata.name.clone();
                let again =
                    self.remember("StandardException", Some(&ns), name.as_deref(), location);
                let mut e = *e;
                e.metadata.namespace = Some(ns);
                let ns = e.metadata.namespace.clone();
                keep_last(&mut self.inputs.exceptions, e, again, |x| {
                    x.metadata.name == name && x.metadata.namespace == ns
                });
            }
            Ok(Object::Baseline(b)) => {
                let name = b.metadata.name.clone();
                let again = self.remember("PatchBaseline", None, name.as_deref(), location);
                keep_last(&mut self.inputs.baselines, *b, again, |x| {
                    x.metadata.name == name
                });
            }
            Ok(Object::Ownership(o)) => {
                let ns = crate::engine::namespace_or_default(o.metadata.namespace.as_deref());
                let name = o.metadata.name.clone();
                let again = self.remember("ServiceOwnership", Some(&ns), name.as_deref(), location);
                let mut o = *o;
                o.metadata.namespace = Some(ns);
                let ns = o.metadata.namespace.clone();
                keep_last(&mut self.inputs.ownerships, o, again, |x| {
                    x.metadata.name == name && x.metadata.namespace == ns
                });
            }
            Ok(Object::Review(r)) => {
                let name = r.metadata.name.clone().unwrap_or_default();
                let again = self.remember("StandardReview", None, Some(&name), location);
                let review = std::sync::Arc::new(crate::engine::review::Review::from_object(*r));
                keep_last(&mut self.inputs.reviews, review, again, |x| x.name == name);
            }
            Ok(Object::Ignored) => self.ignored += 1,
            Ok(Object::Unknown(kind)) => *self.unknown_kinds.entry(kind).or_default() += 1,
        }
    }

    /// Records where a plumbline object was read; true when it was read
    /// before (the duplicate is recorded).
    fn remember(
        &mut self,
        kind: &str,
        namespace: Option<&str>,
        name: Option<&str>,
        location: Location,
    ) -> bool {
        let key = object_key(kind, namespace, name.unwrap_or_default());
        match self.object_locations.insert(key.clone(), location.clone()) {
            Some(earlier) => {
                self.duplicates.push(Duplicate {
                    key,
                    earlier,
                    later: location,
                });
                true
            }
            None => false,
        }
    }
}

/// Why a document that is not a Kubernetes object is an error in a file
/// named explicitly: naming a file says it holds manifests.
const FOREIGN: &str = "a directory walk skips documents like this; this file was named explicitly";
/// The same under `--strict`, where a walk refuses them too.
const FOREIGN_STRICT: &str = "--strict refuses documents like this";

/// Whether an object has no name (kubectl apply refuses it; two of them
/// would look like one object defined twice).
fn nameless(o: &Object) -> bool {
    let name = match o {
        Object::Workload(w) => Some(w.name.as_str()),
        Object::Namespace(n) => Some(n.name.as_str()),
        Object::Budget(b) => Some(b.name.as_str()),
        Object::Standard(x) => Some(x.metadata.name.as_deref().unwrap_or_default()),
        Object::Exception(x) => Some(x.metadata.name.as_deref().unwrap_or_default()),
        Object::Baseline(x) => Some(x.metadata.name.as_deref().unwrap_or_default()),
        Object::Ownership(x) => Some(x.metadata.name.as_deref().unwrap_or_default()),
        Object::Review(x) => Some(x.metadata.name.as_deref().unwrap_or_default()),
        Object::Ignored | Object::Unknown(_) | Object::Foreign(_) => None,
    };
    name.is_some_and(str::is_empty)
}

/// Adds `item`, or replaces the earlier definition of the same object when
/// `again` says there is one: the last definition wins.
fn keep_last<T>(items: &mut Vec<T>, item: T, again: bool, same: impl Fn(&T) -> bool) {
    match items.iter().position(same).filter(|_| again) {
        Some(i) => items[i] = item,
        None => items.push(item),
    }
}

/// The key of a plumbline object in `object_locations`.
pub fn object_key(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, text: String) -> Source {
        Source {
            name: name.into(),
            text,
            json: false,
            walked: false,
        }
    }

    /// Parsing on every core must not change what is read: the order of
    /// workloads, which of two definitions is kept, and where each error is.
    #[test]
    fn documents_read_in_parallel_come_out_in_input_order() {
        let doc = |i: usize| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{}, namespace: ns}}\nspec:\n  replicas: {i}\n  selector: {{}}\n  template: {{spec: {{containers: [{{name: c, image: nginx:1.{i}}}]}}}}\n",
                i % 700
            )
        };
        let text = |range: std::ops::Range<usize>| {
            range
                .map(|i| {
                    if i % 97 == 0 {
                        "kind: [unclosed\n".to_string()
                    } else {
                        doc(i)
                    }
                })
                .collect::<Vec<_>>()
                .join("---\n")
        };
        let sources = [
            source("a.yaml", text(0..1000)),
            source("b.yaml", text(1000..1500)),
        ];

        let mut parallel = Loaded::default();
        parallel.add_all(&sources, Take::All);

        let mut sequential = Loaded::default();
        for s in &sources {
            sequential.files += 1;
            for (location, chunk) in manifest::documents(&s.name, &s.text, s.json) {
                for (location, object) in manifest::read_document(location, chunk, s.json) {
                    sequential.add_object(location, object, Take::All, s.walked);
                }
            }
        }

        let replicas = |l: &Loaded| -> Vec<(String, Option<i32>)> {
            l.inputs
                .workloads
                .iter()
                .map(|w| (w.name.clone(), w.replicas))
                .collect()
        };
        assert_eq!(replicas(&parallel), replicas(&sequential));
        assert_eq!(parallel.workload_locations, sequential.workload_locations);
        assert_eq!(parallel.malformed, sequential.malformed);
        assert_eq!(parallel.duplicates, sequential.duplicates);
        assert_eq!(parallel.files, 2);
        // 700 names, each kept at its last definition; 16 documents malformed.
        assert_eq!(parallel.inputs.workloads.len(), 700);
        assert_eq!(parallel.malformed.len(), 16);
        assert_eq!(parallel.duplicates.len(), 1500 - 16 - 700);
        // app-0 (its first document is malformed) is kept as defined last.
        let app0 = parallel.inputs.workloads.iter().find(|w| w.name == "app-0");
        assert_eq!(app0.and_then(|w| w.replicas), Some(1400));
    }
}
