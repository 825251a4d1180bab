//! Shared helpers for the integration tests: a client for the real local
//! control plane (started by `tests/controlplane/up.sh`), CRD installation,
//! and reading YAML fixtures.
//!
//! These tests never skip: when the control plane cannot be started or
//! reached, they fail with the reason.
#![allow(dead_code)] // each test binary uses a different subset

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, Config,
    api::{Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::wait::{await_condition, conditions},
};

/// The field manager the tests apply with.
pub const MANAGER: &str = "plumbline-tests";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The control plane's state directory: `PLUMBLINE_CONTROLPLANE_DIR`, or the
/// one `make test` uses.
pub fn controlplane_dir() -> PathBuf {
    std::env::var_os("PLUMBLINE_CONTROLPLANE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/controlplane-test"))
}

/// Makes sure the local control plane runs (starting it when it does not:
/// the script is idempotent) and returns its kubeconfig path.
pub fn ensure_controlplane() -> PathBuf {
    let dir = controlplane_dir();
    let status = Command::new("bash")
        .arg(repo_root().join("tests/controlplane/up.sh"))
        .env("PLUMBLINE_CONTROLPLANE_DIR", &dir)
        .status()
        .expect("cannot run tests/controlplane/up.sh: is bash installed?");
    assert!(
        status.success(),
        "the local control plane did not start ({status}); see the messages above and {}/logs",
        dir.display()
    );
    dir.join("kubeconfig")
}

/// A client for the local control plane, as its administrator.
pub async fn client() -> Client {
    let kubeconfig_path = ensure_controlplane();
    let kubeconfig = Kubeconfig::read_from(&kubeconfig_path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", kubeconfig_path.display()));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("the control plane's kubeconfig is not usable");
    Client::try_from(config).expect("cannot build a client for the control plane")
}

/// A kubeconfig for one of the users of the control plane's token file
/// (`alice`, `bob`, `carol`, `dave`, `operator`), who hold no rights until RBAC
/// grants them some; written next to the admin's, and its path returned.
pub fn kubeconfig_as(user: &str) -> PathBuf {
    let dir = controlplane_dir();
    let tokens = std::fs::read_to_string(dir.join("pki/tokens.csv"))
        .expect("the control plane's token file");
    let token = tokens
        .lines()
        .find_map(|line| {
            let fields: Vec<_> = line.split(',').collect();
            (fields.get(1) == Some(&user)).then(|| fields[0].to_string())
        })
        .unwrap_or_else(|| panic!("no token for user {user}"));
    kubeconfig_with_token(user, &token)
}

/// A kubeconfig with this bearer token (a user's, or a service account's
/// minted with the TokenRequest API), saved as `kubeconfig-<name>`.
pub fn kubeconfig_with_token(name: &str, token: &str) -> PathBuf {
    let dir = controlplane_dir();
    let admin =
        std::fs::read_to_string(dir.join("kubeconfig")).expect("the control plane's kubeconfig");
    let text: String = admin
        .lines()
        .map(|line| match line.split_once("token: ") {
            Some((indent, _)) => format!("{indent}token: {token}\n"),
            None => format!("{line}\n"),
        })
        .collect();
    let path = dir.join(format!("kubeconfig-{name}"));
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// A client for the local control plane acting as one of the users of its token file.
pub async fn client_as(user: &str) -> Client {
    client_from(&kubeconfig_as(user)).await
}

/// A client from a kubeconfig file.
pub async fn client_from(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("a kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a usable kubeconfig");
    Client::try_from(config).expect("a client")
}

/// Applies every YAML file of `paths` (files or directories) as the
/// administrator with `kubectl apply --server-side`, and panics with kubectl's
/// message when anything is refused.
pub fn kubectl_apply(paths: &[&str]) {
    let mut cmd = kubectl();
    cmd.args(["apply", "--server-side", "--field-manager", MANAGER]);
    for path in paths {
        cmd.arg("-f").arg(repo_root().join(path));
    }
    let output = cmd.output().expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl apply {paths:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The kubectl built for the control plane, with its kubeconfig.
pub fn kubectl() -> Command {
    let dir = controlplane_dir();
    let bin = std::fs::read_to_string(dir.join("bin")).unwrap_or_else(|err| {
        panic!(
            "{}/bin is missing ({err}): is the control plane up?",
            dir.display()
        )
    });
    let mut cmd = Command::new(Path::new(bin.trim()).join("kubectl"));
    cmd.arg("--kubeconfig").arg(dir.join("kubeconfig"));
    cmd
}

/// Applies every plumbline CRD with server-side apply and waits until each is Established.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(MANAGER).force();
    for (kind, crd) in plumbline::api::crds() {
        let name = crd.metadata.name.clone().expect("generated CRDs are named");
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|err| panic!("the {kind} CRD was refused: {err}"));
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .unwrap_or_else(|_| panic!("the {kind} CRD was not Established within 30s"))
            .unwrap_or_else(|err| panic!("watching the {kind} CRD failed: {err}"));
    }
}

/// The cluster examples: the `.yaml` files at the top of examples/, sorted
/// (examples/gitops/ is a platform repository of its own, with Argo CD and
/// Flux objects, checked by tests/gitops.rs).
pub fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// These files read as `plumbline audit` reads them, taking `take` of
/// each; a malformed document fails the test.
pub fn load(
    files: &[PathBuf],
    take: plumbline::audit::load::Take,
) -> plumbline::audit::load::Loaded {
    let mut loaded = plumbline::audit::load::Loaded::default();
    for path in files {
        loaded.add(
            &plumbline::audit::load::Source {
                name: path.display().to_string(),
                text: std::fs::read_to_string(path)
                    .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display())),
                json: false,
                walked: false,
            },
            take,
        );
    }
    assert!(loaded.malformed.is_empty(), "{:?}", loaded.malformed);
    loaded
}

/// Every `.yaml` file below `dir`, sorted by path.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The YAML documents of a file, as JSON values.
pub fn documents(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_saphyr::from_multiple::<serde_json::Value>(&text)
        .unwrap_or_else(|err| panic!("{} is not valid YAML: {err}", path.display()))
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}
pub mod helm;
pub mod operator;
pub mod verdicts;

/// A test tool built from its Go module by `tests/<name>/build.sh` (or
/// taken from the cache), once per test binary: `health` (kstatus and Argo
/// CD's Lua health code) or `helm`.
pub fn go_tool(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let script = repo_root().join(format!("tests/{name}/build.sh"));
    let out = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (is Go installed? see above)",
        script.display()
    );
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    built.push((name.to_string(), path.clone()));
    path
}

/// Runs a program with `input` on its standard input; its output.
pub fn run_with_input(mut command: Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{:?} does not start: {err}", command.get_program()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("writing to its standard input");
    child.wait_with_output().expect("it finishes")
}

/// kubectl with `input` on its standard input; its output.
pub fn kubectl_with_input(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut command = kubectl();
    command.args(args);
    run_with_input(command, input)
}

/// `kubectl kustomize` of a directory of the repository: the YAML stream.
pub fn kustomize(dir: &str) -> Vec<u8> {
    let built = kubectl()
        .arg("kustomize")
        .arg(repo_root().join(dir))
        .output()
        .expect("kubectl runs");
    assert!(
        built.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    built.stdout
}

/// `kubectl apply --server-side --dry-run=server` of a YAML stream: what
/// the API server would make of it, changing nothing.
pub fn server_dry_run(yaml: &[u8]) -> std::process::Output {
    kubectl_with_input(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager",
            MANAGER,
            "-f",
            "-",
        ],
        yaml,
    )
}

/// Compares `actual` with the golden file at `path` (relative to the
/// repository); with UPDATE_GOLDEN set, writes it instead. Panics at the
/// first differing line, saying how to accept an intended change.
pub fn golden_file(path: &Path, actual: &str) {
    let path = repo_root().join(path);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("golden dir");
        }
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\nexpected: {:?}\nactual:   {:?}\n(run with UPDATE_GOLDEN=1 after an intended change, and review the diff)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}
