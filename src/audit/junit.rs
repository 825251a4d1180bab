//! The audit report as JUnit XML, for CI test reports: a suite per standard
//! (a test case per matched workload, failing on open deviations), one per
//! patch baseline (failing when overdue), one for ownership (failing on
//! orphans and conflicts), one per ServiceOwnership (failing when incomplete)
//! and one for unreadable input (errors). Pure.

use std::fmt::Write;

use super::report::Report;
use crate::api::PatchState;

/// Escapes text for XML attributes and content.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

struct Case {
    name: String,
    file: String,
    line: usize,
    failure: Option<(String, String, String)>,
    error: Option<String>,
    output: Option<String>,
}

fn suite(out: &mut String, name: &str, cases: &[Case]) {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">",
        esc(name),
        cases.len()
    );
    for c in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\"",
            esc(name),
            esc(&c.name),
            esc(&c.file),
            c.line
        );
        if c.failure.is_none() && c.error.is_none() && c.output.is_none() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if let Some((message, kind, text)) = &c.failure {
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                esc(message),
                esc(kind),
                esc(text)
            );
        }
        if let Some(message) = &c.error {
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"malformed\"/>",
                esc(message)
            );
        }
        if let Some(text) = &c.output {
            let _ = writeln!(out, "      <system-out>{}</system-out>", esc(text));
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n");
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> String {
    let mut suites: Vec<(String, Vec<Case>)> = Vec::new();
    for s in &report.standards {
        let mut cases = Vec::new();
        for w in report
            .workloads
            .iter()
            .filter(|w| w.standards.contains_key(&s.name))
        {
            let mine: Vec<_> = w
                .deviations
                .iter()
                .filter(|d| d.standard == s.name)
                .collect();
            let open: Vec<_> = mine.iter().filter(|d| d.exception.is_none()).collect();
            let excepted: Vec<_> = mine.iter().filter(|d| d.exception.is_some()).collect();
            let worst = open.iter().map(|d| d.severity).max();
            cases.push(Case {
                name: format!("{} {}/{}", w.kind, w.namespace, w.name),
                file: w.source.file.clone(),
                line: w.source.line,
                failure: worst.map(|sev| {
                    (
                        format!("{} open deviation(s) from {}", open.len(), s.name),
                        sev.to_string(),
                        open.iter()
                            .map(|d| format!("[{}] {}: {}", d.severity, d.rule, d.message))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    )
                }),
                error: None,
                output: (!excepted.is_empty()).then(|| {
                    excepted
                        .iter()
                        .map(|d| {
                            format!(
                                "excepted by {}: [{}] {}: {}",
                                d.exception.as_deref().unwrap_or_default(),
                                d.severity,
                                d.rule,
                                d.message
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }),
            });
        }
        if let Some(note) = s.review_note() {
            // A note, never a failure: a review due is the platform team's
            // to act on, not the workloads' in this change.
            cases.push(Case {
                name: "review and lifecycle".into(),
                file: s
                    .source
                    .as_ref()
                    .map(|x| x.file.clone())
                    .unwrap_or_default(),
                line: s.source.as_ref().map_or(0, |x| x.line),
                failure: None,
                error: None,
                output: Some(note),
            });
        }
        suites.push((format!("standard {}", s.name), cases));
    }
    for b in &report.baselines {
        let mut cases = Vec::new();
        for w in &report.workloads {
            let Some(patch) = &w.patch else { continue };
            let images: Vec<_> = patch
                .images
                .iter()
                .filter(|i| i.baseline == b.name)
                .collect();
            if images.is_empty() {
                continue;
            }
            let describe = |i: &&crate::api::report::ImagePatch| {
                format!(
                    "{} {} {:?} (minimum {}{}){}",
                    i.container,
                    i.image,
                    i.state,
                    i.minimum_version,
                    i.due
                        .as_ref()
                        .map(|d| format!(", due {}", d.0))
                        .unwrap_or_default(),
                    i.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )
            };
            let overdue: Vec<_> = images
                .iter()
                .filter(|i| i.state == PatchState::Overdue)
                .collect();
            let other: Vec<_> = images
                .iter()
                .filter(|i| i.state != PatchState::Overdue)
                .collect();
            cases.push(Case {
                name: format!("{} {}/{}", w.kind, w.namespace, w.name),
                file: w.source.file.clone(),
                line: w.source.line,
                failure: (!overdue.is_empty()).then(|| {
                    (
                        format!("{} image(s) overdue against {}", overdue.len(), b.name),
                        "Overdue".to_string(),
                        overdue
                            .iter()
                            .map(|i| describe(i))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    )
                }),
                error: None,
                output: (!other.is_empty()).then(|| {
                    other
                        .iter()
                        .map(|i| describe(i))
                        .collect::<Vec<_>>()
                        .join("\n")
                }),
            });
        }
        suites.push((format!("patch {}", b.name), cases));
    }
    let ownership = report
        .workloads
        .iter()
        .map(|w| Case {
            name: format!("{} {}/{}", w.kind, w.namespace, w.name),
            file: w.source.file.clone(),
            line: w.source.line,
            failure: w
                .owner
                .problem
                .clone()
                .map(|problem| (problem, w.owner.state.to_string(), String::new())),
            error: None,
            output: (w.owner.complete == Some(false)).then(|| {
                format!(
                    "owned by {}, which is incomplete",
                    w.owner.service_ownerships.join(", ")
                )
            }),
        })
        .collect();
    suites.push(("ownership".into(), ownership));
    let ownerships = report
        .ownerships
        .iter()
        .map(|o| Case {
            name: format!("ServiceOwnership {}/{}", o.namespace, o.name),
            file: o
                .source
                .as_ref()
                .map(|s| s.file.clone())
                .unwrap_or_default(),
            line: o.source.as_ref().map_or(0, |s| s.line),
            failure: (!o.findings.is_empty()).then(|| {
                (
                    format!(
                        "incomplete: {}",
                        o.findings
                            .iter()
                            .map(|f| f.reason)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "Incomplete".to_string(),
                    o.findings
                        .iter()
                        .map(|f| f.message.as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            }),
            error: o.error.clone(),
            output: None,
        })
        .collect::<Vec<_>>();
    if !ownerships.is_empty() {
        suites.push(("service ownerships".into(), ownerships));
    }
    if !report.errors.is_empty() {
        let cases = report
            .errors
            .iter()
            .map(|e| Case {
                name: format!("{} document {}", e.source.file, e.source.document),
                file: e.source.file.clone(),
                line: e.source.line,
                failure: None,
                error: Some(e.message.clone()),
                output: None,
            })
            .collect();
        suites.push(("input".into(), cases));
    }

    let tests: usize = suites.iter().map(|(_, c)| c.len()).sum();
    let failures: usize = suites
        .iter()
        .flat_map(|(_, c)| c)
        .filter(|c| c.failure.is_some())
        .count();
    let errors: usize = suites
        .iter()
        .flat_map(|(_, c)| c)
        .filter(|c| c.error.is_some())
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"plumbline audit\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" timestamp=\"{}\">",
        esc(&report.evaluated_at)
    );
    for (name, cases) in &suites {
        suite(&mut out, name, cases);
    }
    out.push_str("</testsuites>\n");
    out
}
