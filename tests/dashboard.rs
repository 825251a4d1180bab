//! The dashboard as its readers meet it: the operator runs on the local API
//! server with the demo's objects (examples/), and headless Chromium loads
//! every page. The numbers a page shows equal what the operator wrote into
//! the cluster's statuses and reports; every page gets a screenshot
//! (target/dashboard/); HTML in an annotation value is shown as text; a
//! 253-character name fits; nothing but GET is served.
//!
//! `UPDATE_SCREENSHOTS=1` also writes the overview's and a workload's
//! screenshots to docs/ (the README shows them).

mod common;

use std::{path::PathBuf, process::Command, time::Duration};

use common::operator::{self, Operator};
use kube::{Api, ResourceExt};
use plumbline::api::{ComplianceReport, InfrastructureStandard, PatchBaseline};

/// Headless Chromium from the system packages (.ci/run installs it).
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("no chromium: install Debian's chromium package (.ci/run does) to test the dashboard");
}

fn browser(args: &[&str], url: &str) -> Vec<u8> {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The page's DOM after Chromium has loaded and laid it out.
fn dom(url: &str) -> String {
    String::from_utf8(browser(&["--dump-dom"], url)).expect("UTF-8 DOM")
}

/// A screenshot of the whole page, into target/dashboard/NAME.png.
fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = common::repo_root().join("target/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&path);
    browser(
        &[
            "--window-size=1280,1800",
            &format!("--screenshot={}", path.display()),
        ],
        url,
    );
    let png = std::fs::read(&path).unwrap_or_else(|_| panic!("no screenshot of {url}"));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{url}: {} bytes",
        png.len()
    );
    path
}

/// The text of the first element after `marker` (an attribute or id), e.g.
/// the number in `<td class="n matched">11</td>` after `data-standard="x"`.
fn after(html: &str, marker: &str, class: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} is not on the page"));
    let rest = &html[start..];
    let at = rest
        .find(class)
        .unwrap_or_else(|| panic!("no {class} after {marker}"));
    let rest = &rest[at..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap() + open;
    rest[open..close].trim().to_string()
}

/// The HTML of the section with this id.
fn section<'h>(html: &'h str, id: &str) -> &'h str {
    let start = html
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").unwrap() + start;
    &html[start..end]
}

fn number(html: &str, marker: &str, class: &str) -> i64 {
    after(html, marker, class)
        .parse()
        .unwrap_or_else(|e| panic!("{marker} {class}: {e}"))
}

/// Polls `get` until it gives something, failing after `secs` seconds.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    secs: u64,
    mut get: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = get().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One HTTP request: the status code and the headers, lower-cased.
fn request(addr: &str, method: &str, path: &str) -> (u16, String) {
    let (code, head, _) = operator::http_request(addr, method, path);
    (code, head)
}

/// Where the operator serves the dashboard, from its JSON log.
async fn dashboard_addr(op: &Operator) -> String {
    until("the dashboard's address in the log", 30, || async {
        std::fs::read_to_string(&op.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == "serving the dashboard")
            .and_then(|v| v["fields"]["addr"].as_str().map(String::from))
    })
    .await
}

/// The open deviations a report records.
fn open_in(report: &ComplianceReport) -> i64 {
    report
        .status
        .as_ref()
        .map(|s| {
            s.deviations
                .iter()
                .map(|d| (d.critical.len() + d.high.len() + d.medium.len() + d.low.len()) as i64)
                .sum()
        })
        .unwrap_or(0)
}

/// The examples' standards and baseline match every namespace: test
/// binaries that run later count every deviation of their own workloads,
/// so they are deleted when the test ends, however it ends.
struct ExampleStandards;

impl Drop for ExampleStandards {
    fn drop(&mut self) {
        let mut delete = common::kubectl();
        delete.args(["delete", "--ignore-not-found", "--wait=false"]);
        for f in [
            "examples/10-standard-baseline-security.yaml",
            "examples/11-standard-production-readiness.yaml",
            "examples/12-standard-ownership.yaml",
            "examples/13-standard-custom-cel.yaml",
            "examples/20-patch-baseline.yaml",
            "examples/lifecycle/",
        ] {
            delete.arg("-f").arg(common::repo_root().join(f));
        }
        let _ = delete.output();
    }
}

async fn demo_cluster() -> (kube::Client, Operator, String) {
    let admin = common::client().await;
    operator::setup(&admin, "baseline-security").await;
    common::kubectl_apply(&["examples/00-namespaces.yaml"]);
    // The examples' Pod needs its namespace's default ServiceAccount.
    for ns in ["payments", "search", "checkout", "data-dev", "data-staging"] {
        let _ = common::kubectl()
            .args(["-n", ns, "create", "serviceaccount", "default"])
            .output();
    }
    common::kubectl_apply(&["examples/", "examples/lifecycle/"]);
    let op = Operator::start("dashboard", &["--dashboard-addr", "127.0.0.1:0"]);
    let addr = dashboard_addr(&op).await;
    (admin, op, addr)
}

#[tokio::test]
async fn every_page_shows_what_the_cluster_statuses_say() {
    let _one = operator::one_at_a_time().await;
    let _cleanup = ExampleStandards;
    let (admin, op, addr) = demo_cluster().await;
    let base = format!("http://{addr}");
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    let names = [
        "baseline-security",
        "production-readiness",
        "ownership",
        "custom-rules",
        "team-label",
    ];
    // The statuses, once written for the current generation; then the
    // overview until it shows the same figures (it renders the pass that
    // wrote them).
    let written = |s: &InfrastructureStandard| {
        s.status
            .as_ref()
            .is_some_and(|st| st.observed_generation == s.metadata.generation && st.matched > 0)
    };
    let statuses = until("the example standards' statuses", 90, || async {
        let mut out = Vec::new();
        for n in names {
            let s = standards.get(n).await.ok()?;
            if !written(&s) {
                return None;
            }
            out.push(s);
        }
        Some(out)
    })
    .await;
    let overview = until("the overview showing the statuses", 60, || async {
        let html = dom(&format!("{base}/"));
        statuses
            .iter()
            .all(|s| {
                let st = s.status.as_ref().unwrap();
                let row = format!("data-standard=\"{}\"", s.name_any());
                html.contains(&row)
                    && number(&html, &row, "class=\"n matched\"") == i64::from(st.matched)
                    && number(&html, &row, "class=\"n compliant\"") == i64::from(st.compliant)
                    && number(&html, &row, "class=\"n excepted\"") == i64::from(st.excepted)
                    && number(&html, &row, "class=\"n deviating\"") == i64::from(st.deviating)
            })
            .then_some(html)
    })
    .await;
    // The review alarm the examples raise, and the patch rings in order.
    let reviews = section(&overview, "reviews");
    assert!(
        reviews.contains(">production-readiness</a>")
            && reviews.contains("ActiveExceptionsAtThreshold"),
        "{reviews}"
    );
    let baseline = Api::<PatchBaseline>::all(admin.clone())
        .get("base-images")
        .await
        .unwrap();
    let rings = &baseline.status.as_ref().expect("baseline status").rings;
    assert!(!rings.is_empty());
    let mut last = 0;
    for r in rings {
        let row = format!("data-ring=\"base-images/{}\"", r.name);
        assert_eq!(
            number(&overview, &row, "class=\"n overdue"),
            i64::from(r.counts.overdue),
            "{row}"
        );
        assert_eq!(
            number(&overview, &row, "class=\"n current\""),
            i64::from(r.counts.current),
            "{row}"
        );
        let at = overview.find(&row).unwrap();
        assert!(at > last, "rings in the spec's order");
        last = at;
    }

    // A workload: what its report says.
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), "checkout");
    let cart = reports
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|r| r.spec.workload.name == "cart" && r.spec.workload.kind.as_str() == "Deployment")
        .expect("cart's report");
    let page = dom(&format!("{base}/workloads/checkout/Deployment/cart"));
    assert_eq!(number(&page, "id=\"open\"", ""), open_in(&cart), "{page}");
    for expected in [
        "excepted by <strong>cart-replicas</strong> until 2027-02-28T00:00:00Z",
        "Once approved, these would cover",
        "baseline-security/run-as-non-root",
        "refused at admission",
        "no ServiceOwnership selects it",
    ] {
        assert!(page.contains(expected), "{expected}");
    }
    // The owner's support lines and runbook, on an owned workload.
    let api = dom(&format!(
        "{base}/workloads/payments/Deployment/payments-api"
    ));
    assert!(
        api.contains("href=\"https://wiki.example.com/payments/runbook\""),
        "{api}"
    );
    assert!(api.contains("Second line"), "{api}");

    // The scorecard: one row per namespace, counting its reports.
    let scores = dom(&format!("{base}/namespaces"));
    let checkout_reports = reports.list(&Default::default()).await.unwrap().items.len() as i64;
    assert_eq!(
        number(
            &scores,
            "data-namespace=\"checkout\"",
            "class=\"n workloads\""
        ),
        checkout_reports
    );
    // A standard: its rules' counts are its status's.
    let security = statuses
        .iter()
        .find(|s| s.name_any() == "baseline-security")
        .unwrap();
    let page = dom(&format!("{base}/standards/baseline-security"));
    for r in &security.status.as_ref().unwrap().rules {
        let row = format!("data-rule=\"{}\"", r.id);
        assert_eq!(
            number(&page, &row, "class=\"n deviating\""),
            i64::from(r.deviating),
            "{row}"
        );
    }

    // Every page, photographed.
    let pages = [
        ("overview", "/".to_string()),
        ("scorecards", "/namespaces".to_string()),
        ("namespace", "/namespaces/checkout".to_string()),
        (
            "workload",
            "/workloads/checkout/Deployment/cart".to_string(),
        ),
        ("standard", "/standards/production-readiness".to_string()),
    ];
    for (name, path) in &pages {
        let shot = screenshot(&format!("{base}{path}"), name);
        if std::env::var_os("UPDATE_SCREENSHOTS").is_some()
            && matches!(*name, "overview" | "workload")
        {
            std::fs::copy(
                &shot,
                common::repo_root().join(format!("docs/dashboard-{name}.png")),
            )
            .unwrap();
        }
    }
    // Read-only: nothing but GET (and HEAD).
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(request(&addr, method, "/").0, 405, "{method}");
    }
    op.terminate();
}

#[tokio::test]
async fn html_in_objects_is_shown_as_text_and_long_names_fit() {
    let _one = operator::one_at_a_time().await;
    let admin = common::client().await;
    operator::setup(&admin, "dashboard-escape").await;
    let ns = operator::unique("dash-escape");
    operator::namespace(&admin, &ns, serde_json::json!({"dashboard-test": ns})).await;
    let standard = serde_json::json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "InfrastructureStandard",
        "metadata": {"name": format!("dashboard-escape-{ns}")},
        "spec": {
            "match": {"namespaceSelector": {"matchLabels": {"dashboard-test": ns}}},
            "rules": [{
                "id": "tier", "severity": "High", "description": "The tier annotation is one of web, api.",
                "requiredAnnotations": [{"key": "example.com/tier", "valuePattern": "^(web|api)$"}]
            }]
        }
    });
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    operator::apply(
        &standards,
        standard["metadata"]["name"].as_str().unwrap(),
        standard.clone(),
    )
    .await;
    let long = format!("w{}", "x".repeat(252));
    assert_eq!(long.len(), 253);
    let workload = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": long, "namespace": ns,
            "annotations": {"example.com/tier": "<script>alert(1)</script><b>bold</b>"}},
        "spec": {"selector": {"matchLabels": {"app": "long"}},
            "template": {"metadata": {"labels": {"app": "long"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27.3"}]}}}
    });
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(admin.clone(), &ns);
    // Another test's enforcing policy, just deleted by `setup`, may still
    // judge at admission for a moment.
    until("the workload admitted", 30, || async {
        deployments
            .patch(
                &long,
                &kube::api::PatchParams::apply(common::MANAGER).force(),
                &kube::api::Patch::Apply(&workload),
            )
            .await
            .map_err(|e| eprintln!("retrying: {}", &e.to_string()[..80]))
            .ok()
    })
    .await;

    let op = Operator::start("dashboard-escape", &["--dashboard-addr", "127.0.0.1:0"]);
    let addr = dashboard_addr(&op).await;
    let url = format!("http://{addr}/workloads/{ns}/Deployment/{long}");
    let html = until("the workload's page", 60, || async {
        let (code, body) = operator::http_get(&addr, &format!("/workloads/{ns}/Deployment/{long}"));
        (code == 200 && body.contains("example.com/tier")).then_some(body)
    })
    .await;
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#60;b&#62;bold&#60;/b&#62;"),
        "the value is escaped: {html}"
    );
    assert!(
        !html.contains("<script>") && !html.contains("<b>bold"),
        "{html}"
    );
    // In the browser: no element came from the value, the name is whole.
    let page = dom(&url);
    assert!(
        !page.contains("<script>alert") && !page.contains("<b>bold</b>"),
        "{page}"
    );
    assert!(page.contains(&long));
    screenshot(&url, "escaped-long-name");
    // No script could run anyway: the policy allows none.
    let (code, headers) = request(&addr, "GET", &format!("/workloads/{ns}/Deployment/{long}"));
    assert_eq!(code, 200);
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    let _ = standards
        .delete(
            standard["metadata"]["name"].as_str().unwrap(),
            &Default::default(),
        )
        .await;
    op.terminate();
}
