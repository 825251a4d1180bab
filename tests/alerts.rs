//! The chart's alerts and Grafana dashboard, tested with Prometheus's own
//! tools (built from its Go module by tests/prometheus/build.sh): `promtool
//! check rules` and `promtool test rules` (tests/fixtures/alerts) on the
//! PrometheusRule the chart renders; every PromQL expression of the
//! dashboard and the rules parsed by Prometheus's parser; every metric they
//! name served by the operator's /metrics; every runbook a section of
//! docs/operator.md.

mod common;

use std::{collections::BTreeSet, path::PathBuf, process::Command, sync::Arc};

use common::helm::{documents, template, text};
use serde_json::Value;

fn prometheus_tool(name: &str) -> PathBuf {
    common::go_tool("prometheus").join(name)
}

/// The PrometheusRule and the dashboard ConfigMap the chart renders.
fn rendered(sets: &[&str]) -> Vec<Value> {
    let mut all = vec![
        "alerts.enabled=true",
        "grafanaDashboard.enabled=true",
        "metrics.serviceMonitor.enabled=true",
    ];
    all.extend(sets);
    let out = template(&all);
    assert!(out.status.success(), "{}", text(&out));
    documents(&String::from_utf8_lossy(&out.stdout))
}

fn rule(docs: &[Value]) -> Value {
    docs.iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("a PrometheusRule")
        .clone()
}

fn alerts(rule: &Value) -> Vec<Value> {
    rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("the tool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}:\n{said}");
    said
}

#[test]
fn the_alerts_pass_promtool_check_and_their_unit_tests() {
    let rule = rule(&rendered(&[]));
    let dir = tempfile::tempdir().unwrap();
    // JSON is YAML: the rule file is the PrometheusRule's spec.
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_json::to_string_pretty(&rule["spec"]).unwrap(),
    )
    .unwrap();
    let tests = common::repo_root().join("tests/fixtures/alerts/plumbline_test.yaml");
    std::fs::copy(&tests, dir.path().join("plumbline_test.yaml")).unwrap();
    let mut check = Command::new(prometheus_tool("promtool"));
    check
        .args(["check", "rules", "rules.yaml"])
        .current_dir(dir.path());
    let said = run(check);
    assert!(said.contains("SUCCESS: 10 rules found"), "{said}");
    let mut test = Command::new(prometheus_tool("promtool"));
    test.args(["test", "rules", "plumbline_test.yaml"])
        .current_dir(dir.path());
    let said = run(test);
    assert!(said.contains("SUCCESS"), "{said}");
    // Every alert has a case where it fires and one where it must not.
    let cases = std::fs::read_to_string(&tests).unwrap();
    for a in alerts(&rule) {
        let name = a["alert"].as_str().unwrap();
        let tested = cases.matches(&format!("alertname: {name}\n")).count();
        assert!(tested >= 2, "{name} has {tested} promtool cases");
        for key in ["summary", "description", "runbook_url"] {
            assert!(a["annotations"][key].is_string(), "{name} has no {key}");
        }
        assert!(
            a["labels"]["severity"].is_string(),
            "{name} has no severity"
        );
    }
}

#[test]
fn values_reach_the_alerts_and_wrong_ones_are_refused() {
    let rule = rule(&rendered(&[
        "alerts.job=platform/plumbline",
        "alerts.productionRings=prod-.*",
        "alerts.reviewOverdueAfterHours=336",
        "alerts.labels.release=prometheus",
    ]));
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let all = alerts(&rule);
    let expr = |name: &str| {
        let alert = all.iter().find(|a| a["alert"] == name).unwrap();
        alert["expr"].as_str().unwrap().to_string()
    };
    let review = expr("PlumblineStandardReviewOverdue");
    assert!(
        review.contains("[336h:10m]") && review.contains(">= 1915"),
        "{review}"
    );
    let patch = expr("PlumblinePatchOverdueInProduction");
    assert!(
        patch.contains("job=\"platform/plumbline\"") && patch.contains("ring=~\"prod-.*\""),
        "{patch}"
    );
    // Alerts on metrics nobody scrapes would only say "down".
    let out = template(&["alerts.enabled=true"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("metrics.serviceMonitor.enabled=true"),
        "{}",
        text(&out)
    );
    for set in [
        "alerts.job=a\"b",
        "alerts.reviewOverdueAfterHours=a week",
        "alerts.runbookUrl=docs/operator.md",
        "grafanaDashboard.sidecar=x",
    ] {
        let out = template(&[
            "alerts.enabled=true",
            "metrics.serviceMonitor.enabled=true",
            set,
        ]);
        assert!(!out.status.success(), "{set} was accepted");
    }
    // Off by default: neither is rendered.
    let out = template(&[]);
    let docs = documents(&String::from_utf8_lossy(&out.stdout));
    assert!(!docs.iter().any(|d| d["kind"] == "PrometheusRule"));
    assert!(
        !docs
            .iter()
            .any(|d| d["metadata"]["name"] == "plumbline-grafana-dashboard")
    );
}

/// The metric names the operator's /metrics serves, after one evaluation of
/// the examples and one of each recorded event.
async fn exposed() -> BTreeSet<String> {
    use plumbline::{
        audit::load::{Loaded, Source, Take},
        controller::metrics::{Metrics, router},
    };
    let mut loaded = Loaded::default();
    let mut files = common::example_files();
    // A deprecated standard, for the migration gauge.
    files.push(common::repo_root().join("examples/lifecycle/labels-v1-deprecated.yaml"));
    let mut sources: Vec<(String, String)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    // A review as the API server stores it (with its creation time), for
    // the days-since-review gauge.
    sources.push((
        "review.yaml".into(),
        "apiVersion: plumbline.dev/v1alpha1\nkind: StandardReview\nmetadata: {name: r1, creationTimestamp: '2026-11-01T00:00:00Z'}\nspec: {standard: baseline-security, outcome: Keep, reviewedBy: carol, summary: Still fits.}\n".into(),
    ));
    for (name, text) in sources {
        loaded.add(
            &Source {
                name,
                text,
                json: false,
                walked: false,
            },
            Take::All,
        );
    }
    assert!(loaded.malformed.is_empty(), "{:?}", loaded.malformed);
    let eval = plumbline::engine::evaluate(&loaded.inputs, "2026-11-24T12:00:00Z".parse().unwrap());
    let metrics = Arc::new(Metrics::default());
    metrics.observe(&eval, jiff::SignedDuration::from_hours(24 * 7), 0.1, 5, 1);
    // What passes and writes record, once each.
    metrics.pass(&plumbline::engine::Pass {
        evaluated: 9,
        reused: 0,
        kept: vec![false; 9],
    });
    metrics.reconciled("ComplianceReport", 0.01, Some("conflict"));
    metrics.retried("ComplianceReport", "conflict");
    metrics.event_lost("refused");
    metrics.watch_failed("Deployment", "watch");
    metrics.set_leader(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(metrics)).await.unwrap() });
    let body = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    // Declared families, as series names: counters end in _total,
    // histograms have _bucket, _sum and _count.
    let mut names = BTreeSet::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split(' ');
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    assert!(names.len() > 20, "{body}");
    names
}

/// The metrics `promql-check` finds in these dashboards, after Prometheus's
/// parser accepted every expression.
fn parsed_metrics(files: &[PathBuf]) -> BTreeSet<String> {
    let mut cmd = Command::new(prometheus_tool("promql-check"));
    cmd.args(files);
    let said = run(cmd);
    said.lines()
        .filter_map(|l| l.strip_prefix("metric "))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_dashboard_and_the_alerts_use_only_metrics_the_operator_serves() {
    let docs = rendered(&[]);
    let configmap = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "plumbline-grafana-dashboard")
        .expect("the dashboard's ConfigMap");
    assert_eq!(configmap["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = configmap["data"]["plumbline.json"].as_str().unwrap();
    let dashboard: Value = serde_json::from_str(json).expect("the ConfigMap holds JSON");
    assert_eq!(
        json.trim(),
        std::fs::read_to_string(
            common::repo_root().join("charts/plumbline/files/grafana-dashboard.json")
        )
        .unwrap()
        .trim()
    );
    assert!(dashboard["panels"].as_array().unwrap().len() >= 10);
    // The alert expressions, as a dashboard promql-check reads.
    let rules: Vec<Value> = alerts(&rule(&docs))
        .iter()
        .map(|a| serde_json::json!({"title": a["alert"], "targets": [{"expr": a["expr"]}]}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("alerts.json");
    std::fs::write(
        &rules_file,
        serde_json::json!({"panels": rules}).to_string(),
    )
    .unwrap();
    let dashboard_file = dir.path().join("dashboard.json");
    std::fs::write(&dashboard_file, json).unwrap();

    let served = exposed().await;
    for (what, file) in [
        ("the Grafana dashboard", &dashboard_file),
        ("the alerts", &rules_file),
    ] {
        let used = parsed_metrics(std::slice::from_ref(file));
        assert!(!used.is_empty(), "{what} uses no metric");
        // `up` is Prometheus's own, for the operator being down.
        let unknown: Vec<&String> = used
            .iter()
            .filter(|m| *m != "up" && !served.contains(*m))
            .collect();
        assert!(
            unknown.is_empty(),
            "{what} uses metrics the operator does not serve: {unknown:?}; it serves {served:?}"
        );
    }
    // And a dashboard with a broken expression is refused by the parser.
    std::fs::write(
        &dashboard_file,
        r#"{"panels": [{"title": "broken", "targets": [{"expr": "sum(rate(plumbline_writes_total[5m]"}]}]}"#,
    )
    .unwrap();
    let out = Command::new(prometheus_tool("promql-check"))
        .arg(&dashboard_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken"));
}

/// GitHub's anchor for a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_has_a_runbook_in_docs_operator_md() {
    let doc = std::fs::read_to_string(common::repo_root().join("docs/operator.md")).unwrap();
    let anchors: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("### ").or_else(|| l.strip_prefix("## ")))
        .map(anchor)
        .collect();
    for a in alerts(&rule(&rendered(&[]))) {
        let url = a["annotations"]["runbook_url"].as_str().unwrap();
        let (page, fragment) = url.split_once('#').expect("an anchor");
        assert!(page.ends_with("docs/operator.md"), "{url}");
        assert!(
            anchors.contains(fragment),
            "{url}: no such section in docs/operator.md"
        );
        assert_eq!(fragment, a["alert"].as_str().unwrap().to_lowercase());
    }
}
