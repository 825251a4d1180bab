//! The offline `plumbline audit`: manifest files → `crate::engine` → text,
//! JSON, SARIF or JUnit. No cluster access: the same manifests get the same
//! verdict here as in the cluster.

pub mod junit;
pub mod load;
pub mod manifest;
pub mod report;
pub mod sarif;
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
}

/// How the audit ended, as the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing at or above `--fail-on`.
    Pass = 0,
    /// An open deviation at or above `--fail-on`.
    Fail = 1,
    /// Unreadable input or malformed documents (the rest is still reported).
    Error = 2,
}

/// Loads, evaluates and renders; returns the rendered report and the outcome.
pub fn audit(options: &Options) -> Result<(String, Outcome), load::LoadError> {
    let mut loaded = load::Loaded::default();
    for source in load::read_sources(&options.standards)? {
        loaded.add(&source, load::Take::PlumblineOnly);
    }
    for source in load::read_sources(&options.paths)? {
        loaded.add(&source, load::Take::All);
    }
    let evaluation = crate::engine::evaluate(&loaded.inputs, options.at);
    let report = Report::new(&loaded, &evaluation);
    let rendered = match options.format {
        Format::Text => text::render(&report, options.color),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report).expect("the report serialises");
            s.push('\n');
            s
        }
        Format::Sarif => sarif::render(&report),
        Format::Junit => junit::render(&report),
    };
    let outcome = if !report.errors.is_empty() {
        Outcome::Error
    } else if options.fail_on.is_some_and(|s| report.fails_at(s)) {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    Ok((rendered, outcome))
}

/// Runs the audit, printing the report to standard output and problems to
/// standard error; returns the exit code.
pub fn run(options: &Options) -> Outcome {
    match audit(options) {
        Ok((rendered, outcome)) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = stdout.write_all(rendered.as_bytes());
            let _ = stdout.flush();
            outcome
        }
        Err(err) => {
            eprintln!("plumbline audit: {err}");
            Outcome::Error
        }
    }
}
