//! Container image references: parsing, normalisation (`nginx`,
//! `docker.io/library/nginx` and `index.docker.io/library/nginx` are one
//! repository) and tag versions for patch baselines. Pure.

use std::{cmp::Ordering, fmt};

/// Docker Hub, as every image without a registry is pulled from.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host (and port), normalised: `docker.io` for Docker Hub.
    pub registry: String,
    /// The path within the registry, with `library/` for official Hub images.
    pub path: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference as written in a pod spec. Never fails: anything
    /// unusual ends up in `path`, so checks can still name it.
    pub fn parse(reference: &str) -> Self {
        let reference = reference.trim();
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_string())),
            None => (reference, None),
        };
        // A tag follows the last ':' after the last '/'; a ':' before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (normalise_registry(first), path.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let path = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Self {
            registry,
            path,
            tag: tag.filter(|t| !t.is_empty()),
            digest,
        }
    }

    /// `registry/path`, e.g. `docker.io/library/nginx`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The version in the tag, or why there is none.
    pub fn version(&self) -> Result<Version, String> {
        match (&self.tag, &self.digest) {
            (None, Some(_)) => Err(
                "the image is pinned by digest only; its version cannot be read from a tag".into(),
            ),
            (None, None) => {
                Err("the image has no tag (it means `latest`); its version is unknown".into())
            }
            (Some(tag), _) if tag == "latest" => Err("the tag `latest` names no version".into()),
            (Some(tag), _) => {
                Version::parse(tag).ok_or_else(|| format!("the tag `{tag}` is not a version"))
            }
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Docker Hub has several names; they are one registry.
fn normalise_registry(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DEFAULT_REGISTRY.to_string()
        }
        other => other.to_ascii_lowercase(),
    }
}

/// Normalises a repository as written in a baseline, an exception or an
/// allowed-registry prefix: `nginx` becomes `docker.io/library/nginx`.
pub fn normalise_repository(repository: &str) -> String {
    ImageRef::parse(repository.trim_end_matches('/')).repository()
}

/// Normalises a registry prefix (`docker.io`, `ghcr.io/org`): a prefix is
/// never given `library/`, since `docker.io` alone must match every Hub image.
pub fn normalise_prefix(prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    match prefix.split_once('/') {
        Some((host, rest)) => format!("{}/{rest}", normalise_registry(host)),
        None => normalise_registry(prefix),
    }
}

/// Whether `repository` (normalised) lies under `prefix` (normalised), on a path boundary.
pub fn under_prefix(repository: &str, prefix: &str) -> bool {
    repository
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A version read from a tag: up to four numeric components; missing ones are
/// zero, and a suffix (`-alpine`, `-slim-bookworm`) is ignored. Equality and
/// order compare the numbers only, so `v1.25` equals `1.25.0-alpine`.
#[derive(Clone, Debug)]
pub struct Version {
    parts: [u64; 4],
    text: String,
}

impl Version {
    /// Parses `1.25.4`, `v1.25.4`, `1.25.4-alpine`, `1.25`, `16`.
    pub fn parse(tag: &str) -> Option<Self> {
        let body = tag
            .strip_prefix('v')
            .or_else(|| tag.strip_prefix('V'))
            .unwrap_or(tag);
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (numeric, suffix) = body.split_at(end);
        // A suffix must be separated (`-alpine`, `+build`, `_1`), not glued (`12abc`).
        if numeric.is_empty() || !(suffix.is_empty() || suffix.starts_with(['-', '+', '_'])) {
            return None;
        }
        let mut parts = [0u64; 4];
        for (i, piece) in numeric.split('.').enumerate() {
            if i == parts.len() || piece.is_empty() {
                return None;
            }
            parts[i] = piece.parse().ok()?;
        }
        Some(Self {
            parts,
            text: tag.to_string(),
        })
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for Version {}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_images_normalise_to_one_repository() {
        for image in [
            "nginx",
            "nginx:1.27",
            "docker.io/nginx:1.27",
            "docker.io/library/nginx",
            "index.docker.io/library/nginx:1.27@sha256:abc",
            "registry-1.docker.io/library/nginx",
        ] {
            assert_eq!(
                ImageRef::parse(image).repository(),
                "docker.io/library/nginx",
                "{image}"
            );
        }
        assert_eq!(
            ImageRef::parse("bitnami/redis:7").repository(),
            "docker.io/bitnami/redis"
        );
    }

    #[test]
    fn registries_ports_tags_and_digests() {
        let r = ImageRef::parse("localhost:5000/team/app:2.1.0@sha256:0123");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag.as_deref(), Some("2.1.0"));
        assert_eq!(r.digest.as_deref(), Some("sha256:0123"));
        let r = ImageRef::parse("registry.example.com:443/base/python");
        assert_eq!(r.repository(), "registry.example.com:443/base/python");
        assert_eq!(r.tag, None);
        assert_eq!(r.to_string(), "registry.example.com:443/base/python");
    }

    #[test]
    fn versions_compare_numerically_and_ignore_suffixes() {
        let v = |s| Version::parse(s).unwrap_or_else(|| panic!("{s} should parse"));
        assert!(v("1.25.4") < v("1.27.3"));
        assert_eq!(v("v1.25.4"), v("1.25.4"));
        assert_eq!(v("1.25.4-alpine"), v("1.25.4"));
        assert_eq!(v("1.25"), v("1.25.0"));
        assert!(v("1.10.0") > v("1.9.9"), "numeric, not lexical");
        assert!(v("16.6") > v("16.4"));
        assert!(v("3.12.8-slim-bookworm") >= v("3.12.8"));
        for bad in [
            "latest",
            "stable",
            "",
            "1..2",
            "1.2.3.4.5",
            "12abc",
            "alpine-3.18",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn unknown_versions_say_why() {
        assert!(
            ImageRef::parse("nginx")
                .version()
                .unwrap_err()
                .contains("no tag")
        );
        assert!(
            ImageRef::parse("nginx:latest")
                .version()
                .unwrap_err()
                .contains("`latest`")
        );
        assert!(
            ImageRef::parse("nginx@sha256:abc")
                .version()
                .unwrap_err()
                .contains("digest")
        );
        assert!(
            ImageRef::parse("nginx:mainline")
                .version()
                .unwrap_err()
                .contains("not a version")
        );
    }

    #[test]
    fn prefixes_match_on_path_boundaries() {
        let repo = normalise_repository("registry.example.com/payments/api");
        assert!(under_prefix(
            &repo,
            &normalise_prefix("registry.example.com")
        ));
        assert!(under_prefix(
            &repo,
            &normalise_prefix("registry.example.com/payments/")
        ));
        assert!(!under_prefix(
            &repo,
            &normalise_prefix("registry.example.co")
        ));
        assert!(!under_prefix(
            &repo,
            &normalise_prefix("registry.example.com/pay")
        ));
        let hub = normalise_repository("nginx");
        assert!(under_prefix(&hub, &normalise_prefix("docker.io/library")));
        assert!(under_prefix(&hub, &normalise_prefix("index.docker.io")));
    }
}
