//! Reading the audit's inputs from disk and standard input (the audit's only
//! I/O besides printing), then sorting documents into engine inputs.

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
};

use super::manifest::{self, Location, Malformed, Object};
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
}

/// One input source: a file or standard input.
pub struct Source {
    /// Its name in messages.
    pub name: String,
    /// Its text.
    pub text: String,
    /// Whether it is JSON.
    pub json: bool,
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
            });
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let files = if meta.is_dir() {
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
            });
        }
    }
    Ok(sources)
}

/// The manifest files below a directory, sorted; hidden directories are skipped.
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
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if path.is_dir() {
                if !hidden {
                    stack.push(path);
                }
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
    /// Parses and sorts one source's documents, one at a time.
    pub fn add(&mut self, source: &Source, take: Take) {
        self.files += 1;
        manifest::read(
            &source.name,
            &source.text,
            source.json,
            &mut |location, object| {
                self.add_object(location, object, take);
            },
        );
    }

    fn add_object(&mut self, location: Location, object: Result<Object, String>, take: Take) {
        match object {
            Err(message) => self.malformed.push(Malformed { location, message }),
            Ok(Object::Workload(w)) if take == Take::All => {
                self.inputs.workloads.push(std::sync::Arc::new(*w));
                self.workload_locations.push(location);
            }
            Ok(Object::Workload(_)) | Ok(Object::Budget(_)) if take == Take::PlumblineOnly => {
                self.ignored += 1
            }
            Ok(Object::Workload(_)) => unreachable!("handled above"),
            Ok(Object::Namespace(n)) => {
                // The last definition of a namespace wins, as with kubectl apply.
                self.inputs.namespaces.retain(|x| x.name != n.name);
                self.inputs.namespaces.push(n);
            }
            Ok(Object::Budget(b)) => self.inputs.budgets.push(b),
            Ok(Object::Standard(s)) => {
                self.remember(
                    "InfrastructureStandard",
                    None,
                    s.metadata.name.as_deref(),
                    location,
                );
                self.inputs.standards.push(*s);
            }
            Ok(Object::Exception(e)) => {
                let ns = crate::engine::namespace_or_default(e.metadata.namespace.as_deref());
                self.remember(
                    "StandardException",
                    Some(&ns),
                    e.metadata.name.as_deref(),
                    location,
                );
                let mut e = *e;
                e.metadata.namespace = Some(ns);
                self.inputs.exceptions.push(e);
            }
            Ok(Object::Baseline(b)) => {
                self.remember("PatchBaseline", None, b.metadata.name.as_deref(), location);
                self.inputs.baselines.push(*b);
            }
            Ok(Object::Ownership(o)) => {
                let ns = crate::engine::namespace_or_default(o.metadata.namespace.as_deref());
                self.remember(
                    "ServiceOwnership",
                    Some(&ns),
                    o.metadata.name.as_deref(),
                    location,
                );
                let mut o = *o;
                o.metadata.namespace = Some(ns);
                self.inputs.ownerships.push(o);
            }
            Ok(Object::Review(r)) => {
                self.remember("StandardReview", None, r.metadata.name.as_deref(), location);
                self.inputs.reviews.push(std::sync::Arc::new(
                    crate::engine::review::Review::from_object(*r),
                ));
            }
            Ok(Object::Ignored) => self.ignored += 1,
            Ok(Object::Unknown(kind)) => *self.unknown_kinds.entry(kind).or_default() += 1,
        }
    }

    fn remember(
        &mut self,
        kind: &str,
        namespace: Option<&str>,
        name: Option<&str>,
        location: Location,
    ) {
        let key = object_key(kind, namespace, name.unwrap_or_default());
        self.object_locations.insert(key, location);
    }
}

/// The key of a plumbline object in `object_locations`.
pub fn object_key(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}
