//! helm, built from its Go module (tests/helm/build.sh), run on the chart.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use serde_json::Value;

/// The helm binary.
pub fn helm_program() -> PathBuf {
    super::go_tool("helm")
}

/// Runs helm with its state in target/ (not the user's home).
pub fn helm(args: &[&str]) -> Output {
    let home = super::repo_root().join("target/helm-home");
    Command::new(helm_program())
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .current_dir(super::repo_root())
        .output()
        .expect("helm runs")
}

/// `helm template` of the chart into plumbline-system with these `--set`s.
pub fn template(sets: &[&str]) -> Output {
    template_with(sets, &[])
}

/// `template`, with more flags for helm.
pub fn template_with(sets: &[&str], flags: &[&str]) -> Output {
    let mut args = vec![
        "template",
        "plumbline",
        "charts/plumbline",
        "--namespace",
        "plumbline-system",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    args.extend(flags);
    helm(&args)
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The documents of a YAML stream, as JSON values (empty ones left out).
pub fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---")
        .filter_map(|doc| {
            let value: Value = serde_saphyr::from_str(doc).ok()?;
            value.is_object().then_some(value)
        })
        .collect()
}
