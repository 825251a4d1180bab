//! The dashboard's pages without a cluster: its router served on a local
//! port over snapshots made from the examples — with no workload at all,
//! and with 10,000 — and what it says before the first pass and on a
//! standby. Chromium and the live operator are tests/dashboard.rs.

use std::sync::Arc;

mod common;

use plumbline::{
    audit::load::{Loaded, Take},
    dashboard::{self, Shown, Snapshot},
    engine,
};

const AT: &str = "2026-11-24T12:00:00Z";

fn examples(workloads: bool) -> Loaded {
    let take = if workloads {
        Take::All
    } else {
        Take::PlumblineOnly
    };
    common::load(&common::example_files(), take)
}

fn snapshot(inputs: engine::Inputs) -> Snapshot {
    let eval = engine::evaluate(&inputs, AT.parse().unwrap());
    let coverage = plumbline::explain::coverage(&inputs, &eval);
    Snapshot::new(
        inputs,
        eval,
        coverage,
        jiff::SignedDuration::from_hours(24 * 90),
        vec!["plumbline-system".into()],
    )
}

/// Serves the dashboard over `shown` on a free local port.
async fn serve(shown: Shown) -> String {
    let (publisher, router) = dashboard::channel(true);
    publisher.send_replace(shown);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        // The publisher lives as long as the server.
        let _publisher = publisher;
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

async fn get(addr: &str, path: &str) -> (u16, String) {
    get_as(addr, path, addr).await
}

/// A GET with this Host header.
async fn get_as(addr: &str, path: &str, host: &str) -> (u16, String) {
    let addr = addr.to_string();
    let path = path.to_string();
    let host = host.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let code = out.split(' ').nth(1).unwrap().parse().unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1.to_string();
        (code, body)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn with_no_workload_every_page_says_so() {
    let loaded = examples(false);
    assert!(loaded.inputs.workloads.is_empty());
    let addr = serve(Shown::Ready(Arc::new(snapshot(loaded.inputs)))).await;
    let (code, overview) = get(&addr, "/").await;
    assert_eq!(code, 200);
    for expected in [
        "id=\"workloads\">0<",
        "No deviation.",
        "Every workload has an owner.",
        "data-standard=\"baseline-security\"",
    ] {
        assert!(overview.contains(expected), "{expected}");
    }
    let (code, scores) = get(&addr, "/namespaces").await;
    assert_eq!(code, 200);
    assert!(scores.contains("No workload is judged."));
    let (code, standard) = get(&addr, "/standards/baseline-security").await;
    assert_eq!(code, 200);
    assert!(standard.contains("data-rule=\"run-as-non-root\""));
    for missing in [
        "/namespaces/checkout",
        "/workloads/checkout/Deployment/cart",
        "/workloads/checkout/Service/cart",
        "/standards/nope",
        "/nope",
    ] {
        let (code, body) = get(&addr, missing).await;
        assert_eq!(code, 404, "{missing}");
        assert!(body.contains("Not found"), "{missing}");
    }
}

#[tokio::test]
async fn at_ten_thousand_workloads_lists_stay_bounded() {
    let mut loaded = examples(true);
    let originals = loaded.inputs.workloads.clone();
    let mut workloads = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let mut w = (*originals[i % originals.len()]).clone();
        w.name = format!("{}-{i}", w.name);
        workloads.push(Arc::new(w));
    }
    loaded.inputs.workloads = workloads;
    let s = snapshot(loaded.inputs);
    let orphans = s.overview().orphans;
    assert!(orphans > dashboard::model::LIST_CAP);
    let addr = serve(Shown::Ready(Arc::new(s))).await;
    let (code, overview) = get(&addr, "/").await;
    assert_eq!(code, 200);
    assert!(overview.contains("id=\"workloads\">10000<"));
    assert_eq!(
        overview.matches("<li><a href=\"/workloads/").count(),
        dashboard::model::LIST_CAP,
        "the orphan list is capped"
    );
    assert!(overview.contains(&format!(
        "and {} more",
        orphans - dashboard::model::LIST_CAP
    )));
    // A page stays small: a workload page does not grow with the cluster.
    let first = overview
        .split("<li><a href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let (code, page) = get(&addr, &first).await;
    assert_eq!(code, 200, "{page}");
    assert!(page.len() < 64 * 1024, "{} bytes", page.len());
    let (code, _) = get(&addr, "/namespaces").await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn before_the_first_pass_and_on_a_standby_it_says_why_it_shows_nothing() {
    let addr = serve(Shown::Starting).await;
    let (code, body) = get(&addr, "/").await;
    assert_eq!(code, 503);
    assert!(body.contains("first evaluation"), "{body}");
    let addr = serve(Shown::Standby).await;
    let (code, body) = get(&addr, "/workloads/a/Deployment/b").await;
    assert_eq!(code, 503);
    assert!(body.contains("standby"), "{body}");
}

/// A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding)
/// gets nothing while someone has a port-forward open: only loopback names
/// are answered.
#[tokio::test]
async fn only_requests_for_a_loopback_name_are_answered() {
    let loaded = examples(true);
    let addr = serve(Shown::Ready(Arc::new(snapshot(loaded.inputs)))).await;
    let port = addr.rsplit(':').next().unwrap();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
    ] {
        assert_eq!(get_as(&addr, "/", &host).await.0, 200, "{host}");
    }
    for host in [
        format!("attacker.example:{port}"),
        "127.0.0.1.attacker.example".to_string(),
        "".to_string(),
    ] {
        let (code, body) = get_as(&addr, "/", &host).await;
        assert_eq!(code, 421, "{host}");
        assert!(body.contains("kubectl port-forward"), "{body}");
    }
}

/// Every response says: no script, no frame, no sniffing, no referrer, no
/// cache; HEAD answers like GET without a body, other methods are refused.
#[tokio::test]
async fn responses_carry_the_security_headers_and_only_read() {
    let loaded = examples(true);
    let addr = serve(Shown::Ready(Arc::new(snapshot(loaded.inputs)))).await;
    let raw = |method: &'static str, path: &'static str| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
    };
    for path in ["/", "/namespaces", "/standards/baseline-security", "/nope"] {
        let response = raw("GET", path).await.unwrap().to_lowercase();
        for header in [
            "content-security-policy: default-src 'none'; style-src 'unsafe-inline'",
            "x-content-type-options: nosniff",
            "referrer-policy: no-referrer",
            "x-frame-options: deny",
            "cache-control: no-store",
        ] {
            assert!(response.contains(header), "{path}: {header}\n{response}");
        }
    }
    let head = raw("HEAD", "/").await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for path in ["/", "/workloads/checkout/Deployment/cart"] {
            let response = raw(method, path).await.unwrap();
            assert!(
                response.starts_with("HTTP/1.1 405"),
                "{method} {path}: {response}"
            );
        }
    }
    // The kind in a workload's address is matched in any case.
    let (code, _) = get(&addr, "/workloads/checkout/deployment/cart").await;
    assert_eq!(code, 200);
}
