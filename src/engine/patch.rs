//! PatchBaselines compiled once (image entries, minimum versions, rings and
//! deadlines) and the patch state of one image against one entry. Pure.

use jiff::{SignedDuration, Timestamp};
use regex::Regex;

use super::{
    checks::compile_pattern,
    image::{ImageRef, Version, normalise_repository},
    matcher::Matcher,
    selector::{Labels, Selector},
};
use crate::api::{PatchBaseline, PatchState};

/// Which repositories an image entry names.
#[derive(Clone, Debug)]
pub enum Repository {
    /// One repository, normalised.
    Exact(String),
    /// A pattern over normalised repositories.
    Pattern(Regex),
}

/// One image entry, compiled.
#[derive(Clone, Debug)]
pub struct ImageEntry {
    /// Which repositories.
    pub repository: Repository,
    /// The least version, parsed.
    pub minimum: Version,
    /// The least version as written.
    pub minimum_text: String,
    /// From when it applies.
    pub effective_from: Timestamp,
}

impl ImageEntry {
    /// Whether it names the repository (normalised).
    pub fn names(&self, repository: &str) -> bool {
        match &self.repository {
            Repository::Exact(r) => r == repository,
            Repository::Pattern(re) => re.is_match(repository),
        }
    }
}

/// A rollout ring, compiled.
#[derive(Clone, Debug)]
pub struct CompiledRing {
    /// Its name.
    pub name: String,
    /// Its namespaces.
    pub namespaces: Selector,
    /// Its deadline after the effective date.
    pub deadline: SignedDuration,
}

/// A baseline, compiled. `compiled` is every problem found when the spec is invalid.
#[derive(Clone, Debug)]
pub struct CompiledBaseline {
    /// Its name.
    pub name: String,
    /// Its rings' names, in spec order.
    pub ring_names: Vec<String>,
    /// Match, images and rings, or every problem found.
    pub compiled: Result<(Matcher, Vec<ImageEntry>, Vec<CompiledRing>), String>,
}

impl CompiledBaseline {
    /// Compiles a baseline.
    pub fn new(b: &PatchBaseline) -> Self {
        let mut errors = Vec::new();
        let matcher = Matcher::compile(&b.spec.match_)
            .map_err(|e| errors.push(e.to_string()))
            .ok();
        let mut images = Vec::new();
        for (i, img) in b.spec.images.iter().enumerate() {
            let at = format!("spec.images[{i}]");
            let repository = match (&img.repository, &img.repository_pattern) {
                (Some(r), None) => Some(Repository::Exact(normalise_repository(r))),
                (None, Some(p)) => compile_pattern(p, &format!("{at}.repositoryPattern"))
                    .map(Repository::Pattern)
                    .map_err(|e| errors.push(e.to_string()))
                    .ok(),
                _ => {
                    errors.push(format!(
                        "{at}: set exactly one of repository or repositoryPattern"
                    ));
                    None
                }
            };
            let minimum = Version::parse(&img.minimum_version);
            if minimum.is_none() {
                errors.push(format!(
                    "{at}.minimumVersion: `{}` is not a version such as 1.27.3",
                    img.minimum_version
                ));
            }
            if let (Some(repository), Some(minimum)) = (repository, minimum) {
                images.push(ImageEntry {
                    repository,
                    minimum,
                    minimum_text: img.minimum_version.clone(),
                    effective_from: img.effective_from.0,
                });
            }
        }
        let mut rings = Vec::new();
        for (i, ring) in b.spec.rings.iter().enumerate() {
            let at = format!("spec.rings[{i}]");
            let namespaces = Selector::compile_optional(
                ring.namespace_selector.as_ref(),
                &format!("{at}.namespaceSelector"),
            );
            if ring.deadline.is_negative() {
                errors.push(format!("{at}.deadline: must not be negative"));
            }
            let deadline = SignedDuration::try_from(std::time::Duration::from(ring.deadline));
            match (namespaces, deadline) {
                (Ok(namespaces), Ok(deadline)) => rings.push(CompiledRing {
                    name: ring.name.clone(),
                    namespaces,
                    deadline,
                }),
                (Err(e), _) => errors.push(e.to_string()),
                (_, Err(_)) => errors.push(format!("{at}.deadline: too long")),
            }
        }
        Self {
            name: b.metadata.name.clone().unwrap_or_default(),
            ring_names: b.spec.rings.iter().map(|r| r.name.clone()).collect(),
            compiled: match (matcher, errors.is_empty()) {
                (Some(m), true) => Ok((m, images, rings)),
                _ => Err(errors.join("; ")),
            },
        }
    }

    /// Whether an image entry names this repository (normalised).
    pub fn names_repository(&self, repository: &str) -> bool {
        self.compiled
            .as_ref()
            .is_ok_and(|(_, images, _)| images.iter().any(|i| i.names(repository)))
    }
}

/// The first ring whose namespaces include the namespace with these labels.
pub fn ring_of<'a>(
    rings: &'a [CompiledRing],
    namespace_labels: &Labels,
) -> Option<&'a CompiledRing> {
    rings
        .iter()
        .find(|r| r.namespaces.matches(namespace_labels))
}

/// The state of one image against one entry at `now`, before exceptions:
/// the state, its due date, and why (for Unknown).
pub fn image_state(
    image: &ImageRef,
    entry: &ImageEntry,
    ring: Option<&CompiledRing>,
    now: Timestamp,
) -> (PatchState, Option<Timestamp>, Option<String>) {
    let version = match image.version() {
        Ok(v) => v,
        Err(why) => return (PatchState::Unknown, None, Some(why)),
    };
    if version >= entry.minimum {
        return (PatchState::Current, None, None);
    }
    let due = ring
        .and_then(|r| entry.effective_from.checked_add(r.deadline).ok())
        .unwrap_or(entry.effective_from);
    let state = if now < due {
        PatchState::Behind
    } else {
        PatchState::Overdue
    };
    (
        state,
        Some(due),
        Some(format!("runs {version}, below {}", entry.minimum_text)),
    )
}
