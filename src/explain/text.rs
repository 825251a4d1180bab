//! An explanation as text for a terminal. Pure.

use std::fmt::Write;

use super::{AdmissionAction, Explanation};
use crate::api::PatchState;

/// The explanation as lines for people, every section present (saying
/// "none" rather than disappearing), so nobody wonders whether a part was
/// checked.
pub fn render(e: &Explanation) -> String {
    let mut out = String::new();
    let open = e
        .deviations
        .iter()
        .filter(|d| d.exception.is_none())
        .count();
    let excepted = e.deviations.len() - open;
    let verdict = if open > 0 {
        format!("deviating: {open} open deviation{}", plural(open))
    } else if excepted > 0 {
        "compliant through exceptions".to_string()
    } else if e.standards.is_empty() {
        "no standard matches it".to_string()
    } else {
        "compliant".to_string()
    };
    let _ = writeln!(
        out,
        "{} {}/{}: {verdict}{} (at {})",
        e.kind,
        e.namespace,
        e.name,
        if excepted > 0 && open > 0 {
            format!(", {excepted} covered by exceptions")
        } else {
            String::new()
        },
        e.evaluated_at
    );

    out.push_str("\nStandards:\n");
    if e.standards.is_empty() {
        out.push_str("  none matches it\n");
    }
    for s in &e.standards {
        let _ = writeln!(out, "  {} ({:?}): {}", s.name, s.enforcement, s.compliance);
    }

    out.push_str("\nAdmission (creating or changing it now):\n");
    let a = &e.admission;
    if let Some(why) = &a.exempt {
        let _ = writeln!(out, "  not judged: {why}");
    } else if a.refused {
        let _ = writeln!(out, "  refused for {}", a.refusals.join(", "));
    } else {
        out.push_str("  admitted\n");
    }
    if !a.warnings.is_empty() {
        let _ = writeln!(out, "  with warnings for {}", a.warnings.join(", "));
    }

    out.push_str("\nDeviations:\n");
    if e.deviations.is_empty() {
        out.push_str("  none\n");
    }
    for d in &e.deviations {
        let mark = if d.exception.is_some() { "~" } else { "✗" };
        let admission = match d.admission {
            AdmissionAction::Refuse => "refused at admission".to_string(),
            AdmissionAction::Warn => "warned at admission".to_string(),
            AdmissionAction::Excepted => "admitted: excepted".to_string(),
            AdmissionAction::Audit => "recorded only (Audit)".to_string(),
            AdmissionAction::Exempt => "not judged at admission".to_string(),
            AdmissionAction::Background => match &d.admission_note {
                Some(why) => format!("checked in the background only: {why}"),
                None => "checked in the background only".to_string(),
            },
        };
        let _ = writeln!(
            out,
            "  {mark} {:<8} {}/{} [{admission}]",
            format!("{:?}", d.severity),
            d.standard,
            d.rule
        );
        let _ = writeln!(out, "      {}", d.message);
        if !d.description.is_empty() {
            let _ = writeln!(out, "      the rule: {}", d.description);
        }
        if let Some(c) = &d.exception {
            let _ = writeln!(
                out,
                "      excepted by {} until {}: it must comply from then",
                c.name, c.expires_at
            );
        }
    }

    out.push_str("\nExceptions that select it:\n");
    if e.exceptions.is_empty() {
        out.push_str("  none\n");
    }
    for x in &e.exceptions {
        let _ = writeln!(
            out,
            "  {} ({:?}, {}; requested by {}{}): {}",
            x.name,
            x.state,
            x.target,
            x.requested_by,
            x.approved_by
                .as_deref()
                .map(|a| format!(", approved by {a}"))
                .unwrap_or_default(),
            x.message
        );
    }
    if !e.would_cover.is_empty() {
        out.push_str("\nOnce approved, these would cover:\n");
        for w in &e.would_cover {
            let _ = writeln!(
                out,
                "  {} (requested by {}, until {}): {}",
                w.name,
                w.requested_by,
                w.expires_at,
                w.deviations.join(", ")
            );
        }
    }

    out.push_str("\nPatch:\n");
    match &e.patch {
        None => out.push_str("  no baseline applies\n"),
        Some(p) => {
            let _ = writeln!(
                out,
                "  {:?}{}",
                p.state,
                p.due
                    .as_deref()
                    .filter(|_| matches!(p.state, PatchState::Behind | PatchState::Overdue))
                    .map(|d| format!(", due {d}"))
                    .unwrap_or_default()
            );
            for i in &p.images {
                let _ = writeln!(
                    out,
                    "  {:?}: {} `{}` needs {} or newer ({}{}{}){}",
                    i.state,
                    i.container,
                    i.image,
                    i.minimum_version,
                    i.baseline,
                    i.ring
                        .as_deref()
                        .map(|r| format!(", ring {r}"))
                        .unwrap_or_default(),
                    i.due
                        .as_deref()
                        .map(|d| format!(", due {d}"))
                        .unwrap_or_default(),
                    i.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
            }
        }
    }

    out.push_str("\nOwner:\n");
    let o = &e.owner;
    match (&o.service, &o.problem) {
        (_, Some(problem)) => {
            let _ = writeln!(out, "  {}: {problem}", o.state);
        }
        (Some(s), None) => {
            let _ = writeln!(
                out,
                "  {} (team {})",
                o.service_ownerships.join(", "),
                s.team
            );
            if !s.maintainers.is_empty() {
                let people: Vec<String> = s
                    .maintainers
                    .iter()
                    .map(|m| match &m.email {
                        Some(mail) => format!("{} <{mail}>", m.name),
                        None => m.name.clone(),
                    })
                    .collect();
                let _ = writeln!(out, "  maintainers: {}", people.join(", "));
            }
            for t in &s.support_tiers {
                let _ = writeln!(out, "  {:?} line: {} ({})", t.tier, t.team, t.contact);
            }
            if let Some(c) = &s.on_call {
                let _ = writeln!(
                    out,
                    "  on call: {}{}",
                    c.rotation,
                    c.contact
                        .as_deref()
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default()
                );
            }
            if let Some(x) = &s.escalation {
                let _ = writeln!(out, "  escalation: {x}");
            }
            if let Some(r) = &s.runbook {
                let _ = writeln!(out, "  runbook: {r}");
            }
            if let Some(r) = &s.repository {
                let _ = writeln!(out, "  repository: {r}");
            }
            for g in &s.gaps {
                let _ = writeln!(out, "  incomplete: {g}");
            }
        }
        (None, None) => {
            let _ = writeln!(out, "  {}", o.service_ownerships.join(", "));
        }
    }

    for d in &e.deprecated {
        let _ = writeln!(
            out,
            "\nDeprecated: {} is deprecated{}{}",
            d.standard,
            d.superseded_by
                .as_deref()
                .map(|s| format!(", move to {s}"))
                .unwrap_or_default(),
            d.sunset
                .as_deref()
                .map(|s| format!(" by {s}"))
                .unwrap_or_default()
        );
    }
    printable(out)
}

/// Control characters (a terminal's escape sequences) from the objects'
/// strings are shown as `\u{1b}`, never sent to the terminal.
fn printable(text: String) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
