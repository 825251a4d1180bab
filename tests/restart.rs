//! The operator across an API server restart, on the real local control
//! plane: kube-apiserver is stopped and started again (etcd keeps the
//! data), and the operator must follow an edit made right after the server
//! is back within 5 s, raising no Event twice.
//!
//! Its own test binary: cargo runs test binaries one at a time, so no other
//! test talks to the API server while it is down.

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::operator::{
    Operator, apply, eventually, http_get, namespace, replicas_standard, setup, unique, workload,
};
use k8s_openapi::api::{apps::v1::Deployment, events::v1::Event};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use plumbline::api::{ComplianceReport, InfrastructureStandard};
use serde_json::json;

/// Stops kube-apiserver and starts it again with the same arguments,
/// recording its new pid for `down.sh`; returns once it serves /readyz.
async fn restart_apiserver(dir: &Path) {
    let pid_file = dir.join("kube-apiserver.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("the API server's pid file");
    let pid = pid.trim().to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the API server runs");
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // Stopped once gone or a zombie (its parent, the start-up script, is gone too).
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    };
    while running() {
        assert!(
            std::time::Instant::now() < deadline,
            "kube-apiserver did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Down for a while, as in a real restart: the watches fail and back off.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("logs/kube-apiserver.log"))
        .expect("the API server's log");
    // It outlives the test, as up.sh's does: down.sh stops it by its pid.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("setsid")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("kube-apiserver starts again");
    std::fs::write(&pid_file, child.id().to_string()).expect("record the pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = common::kubectl()
            .args(["get", "--raw", "/readyz"])
            .output()
            .expect("kubectl runs");
        if ready.status.success() && String::from_utf8_lossy(&ready.stdout).trim() == "ok" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kube-apiserver not ready again within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn found_events(admin: &Client, ns: &str) -> usize {
    let api: Api<Event> = Api::namespaced(admin.clone(), ns);
    let list = api.list(&Default::default()).await.expect("list Events");
    list.items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("DeviationFound"))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count as usize))
        .sum()
}

#[tokio::test]
async fn after_an_api_server_restart_it_follows_edits_within_five_seconds() {
    let admin: Client = common::client().await;
    setup(&admin, "restart-test").await;
    let ns = unique("restart");
    namespace(&admin, &ns, json!({"plumbline-test": ns})).await;
    let standard = unique("restart-test-replicas");
    let standards: Api<InfrastructureStandard> = Api::all(admin.clone());
    apply(&standards, &standard, replicas_standard(&standard, &ns)).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let web = |replicas| workload(&ns, "web", "nginx:1.27.3", replicas);
    apply(&deployments, "web", web(1)).await;

    let operator = Operator::start("operator-restart", &[]);
    let reports: Api<ComplianceReport> = Api::namespaced(admin.clone(), &ns);
    let deviating = || async {
        reports
            .get_opt("deployment-web")
            .await
            .ok()
            .flatten()
            .and_then(|r| r.status)
            .map(|s| s.deviations.iter().any(|d| d.standard == standard))
    };
    eventually("the report", &operator.log, deviating, |d| *d == Some(true)).await;
    eventually(
        "one DeviationFound",
        &operator.log,
        || found_events(&admin, &ns),
        |n| *n == 1,
    )
    .await;

    let dir = common::controlplane_dir();
    restart_apiserver(&dir).await;
    let back = std::time::Instant::now();
    deployments
        .patch(
            "web",
            &PatchParams::apply(common::MANAGER).force(),
            &Patch::Apply(web(2)),
        )
        .await
        .expect("edit the workload");
    eventually(
        "the report follows the edit",
        &operator.log,
        deviating,
        |d| *d == Some(false),
    )
    .await;
    let took = back.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the report followed {took:?} after the API server was back"
    );

    // And back: one more DeviationFound, no repeat of the first.
    apply(&deployments, "web", web(1)).await;
    eventually("deviating again", &operator.log, deviating, |d| {
        *d == Some(true)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        found_events(&admin, &ns).await,
        2,
        "an Event repeated or missing"
    );
    let addr = operator.metrics_addr().await;
    assert_eq!(http_get(&addr, "/readyz").0, 200);
    operator.terminate();
    standards
        .delete(&standard, &Default::default())
        .await
        .expect("delete the standard");
}
