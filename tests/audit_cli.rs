//! `plumbline audit` as a CI pipeline runs it: golden outputs of every format
//! on examples/, SARIF and JUnit that their consumers can read, exit codes,
//! malformed input, standard input. Set UPDATE_GOLDEN=1 to rewrite the
//! golden files after an intended change, and review the diff.

mod common;

use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
};

const AT: &str = "2026-11-24T12:00:00Z";

/// The files at the top of examples/ (examples/gitops/ is a platform
/// repository of its own, audited by tests/gitops.rs).
fn example_files() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| format!("examples/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
}

/// The arguments with `examples` standing for the example files (after
/// `--standards`, one `--standards` per file).
fn expand(args: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for arg in args {
        if *arg != "examples" {
            out.push((*arg).to_string());
        } else if out.last().is_some_and(|a| a == "--standards") {
            out.pop();
            for f in example_files() {
                out.extend(["--standards".to_string(), f]);
            }
        } else {
            out.extend(example_files());
        }
    }
    out
}

fn plumbline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(expand(args))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("plumbline runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn golden(name: &str, actual: &str) {
    common::golden_file(&Path::new("tests/golden").join(name), actual);
}

#[test]
fn golden_outputs_on_the_examples() {
    for (format, file) in [
        ("text", "examples.txt"),
        ("json", "examples.json"),
        ("sarif", "examples.sarif"),
        ("junit", "examples.junit.xml"),
    ] {
        let out = plumbline(&["audit", "examples", "--at", AT, "--format", format]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        golden(file, &stdout(&out));
    }
}

#[test]
fn json_has_a_stable_documented_shape() {
    let out = plumbline(&["audit", "examples", "--at", AT, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["schemaVersion"], "plumbline.dev/audit/v1");
    assert_eq!(v["evaluatedAt"], AT);
    for key in [
        "summary",
        "workloads",
        "standards",
        "exceptions",
        "baselines",
        "ownerships",
        "errors",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let gateway = v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "data-gateway")
        .expect("data-gateway");
    assert_eq!(gateway["patch"]["state"], "Overdue");
    assert_eq!(gateway["owner"]["state"], "Orphan");
    assert_eq!(gateway["source"]["file"], "examples/52-workloads-data.yaml");
    let review = v["standards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "production-readiness")
        .unwrap();
    assert!(
        review["reviewRequired"]
            .as_str()
            .unwrap()
            .contains("3 active exceptions")
    );
}

/// The parts of SARIF 2.1.0 that code-scanning tools require.
#[test]
fn sarif_is_valid_2_1_0() {
    let out = plumbline(&["audit", "examples", "--at", AT, "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "plumbline");
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "rule ids are unique");
    let results = run["results"].as_array().unwrap();
    assert!(results.len() > 10);
    let mut suppressed = 0;
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id, "ruleIndex points at its rule");
        assert!(["error", "warning", "note", "none"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .starts_with("examples/")
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        if let Some(s) = r.get("suppressions") {
            assert_eq!(s[0]["kind"], "external");
            suppressed += 1;
        }
    }
    assert!(
        suppressed >= 3,
        "excepted deviations are reported as suppressed"
    );
    for rule in ["patch/base-images", "ownership/orphan"] {
        assert!(
            results.iter().any(|r| r["ruleId"] == rule),
            "no {rule} result"
        );
    }
}

/// JUnit is well-formed XML whose counts add up.
#[test]
fn junit_is_well_formed_and_counts_add_up() {
    use quick_xml::{Reader, events::Event};
    let out = plumbline(&["audit", "examples", "--at", AT, "--format", "junit"]);
    let xml = stdout(&out);
    let mut reader = Reader::from_str(&xml);
    let (mut cases, mut failures, mut declared_tests, mut declared_failures) = (0, 0, 0, 0);
    let mut suites = 0;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.attributes()
                        .filter_map(Result::ok)
                        .find(|a| a.key.as_ref() == name)
                        .map(|a| a.value.to_string())
                };
                match e.name().as_ref() {
                    "testsuites" => {
                        declared_tests = attr("tests").unwrap().parse().unwrap();
                        declared_failures = attr("failures").unwrap().parse().unwrap();
                    }
                    "testsuite" => suites += 1,
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert!(
        suites >= 5,
        "a suite per standard and baseline, and ownership"
    );
    assert_eq!(cases, declared_tests);
    assert_eq!(failures, declared_failures);
    assert!(failures > 0);
}

#[test]
fn exit_codes_follow_fail_on() {
    let code = |args: &[&str]| plumbline(args).status.code();
    assert_eq!(
        code(&["audit", "examples", "--at", AT]),
        Some(0),
        "no --fail-on: report only"
    );
    assert_eq!(
        code(&["audit", "examples", "--at", AT, "--fail-on", "critical"]),
        Some(1)
    );
    assert_eq!(
        code(&["audit", "examples", "--at", AT, "--fail-on", "High"]),
        Some(1)
    );
    // payments-api complies with everything: nothing fails even at Low.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/50-workloads-payments.yaml"),
    )
    .unwrap();
    let api_only = text
        .split("\n---\n")
        .take(2)
        .collect::<Vec<_>>()
        .join("\n---\n");
    std::fs::write(dir.path().join("api.yaml"), api_only).unwrap();
    let path = dir.path().join("api.yaml");
    let out = plumbline(&[
        "audit",
        path.to_str().unwrap(),
        "--standards",
        "examples",
        "--at",
        AT,
        "--fail-on",
        "low",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("1 workload: 1 compliant"),
        "{}",
        stdout(&out)
    );
    // Usage errors and unreadable input.
    assert_eq!(code(&["audit", "examples", "--fail-on", "urgent"]), Some(2));
    assert_eq!(code(&["audit", "examples", "--at", "tomorrow"]), Some(2));
    assert_eq!(code(&["audit", "no/such/path"]), Some(2));
    assert_eq!(code(&["audit"]), Some(2));
}

#[test]
fn malformed_documents_are_reported_and_the_rest_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mixed.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: good}\nspec:\n  template: {spec: {containers: [{name: c, image: 'a:1'}]}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: [broken\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: typed}\nspec: {replicas: many}\n",
    )
    .unwrap();
    let path = dir.path().join("mixed.yaml");
    let out = plumbline(&[
        "audit",
        path.to_str().unwrap(),
        "--standards",
        "examples",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("a report despite the errors");
    assert_eq!(v["summary"]["workloads"], 1);
    assert_eq!(v["summary"]["skippedKinds"]["v1/Service"], 1);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(errors[0]["source"]["document"], 2);
    assert_eq!(errors[0]["source"]["line"], 7);
    assert!(errors[0]["message"].as_str().unwrap().contains("YAML"));
    assert_eq!(errors[1]["source"]["document"], 4);
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.replicas:"),
        "{errors:#?}"
    );
}

#[test]
fn standard_input_json_and_lists() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(expand(&[
            "audit",
            "-",
            "--standards",
            "examples",
            "--at",
            AT,
            "--format",
            "json",
        ]))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "one", "namespace": "payments"},
         "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "two", "namespace": "payments"},
         "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27.3"}]}}}},
    ]});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["workloads"], 2);
    assert_eq!(v["workloads"][0]["source"]["file"], "-");
    let rules: Vec<&str> = v["workloads"][0]["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"pinned-tags"), "{rules:?}");
}

/// The standard's entry in a JSON report.
fn standard_entry(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["standards"]
        .as_array()
        .expect("standards")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no standard {name} in {report}"))
        .clone()
}

#[test]
fn reviews_and_lifecycles_are_evaluated_at_the_audit_time() {
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["audit", "examples"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        serde_json::from_str(&stdout(&plumbline(&all))).expect("JSON")
    };
    // Without a review: the examples' three active exceptions require one.
    let none = standard_entry(&json(&["--at", AT]), "production-readiness");
    assert_eq!(none["review"]["reason"], "ActiveExceptionsAtThreshold");
    assert_eq!(none["review"]["required"], true);
    // The GitOps example's review lists two of them: the third is new to it.
    let gitops = "examples/gitops/platform/reviews/production-readiness-2026-12.yaml";
    let partial = standard_entry(&json(&[gitops, "--at", AT]), "production-readiness");
    assert_eq!(partial["review"]["reason"], "NewExceptionsSinceReview");
    assert!(
        partial["review"]["message"]
            .as_str()
            .unwrap()
            .ends_with(": checkout/cart-replicas; review the standard again"),
        "{partial}"
    );
    // A review listing none, with no creationTimestamp: made at the audit's
    // time, covering the exceptions active then, until its nextReviewBy.
    let text = std::fs::read_to_string(common::repo_root().join(gitops)).unwrap();
    let unlisted = text.split("  exceptions:").next().unwrap();
    let review = std::env::temp_dir().join(format!("plumbline-review-{}.yaml", std::process::id()));
    std::fs::write(&review, unlisted).unwrap();
    let review = review.to_str().unwrap();
    let reviewed = standard_entry(&json(&[review, "--at", AT]), "production-readiness");
    assert_eq!(reviewed["review"]["reason"], "Reviewed", "{reviewed}");
    assert_eq!(reviewed["review"]["required"], false);
    assert_eq!(
        reviewed["review"]["current"]["name"],
        "production-readiness-2026-12"
    );
    assert!(reviewed.get("reviewRequired").is_none());
    let due = standard_entry(
        &json(&[review, "--at", "2027-04-15T00:00:00Z"]),
        "production-readiness",
    );
    assert_eq!(due["review"]["reason"], "ReviewDue", "{due}");
    // The deprecated example: its migration, and past the sunset.
    let lifecycle = "examples/lifecycle/labels-v1-deprecated.yaml";
    let before = standard_entry(&json(&[lifecycle, "--at", AT]), "team-label");
    assert_eq!(before["stage"], "Deprecated");
    let m = &before["migration"];
    assert_eq!(
        (&m["supersededBy"], &m["sunsetPassed"]),
        (
            &serde_json::json!("service-labels"),
            &serde_json::json!(false)
        )
    );
    assert_eq!(
        m["matched"].as_i64().unwrap(),
        m["migrated"].as_i64().unwrap() + m["remaining"].as_i64().unwrap()
    );
    assert!(m["remaining"].as_i64().unwrap() > 0, "{m}");
    let after = standard_entry(
        &json(&[lifecycle, "--at", "2027-03-31T00:00:00Z"]),
        "team-label",
    );
    assert_eq!(after["migration"]["sunsetPassed"], true);
    // The text and the notes of SARIF and JUnit say the same.
    let text = stdout(&plumbline(&["audit", "examples", lifecycle, "--at", AT]));
    assert!(
        text.contains(
            "migration: deprecated (sunset 2027-03-31T00:00:00Z, successor service-labels)"
        ),
        "{text}"
    );
    let sarif = stdout(&plumbline(&[
        "audit", "examples", lifecycle, "--at", AT, "--format", "sarif",
    ]));
    assert!(sarif.contains("\"standard/review\""), "{sarif}");
    let junit = stdout(&plumbline(&[
        "audit", "examples", lifecycle, "--at", AT, "--format", "junit",
    ]));
    assert!(junit.contains("name=\"review and lifecycle\""), "{junit}");
}

/// The shell commands of the README's "Auditing manifests" block, as written.
fn readme_audit_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("## Auditing manifests")
        .nth(1)
        .expect("the README has an \"Auditing manifests\" section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block in it");
    block
        .lines()
        .filter(|l| l.contains("plumbline audit"))
        .map(str::to_string)
        .collect()
}

/// A new user's first commands: each README audit command, run as written
/// (in a copy of the checkout's layout, so its output files land there),
/// says what its comment says: no duplicate notes, no errors, the exit code
/// its flags promise.
#[test]
fn the_readmes_audit_commands_do_what_they_say() {
    let commands = readme_audit_commands();
    assert_eq!(commands.len(), 4, "{commands:#?}");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        dir.path().join("examples"),
    )
    .unwrap();
    let kubectl = format!("{:?}", common::kubectl().get_program());
    // The README's binary is the release build; the test runs this build.
    let binary = env!("CARGO_BIN_EXE_plumbline");
    let expected_exit = [0, 1, 0, 0];
    for (command, expected) in commands.iter().zip(expected_exit) {
        let script = command
            .replace("target/release/plumbline", binary)
            .replace("kustomize build", &format!("{kubectl} kustomize"));
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", &script])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("bash runs");
        let text = stdout(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{command}\n{text}\n{stderr}"
        );
        assert!(
            !text.contains("note:") && !text.contains("error:"),
            "{command}\n{text}"
        );
    }
    // The flat examples are the golden file's nine workloads; the team's
    // folder its one; the whole repository counts its two CI files.
    let flat = plumbline(&["audit", "examples", "--at", AT]);
    assert!(stdout(&flat).contains("9 workloads:"), "{}", stdout(&flat));
    let sarif: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("plumbline.sarif")).expect("the SARIF file"),
    )
    .expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let whole = plumbline(&["audit", "examples/gitops", "--format", "json"]);
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert_eq!(whole["summary"]["notKubernetes"], 2, "{}", whole["summary"]);
    assert_eq!(whole["summary"]["errors"], 0);
}

/// What lives beside manifests in a repository (CI pipelines, Helm values,
/// a list of things) is skipped and counted in a directory walk, an error in
/// a file named explicitly, and an error everywhere with --strict; so is a
/// document with only one of apiVersion and kind (a Helm Chart.yaml).
#[test]
fn documents_that_are_not_kubernetes_objects_are_skipped_in_a_walk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("ci")).unwrap();
    std::fs::write(
        repo.join("app.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: shop}\nspec:\n  template: {spec: {containers: [{name: c, image: 'a:1'}]}}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("ci/pipeline.yml"),
        "on: [push]\njobs:\n  audit: {runs-on: ubuntu-latest}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("values.yaml"),
        "- one\n- two\n---\njust a string\n",
    )
    .unwrap();
    let json = |args: &[&str]| {
        let out = plumbline(args);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        (out.status.code(), v)
    };
    let walk = repo.to_str().unwrap();
    let (code, v) = json(&["audit", walk, "--format", "json"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["summary"]["workloads"], 1);
    assert_eq!(v["summary"]["notKubernetes"], 3, "{}", v["summary"]);
    assert_eq!(v["summary"]["errors"], 0);
    let text = stdout(&plumbline(&["audit", walk]));
    assert!(
        text.contains("3 skipped (not Kubernetes objects); 0 errors"),
        "{text}"
    );

    let named = repo.join("ci/pipeline.yml");
    let (code, v) = json(&["audit", named.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(2));
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("not a Kubernetes object") && message.contains("named explicitly"),
        "{message}"
    );
    assert_eq!(v["errors"][0]["source"]["line"], 1);

    let (code, v) = json(&["audit", walk, "--strict", "--format", "json"]);
    assert_eq!(code, Some(2));
    assert_eq!(v["summary"]["errors"], 3, "{v:#}");
    assert_eq!(v["summary"]["notKubernetes"], 0);
    assert_eq!(v["summary"]["workloads"], 1, "the rest is still evaluated");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--strict")
    );

    // Half a header (a Helm Chart.yaml: apiVersion without kind) is
    // skipped in a walk too, and refused where named; hidden files are not read.
    std::fs::write(
        repo.join("Chart.yaml"),
        "apiVersion: v2\nname: shop\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(repo.join(".gitlab-ci.yml"), "stages: [audit]\n").unwrap();
    let (code, v) = json(&["audit", walk, "--format", "json"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["summary"]["notKubernetes"], 4, "{}", v["summary"]);
    let named = repo.join("Chart.yaml");
    let (code, v) = json(&["audit", named.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(2));
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("apiVersion and kind are required"),
        "{v:#}"
    );
}

/// An object defined twice (the same kind, namespace and name in two
/// files) is judged once, by its later definition, and the audit says so.
#[test]
fn an_object_defined_twice_is_judged_once_by_its_last_definition() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app, namespace: shop}}\nspec:\n  template: {{spec: {{containers: [{{name: c, image: '{image}'}}]}}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("a.yaml"),
        deployment("reg.example/app:latest"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        deployment("reg.example/app:1.2.3"),
    )
    .unwrap();
    let standard = "apiVersion: plumbline.dev/v1alpha1\nkind: InfrastructureStandard\nmetadata: {name: tags}\nspec:\n  rules:\n  - {id: no-latest, severity: High, description: pinned tags, images: {forbidLatestTag: true}}\n";
    std::fs::write(dir.path().join("s1.yaml"), standard).unwrap();
    std::fs::write(
        dir.path().join("s2.yaml"),
        standard.replace("severity: High", "severity: Low"),
    )
    .unwrap();
    let out = plumbline(&[
        "audit",
        dir.path().join("b.yaml").to_str().unwrap(),
        dir.path().join("a.yaml").to_str().unwrap(),
        dir.path().join("s1.yaml").to_str().unwrap(),
        dir.path().join("s2.yaml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert_eq!(v["summary"]["workloads"], 1, "{}", v["summary"]);
    assert_eq!(v["summary"]["duplicates"], 2);
    assert_eq!(v["standards"].as_array().unwrap().len(), 1);
    let duplicates = v["duplicates"].as_array().unwrap();
    assert_eq!(duplicates[0]["object"], "Deployment/shop/app");
    assert!(
        duplicates[0]["judged"]["file"]
            .as_str()
            .unwrap()
            .ends_with("a.yaml")
    );
    // a.yaml came last: its `latest` tag is judged, at s2's severity.
    let deviations = v["workloads"][0]["deviations"].as_array().unwrap();
    assert_eq!(deviations.len(), 1, "{deviations:#?}");
    assert_eq!(deviations[0]["severity"], "Low");
    let text = stdout(&plumbline(&[
        "audit",
        dir.path().join("b.yaml").to_str().unwrap(),
        dir.path().join("a.yaml").to_str().unwrap(),
    ]));
    assert!(
        text.contains("note: Deployment/shop/app is defined twice:"),
        "{text}"
    );
}

/// A nameless object is refused (kubectl apply would), and two
/// PodDisruptionBudgets of one name are one, the later.
#[test]
fn nameless_objects_are_refused_and_budgets_defined_twice_are_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {generateName: app-, namespace: shop}\nspec:\n  template: {spec: {containers: [{name: c, image: 'a:1'}]}}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pdb, namespace: shop}\nspec: {maxUnavailable: 0, selector: {matchLabels: {app: a}}}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pdb, namespace: shop}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: a}}}\n",
    )
    .unwrap();
    let out = plumbline(&[
        "audit",
        dir.path().join("a.yaml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(v["summary"]["workloads"], 0);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("metadata.name: Required value"),
        "{v:#}"
    );
    assert_eq!(v["duplicates"][0]["object"], "PodDisruptionBudget/shop/pdb");
}
