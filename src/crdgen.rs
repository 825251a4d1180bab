//! Renders the CRDs of `crate::api` as YAML: for `plumbline crd`, for
//! `make crds` (one file per kind under `crds/`), and for the drift test.
//! Pure apart from [`write_dir`], which writes files.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// The first line of every generated file.
pub const HEADER: &str =
    "# Generated from src/api by `plumbline crd`. Do not edit: run `make crds`.\n";

/// Errors while rendering or writing CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdGenError {
    /// A CRD could not be rendered as YAML.
    #[error("cannot render the {kind} CRD as YAML: {source}")]
    Render {
        /// The kind.
        kind: &'static str,
        /// Why.
        source: serde_saphyr::SerializeError,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// One rendered CRD.
#[derive(Debug, Clone)]
pub struct RenderedCrd {
    /// The kind it defines.
    pub kind: &'static str,
    /// The file name under `crds/`: the CRD's name plus `.yaml`.
    pub file_name: String,
    /// The YAML, header included.
    pub yaml: String,
}

/// Renders one CRD.
pub fn render(
    kind: &'static str,
    crd: &CustomResourceDefinition,
) -> Result<RenderedCrd, CrdGenError> {
    let body =
        serde_saphyr::to_string(crd).map_err(|source| CrdGenError::Render { kind, source })?;
    let name = crd.metadata.name.as_deref().unwrap_or(kind);
    Ok(RenderedCrd {
        kind,
        file_name: format!("{name}.yaml"),
        yaml: format!("{HEADER}{body}"),
    })
}

/// Renders every CRD of the API.
pub fn render_all() -> Result<Vec<RenderedCrd>, CrdGenError> {
    crate::api::crds()
        .iter()
        .map(|(kind, crd)| render(kind, crd))
        .collect()
}

/// All CRDs as one multi-document YAML stream, as `plumbline crd` prints it:
/// the files of `crds/` in name order, each after a `---` line.
pub fn stream() -> Result<String, CrdGenError> {
    let mut crds = render_all()?;
    crds.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(crds
        .into_iter()
        .map(|crd| format!("---\n{}", crd.yaml))
        .collect())
}

/// Writes one file per kind into `dir`, replacing what is there, and returns their paths.
pub fn write_dir(dir: &Path) -> Result<Vec<PathBuf>, CrdGenError> {
    fs::create_dir_all(dir).map_err(|source| CrdGenError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    render_all()?
        .into_iter()
        .map(|crd| {
            let path = dir.join(&crd.file_name);
            fs::write(&path, crd.yaml).map_err(|source| CrdGenError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}
