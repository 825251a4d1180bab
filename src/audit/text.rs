//! The audit report for people: grouped by workload, most severe first,
//! coloured when printed to a terminal, with a summary line. Pure.

use std::fmt::Write;

use super::report::Report;
use crate::api::{ExceptionState, PatchState, Severity};

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn severity(&self, s: Severity) -> String {
        let text = format!("{:<8}", s.as_str());
        match s {
            Severity::Critical | Severity::High => self.red(&text),
            Severity::Medium => self.yellow(&text),
            Severity::Low => self.dim(&text),
        }
    }
}

/// Renders the report; `color` adds ANSI colours.
pub fn render(report: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for w in &report.workloads {
        let patch_attention = w
            .patch
            .as_ref()
            .is_some_and(|pt| !matches!(pt.state, PatchState::Current));
        if w.deviations.is_empty() && !patch_attention && w.owner.state == "Owned" {
            continue;
        }
        let _ = writeln!(
            out,
            "{} {}",
            p.bold(&format!("{} {}/{}", w.kind, w.namespace, w.name)),
            p.dim(&format!("({}:{})", w.source.file, w.source.line))
        );
        for d in &w.deviations {
            match &d.exception {
                None => {
                    let _ = writeln!(
                        out,
                        "  {} {} {}/{}: {}",
                        p.red("✗"),
                        p.severity(d.severity),
                        d.standard,
                        d.rule,
                        d.message
                    );
                }
                Some(e) => {
                    let _ = writeln!(
                        out,
                        "  {} {} {}/{}: {} {}",
                        p.dim("~"),
                        p.dim(&format!("{:<8}", d.severity.as_str())),
                        d.standard,
                        d.rule,
                        d.message,
                        p.dim(&format!("[excepted by {e}]"))
                    );
                }
            }
        }
        if let Some(patch) = &w.patch
            && patch.state != PatchState::Current
        {
            for img in patch
                .images
                .iter()
                .filter(|i| i.state != PatchState::Current)
            {
                let state = format!("{:?}", img.state);
                let state = match img.state {
                    PatchState::Overdue => p.red(&state),
                    PatchState::Behind => p.yellow(&state),
                    _ => p.dim(&state),
                };
                let when = match (img.state, &img.due) {
                    (PatchState::Overdue, Some(d)) => format!(", overdue since {}", d.0),
                    (PatchState::Behind, Some(d)) => format!(", due {}", d.0),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  patch {state}: {} `{}` needs {} or newer ({}{}{}){}",
                    img.container,
                    img.image,
                    img.minimum_version,
                    img.baseline,
                    img.ring
                        .as_ref()
                        .map(|r| format!(", ring {r}"))
                        .unwrap_or_default(),
                    when,
                    img.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
            }
        }
        match (w.owner.state, &w.owner.problem) {
            ("Orphan" | "Conflict", Some(problem)) => {
                let _ = writeln!(
                    out,
                    "  owner: {}: {problem}",
                    p.yellow(&w.owner.state.to_ascii_lowercase())
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  owner: {} (team {}{})",
                    w.owner.service_ownerships.join(", "),
                    w.owner.team.as_deref().unwrap_or_default(),
                    if w.owner.complete == Some(false) {
                        ", incomplete"
                    } else {
                        ""
                    }
                );
            }
        }
        out.push('\n');
    }

    for s in &report.standards {
        let head = format!("standard {}", s.name);
        if let Some(err) = &s.error {
            let _ = writeln!(out, "{}: {} {err}", p.bold(&head), p.red("invalid:"));
            continue;
        }
        for err in &s.rule_errors {
            let _ = writeln!(out, "{}: {} {err}", p.bold(&head), p.red("invalid rule:"));
        }
        for warning in &s.warnings {
            let _ = writeln!(out, "{}: {} {warning}", p.bold(&head), p.yellow("warning:"));
        }
        let _ = writeln!(
            out,
            "{}: {} matched, {} compliant, {} deviating, {} excepted; exceptions: {} active, {} stale, {} pending, {} expired, {} invalid{}",
            p.bold(&head),
            s.matched,
            s.compliant,
            s.deviating,
            s.excepted,
            s.exceptions.active,
            s.exceptions.stale,
            s.exceptions.pending,
            s.exceptions.expired,
            s.exceptions.invalid,
            s.review_required
                .as_ref()
                .map(|r| format!("\n  {} {r}", p.yellow("review required:")))
                .unwrap_or_default()
        );
        if let Some(r) = s.review.as_ref().filter(|r| !r.required) {
            let _ = writeln!(out, "  {} {}", p.green("reviewed:"), r.message);
        }
        if let Some(e) = &s.lifecycle_error {
            let _ = writeln!(out, "  {} {e}", p.red("lifecycle:"));
        }
        if let Some(m) = &s.migration {
            let _ = writeln!(
                out,
                "  {} {}",
                p.yellow("migration:"),
                super::report::describe(m)
            );
        } else if s.stage != crate::api::standard::Stage::Active {
            let _ = writeln!(out, "  the standard is {}", s.stage.as_str());
        }
    }
    for e in &report.exceptions {
        let state = format!("{:?}", e.state);
        let state = match e.state {
            ExceptionState::Active => p.green(&state),
            ExceptionState::Invalid | ExceptionState::Expired => p.red(&state),
            _ => p.yellow(&state),
        };
        let _ = writeln!(
            out,
            "exception {}/{}: {state}: {}",
            e.namespace, e.name, e.message
        );
    }
    for b in &report.baselines {
        if let Some(err) = &b.error {
            let _ = writeln!(
                out,
                "{}: {} {err}",
                p.bold(&format!("baseline {}", b.name)),
                p.red("invalid:")
            );
            continue;
        }
        let rings: Vec<String> = b
            .rings
            .iter()
            .map(|r| {
                format!(
                    "{} {}/{}/{}/{}/{}",
                    r.name,
                    r.counts.current,
                    r.counts.behind,
                    r.counts.overdue,
                    r.counts.excepted,
                    r.counts.unknown
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{}: {} current, {} behind, {} overdue, {} excepted, {} unknown (per ring current/behind/overdue/excepted/unknown: {})",
            p.bold(&format!("baseline {}", b.name)),
            b.totals.current,
            b.totals.behind,
            b.totals.overdue,
            b.totals.excepted,
            b.totals.unknown,
            rings.join(", ")
        );
    }
    for o in &report.ownerships {
        let head = p.bold(&format!("ownership {}/{}", o.namespace, o.name));
        if let Some(err) = &o.error {
            let _ = writeln!(out, "{head}: {} {err}", p.red("invalid:"));
        } else if o.findings.is_empty() {
            let _ = writeln!(
                out,
                "{head}: {}, complete",
                plural(o.matched as usize, "workload")
            );
        } else {
            let gaps: Vec<&str> = o.findings.iter().map(|f| f.message.as_str()).collect();
            let _ = writeln!(
                out,
                "{head}: {}, {} {}",
                plural(o.matched as usize, "workload"),
                p.yellow("incomplete:"),
                gaps.join("; ")
            );
        }
    }
    for e in &report.errors {
        let _ = writeln!(
            out,
            "{} {}:{} (document {}): {}",
            p.red("error:"),
            e.source.file,
            e.source.line,
            e.source.document,
            e.message
        );
    }
    for d in &report.duplicates {
        let _ = writeln!(
            out,
            "{} {} is defined twice: {}:{} is judged, {}:{} is set aside",
            p.yellow("note:"),
            d.object,
            d.judged.file,
            d.judged.line,
            d.set_aside.file,
            d.set_aside.line
        );
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// The one-line summary.
pub fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let open: usize = s.open_deviations.values().sum();
    let by_severity: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|sev| s.open_deviations.get(sev).map(|n| format!("{n} {sev}")))
        .collect();
    let patch: Vec<String> = s
        .patch
        .iter()
        .map(|(state, n)| format!("{n} {state:?}"))
        .collect();
    let skipped: usize = s.skipped_kinds.values().sum();
    let foreign = if s.not_kubernetes == 0 {
        String::new()
    } else {
        format!(", {} skipped (not Kubernetes objects)", s.not_kubernetes)
    };
    format!(
        "{}: {} compliant ({} through exceptions), {} deviating; {} open deviations{}; patch: {}; {} orphaned; {} skipped (unknown kinds){foreign}; {} errors",
        plural(s.workloads, "workload"),
        s.compliant,
        s.excepted,
        s.deviating,
        open,
        if by_severity.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_severity.join(", "))
        },
        if patch.is_empty() {
            "no baseline applies".into()
        } else {
            patch.join(", ")
        },
        s.orphans,
        skipped,
        s.errors
    )
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
