//! The offline `plumbline audit`: manifest files → `crate::engine` → text,
//! JSON, SARIF or JUnit. No cluster access: the same manifests get the same
//! verdict here as in the cluster.

pub mod junit;
pub mod load;
pub mod manifest;
pub mod report;
pub mod sarif;
pub mod schema;
pub mod text;

use std::{io::Write, path::PathBuf};

use jiff::Timestamp;

pub use report::Report;

use crate::api::Severity;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: grouped by workload, with a summary line.
    Text,
    /// The report as JSON (shape: docs/audit.md).
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// JUnit XML, for CI test reports.
    Junit,
}

/// What `plumbline audit` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Files, directories and `-`.
    pub paths: Vec<PathBuf>,
    /// Where to take plumbline resources from (in addition to `paths`).
    pub standards: Vec<PathBuf>,
    /// Output format.
    pub format: Format,
    /// The time to evaluate at.
    pub at: Timestamp,
    /// Exit 1 when an open deviation is at or above this severity.
    pub fail_on: Option<Severity>,
    /// Colour the text output.
    pub color: bool,
    /// Documents that are not Kubernetes objects are errors in a directory
    /// walk too.
    pub strict: bool,
}

/// How the audit ended, as the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing at or above `--fail-on`.
    Pass = 0,
    /// An open deviation at or above `--fail-on`.
    Fail = 1,
    /// Unreadable input, malformed documents or a CEL rule that does not
    /// compile (the rest is still reported).
    Error = 2,
}

/// Loads, evaluates and writes the report to `out`; returns the outcome.
pub fn audit(options: &Options, out: &mut dyn Write) -> Result<Outcome, AuditError> {
    let mut loaded = load::Loaded::default();
    loaded.strict = options.strict;
    loaded.add_all(
        &load::read_sources(&options.standards)?,
        load::Take::PlumblineOnly,
    );
    loaded.add_all(&load::read_sources(&options.paths)?, load::Take::All);
    // Only CEL rules read a workload's document; without one, free the
    // texts before the report is built.
    if !loaded
        .inputs
        .standards
        .iter()
        .any(crate::engine::cel::has_cel_rule)
    {
        for w in &mut loaded.inputs.workloads {
            if let Some(w) = std::sync::Arc::get_mut(w) {
                w.source = None;
            }
        }
    }
    let evaluation = crate::engine::evaluate(&loaded.inputs, options.at);
    let report = Report::new(&loaded, evaluation);
    drop(loaded);
    match options.format {
        Format::Text => out.write_all(text::render(&report, options.color).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Format::Sarif => sarif::write(&report, out)?,
        Format::Junit => out.write_all(junit::render(&report).as_bytes())?,
    }
    out.flush()?;
    let rule_errors = report.standards.iter().any(|s| !s.rule_errors.is_empty());
    Ok(if !report.errors.is_empty() || rule_errors {
        Outcome::Error
    } else if options.fail_on.is_some_and(|s| report.fails_at(s)) {
        Outcome::Fail
    } else {
        Outcome::Pass
    })
}

/// Why the audit could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An input could not be read.
    #[error(transparent)]
    Load(#[from] load::LoadError),
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Write(#[from] std::io::Error),
}

/// Runs the audit, writing the report to standard output and problems to
/// standard error; returns the exit code.
pub fn run(options: &Options) -> Outcome {
    // Documents are parsed on every core. The calling thread is one of the
    // workers, so that what parsing frees on it is reused by the report
    // built there afterwards (each thread has its own allocator arena).
    // Failing to build the pool (it exists already) changes nothing.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match audit(options, &mut stdout) {
        Ok(outcome) => outcome,
        // A closed pipe (`| head`) just ends the output.
        Err(AuditError::Write(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            Outcome::Pass
        }
        Err(err) => {
            eprintln!("plumbline audit: {err}");
            Outcome::Error
        }
    }
}
