//! The pages: askama templates (templates/dashboard/) over `model`'s
//! figures. Every value is escaped by the templates; nothing here builds
//! HTML by hand.

use askama::Template;

use super::model::{self, NamespaceRows, Overview, Scorecard, Snapshot, StandardPage};
use crate::explain::{AdmissionAction, Explanation};

/// What every page's frame shows.
pub struct Frame {
    /// The page's title.
    pub title: String,
    /// The instant the state holds at.
    pub at: String,
    /// Which top-level page it belongs to.
    pub nav: &'static str,
}

impl Frame {
    fn new(title: impl Into<String>, s: Option<&Snapshot>, nav: &'static str) -> Self {
        Self {
            title: title.into(),
            at: s.map(|s| s.at.to_string()).unwrap_or_default(),
            nav,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
struct MessagePage<'a> {
    frame: Frame,
    message: &'a str,
}

/// A page that only says something (starting, standby, not found).
pub fn message(title: &str, message: &str) -> Result<String, askama::Error> {
    MessagePage {
        frame: Frame::new(title, None, ""),
        message,
    }
    .render()
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage<'a> {
    frame: Frame,
    o: &'a Overview,
    compliant_pct: u32,
}

/// The overview.
pub fn overview(s: &Snapshot) -> Result<String, askama::Error> {
    let o = s.overview();
    OverviewPage {
        frame: Frame::new("Overview", Some(s), "overview"),
        compliant_pct: model::percent(o.compliant, o.workloads),
        o,
    }
    .render()
}

/// One scorecard table.
struct ScoreTable<'a> {
    title: &'static str,
    /// `namespace` or `team`: the rows' kind, in ids and headings.
    key: &'static str,
    namespaces: bool,
    rows: &'a [model::ScoreRow],
}

#[derive(Template)]
#[template(path = "dashboard/scorecard.html")]
struct ScorecardPage<'a> {
    frame: Frame,
    tables: Vec<ScoreTable<'a>>,
}

/// The scorecards per namespace and team.
pub fn scorecard(s: &Snapshot) -> Result<String, askama::Error> {
    let c: &Scorecard = s.scorecard();
    ScorecardPage {
        frame: Frame::new("Scorecards", Some(s), "scorecard"),
        tables: vec![
            ScoreTable {
                title: "Namespaces",
                key: "namespace",
                namespaces: true,
                rows: &c.namespaces,
            },
            ScoreTable {
                title: "Teams (by ServiceOwnership)",
                key: "team",
                namespaces: false,
                rows: &c.teams,
            },
        ],
    }
    .render()
}

#[derive(Template)]
#[template(path = "dashboard/namespace.html")]
struct NamespacePage<'a> {
    frame: Frame,
    rows: &'a NamespaceRows,
    row: Option<&'a model::ScoreRow>,
}

/// A namespace's workloads.
pub fn namespace(s: &Snapshot, ns: &str, rows: &NamespaceRows) -> Result<String, askama::Error> {
    NamespacePage {
        frame: Frame::new(format!("Namespace {ns}"), Some(s), "scorecard"),
        rows,
        row: s.scorecard().namespaces.iter().find(|r| r.name == ns),
    }
    .render()
}

#[derive(Template)]
#[template(path = "dashboard/workload.html")]
struct WorkloadPage<'a> {
    frame: Frame,
    e: &'a Explanation,
    open: usize,
}

/// A workload, explained.
pub fn workload(s: &Snapshot, e: &Explanation) -> Result<String, askama::Error> {
    WorkloadPage {
        frame: Frame::new(
            format!("{} {}/{}", e.kind, e.namespace, e.name),
            Some(s),
            "",
        ),
        open: e
            .deviations
            .iter()
            .filter(|d| d.exception.is_none())
            .count(),
        e,
    }
    .render()
}

/// What admission does, in words, for the workload page.
pub fn admission_words(a: &AdmissionAction) -> &'static str {
    match a {
        AdmissionAction::Refuse => "refused at admission",
        AdmissionAction::Warn => "warned at admission",
        AdmissionAction::Excepted => "admitted: excepted",
        AdmissionAction::Audit => "recorded only (Audit)",
        AdmissionAction::Background => "checked in the background only",
        AdmissionAction::Exempt => "not judged at admission",
    }
}

#[derive(Template)]
#[template(path = "dashboard/standard.html")]
struct StandardTemplate<'a> {
    frame: Frame,
    p: &'a StandardPage,
}

/// A standard.
pub fn standard(s: &Snapshot, p: &StandardPage) -> Result<String, askama::Error> {
    StandardTemplate {
        frame: Frame::new(format!("Standard {}", p.row.name), Some(s), "overview"),
        p,
    }
    .render()
}
