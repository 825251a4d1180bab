//! The `plumbline` command: the operator, the offline audit and the CRD generator.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// plumbline holds the workloads of a cluster to the platform team's standards.
#[derive(Debug, Parser)]
#[command(name = "plumbline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions of every plumbline kind as YAML.
    Crd {
        /// Write one file per kind into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { out_dir } => crd(out_dir),
    }
}

fn crd(out_dir: Option<PathBuf>) -> ExitCode {
    let result = match out_dir {
        None => plumbline::crdgen::stream().map(|yaml| print!("{yaml}")),
        Some(dir) => plumbline::crdgen::write_dir(&dir).map(|paths| {
            for path in paths {
                eprintln!("wrote {}", path.display());
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("plumbline crd: {err}");
            ExitCode::FAILURE
        }
    }
}
