//! The read-only web dashboard (`--dashboard-addr`): the operator's own
//! state after its last pass, as HTML pages for the people who read it —
//! an overview, scorecards per namespace and team, a namespace, a workload,
//! a standard. It makes no API request: each pass publishes a snapshot
//! (`Publisher`), and every page is rendered from the latest one. It
//! writes nothing, serves GET only, escapes everything it shows (askama
//! templates), and sends a Content-Security-Policy that allows no script.
//! docs/dashboard.md says why this stack and what it exposes.

pub mod model;
mod pages;

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
    routing::get,
};

pub use model::Snapshot;

use crate::api::WorkloadKind;

/// What the dashboard has to show.
#[derive(Clone, Debug, Default)]
pub enum Shown {
    /// The caches are filling or the first pass is running.
    #[default]
    Starting,
    /// This instance is a standby: the leader evaluates.
    Standby,
    /// The last pass's state.
    Ready(Arc<Snapshot>),
}

/// The operator's side: it publishes every pass's snapshot.
pub type Publisher = tokio::sync::watch::Sender<Shown>;

/// A publisher and the dashboard's router reading from it. With
/// `loopback`, it answers only requests addressed to a loopback name (see
/// `local_only`).
pub fn channel(loopback: bool) -> (Publisher, Router) {
    let (tx, rx) = tokio::sync::watch::channel(Shown::Starting);
    (tx, router(rx, loopback))
}

type Latest = tokio::sync::watch::Receiver<Shown>;

/// Pages rendered at once; more wait. Rendering runs off the async
/// workers, so that page views never hold up the operator's own passes.
static RENDERING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The dashboard's routes, over the snapshots `latest` receives.
pub fn router(latest: Latest, loopback: bool) -> Router {
    let router = Router::new()
        .route("/", get(overview))
        .route("/namespaces", get(scorecard))
        .route("/namespaces/{namespace}", get(namespace))
        .route("/workloads/{namespace}/{kind}/{name}", get(workload))
        .route("/standards/{name}", get(standard))
        .fallback(|| async { not_found("There is no such page.") })
        .layer(axum::middleware::map_response(secure));
    let router = if loopback {
        router.layer(axum::middleware::from_fn(local_only))
    } else {
        router
    };
    router.with_state(latest)
}

/// On a loopback address, only requests for a loopback name are answered:
/// a web page elsewhere cannot read the dashboard through a name it points
/// at 127.0.0.1 (DNS rebinding) while someone has a port-forward open.
async fn local_only(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    // Without the port: `localhost:8081`, `[::1]:8081`.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    if matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
        return next.run(request).await;
    }
    (
        StatusCode::MISDIRECTED_REQUEST,
        "this dashboard answers only to localhost, 127.0.0.1 or [::1] (reach it with kubectl port-forward)\n",
    )
        .into_response()
}

/// No script may run, nothing may be framed or sniffed, no referrer leaks a
/// workload's name to another site.
async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(page: Result<String, askama::Error>) -> Response {
    match page {
        Ok(body) => Html(body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "a dashboard page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render; see the operator's log",
            )
                .into_response()
        }
    }
}

fn not_found(message: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        html(pages::message("Not found", message)),
    )
        .into_response()
}

/// Renders with the latest snapshot, or says why there is none. The page
/// is built on a blocking thread, at most `RENDERING` at once.
async fn with(
    latest: &Latest,
    page: impl FnOnce(&Snapshot) -> Response + Send + 'static,
) -> Response {
    let shown = latest.borrow().clone();
    let (title, why) = match shown {
        Shown::Ready(s) => {
            let Ok(_permit) = RENDERING.acquire().await else {
                return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
            };
            return tokio::task::spawn_blocking(move || page(&s))
                .await
                .unwrap_or_else(|err| {
                    tracing::error!(error = %err, "a dashboard page failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the page failed; see the operator's log",
                    )
                        .into_response()
                });
        }
        Shown::Starting => (
            "Starting",
            "The operator is filling its caches or running its first evaluation. Reload in a few seconds.",
        ),
        Shown::Standby => (
            "Standby",
            "This instance is a standby: the leader evaluates. Port-forward to the leader's Pod (the holder of the plumbline Lease) to see the dashboard.",
        ),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        html(pages::message(title, why)),
    )
        .into_response()
}

async fn overview(State(latest): State<Latest>) -> Response {
    with(&latest, |s| html(pages::overview(s))).await
}

async fn scorecard(State(latest): State<Latest>) -> Response {
    with(&latest, |s| html(pages::scorecard(s))).await
}

async fn namespace(State(latest): State<Latest>, Path(ns): Path<String>) -> Response {
    with(&latest, move |s| {
        let rows = model::namespace(s, &ns);
        if rows.workloads.is_empty() {
            return not_found("No workload is judged in this namespace.");
        }
        html(pages::namespace(s, &ns, &rows))
    })
    .await
}

async fn workload(
    State(latest): State<Latest>,
    Path((ns, kind, name)): Path<(String, String, String)>,
) -> Response {
    with(&latest, move |s| {
        let Some(kind) = WorkloadKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(&kind))
        else {
            return not_found("plumbline judges no such kind.");
        };
        match s.find(&ns, kind, &name) {
            Some(i) => html(pages::workload(s, &s.explain(i))),
            None => not_found(
                "No such workload is judged (a Pod or ReplicaSet of a controller is judged through its owner).",
            ),
        }
    })
    .await
}

async fn standard(State(latest): State<Latest>, Path(name): Path<String>) -> Response {
    with(&latest, move |s| match model::standard(s, &name) {
        Some(page) => html(pages::standard(s, &page)),
        None => not_found("No such InfrastructureStandard."),
    })
    .await
}
