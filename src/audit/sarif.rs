//! The audit report as SARIF 2.1.0, for code-scanning tools: one rule per
//! standard rule (plus patch and ownership rules), one result per finding,
//! pointing at the file and line of the workload; excepted deviations are
//! reported as suppressed. Typed and streamed: a large report is written
//! without being built in memory twice.

use std::{collections::BTreeMap, io::Write};

use serde::Serialize;

use super::report::{Report, Source, Summary};
use crate::api::{PatchState, Severity};

const ORPHAN_RULE: &str = "ownership/orphan";
/// A standard's review and lifecycle, as a note.
const REVIEW_RULE: &str = "standard/review";
const CONFLICT_RULE: &str = "ownership/conflict";
const INCOMPLETE_RULE: &str = "ownership/incomplete";
const INPUT_RULE: &str = "input/malformed";
const HELP: &str = "https://plumbline.dev/docs/audit";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    invocations: [Invocation<'a>; 1],
    results: Vec<SarifResult<'a>>,
    properties: RunProperties<'a>,
}

#[derive(Serialize)]
struct RunProperties<'a> {
    summary: &'a Summary,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    name: String,
    short_description: Text,
    default_configuration: Configuration,
    help_uri: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    end_time_utc: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location<'a>; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    properties: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: Artifact,
    region: Region,
}

#[derive(Serialize)]
struct Artifact {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    fully_qualified_name: String,
    kind: &'a str,
}

#[derive(Serialize)]
struct Suppression {
    kind: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    justification: Option<String>,
}

/// The rules of the log, each declared once, with their indices.
#[derive(Default)]
struct Rules {
    list: Vec<Rule>,
    index: BTreeMap<String, usize>,
}

impl Rules {
    /// The rule's index, declaring it first if needed.
    fn declare(&mut self, id: &str, text: &str, level: &'static str) -> usize {
        if let Some(i) = self.index.get(id) {
            return *i;
        }
        self.list.push(Rule {
            id: id.to_string(),
            name: id.to_string(),
            short_description: Text {
                text: text.to_string(),
            },
            default_configuration: Configuration { level },
            help_uri: HELP,
        });
        self.index.insert(id.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn location<'a>(source: &Source, logical: Option<String>) -> [Location<'a>; 1] {
    let uri = if source.file == "-" {
        "stdin".to_string()
    } else {
        source.file.replace('\\', "/")
    };
    [Location {
        physical_location: PhysicalLocation {
            artifact_location: Artifact { uri },
            region: Region {
                start_line: source.line,
            },
        },
        logical_locations: logical
            .map(|name| {
                vec![LogicalLocation {
                    fully_qualified_name: name,
                    kind: "object",
                }]
            })
            .unwrap_or_default(),
    }]
}

fn accepted(justification: Option<String>) -> Vec<Suppression> {
    vec![Suppression {
        kind: "external",
        status: "accepted",
        justification,
    }]
}

/// Writes the report as a SARIF 2.1.0 log.
pub fn write(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let mut rules = Rules::default();
    for s in &report.standards {
        for r in &s.rules {
            rules.declare(
                &format!("{}/{}", s.name, r.id),
                &r.description,
                level(r.severity),
            );
        }
    }
    for b in &report.baselines {
        rules.declare(
            &format!("patch/{}", b.name),
            &format!(
                "Images meet the minimum versions of the patch baseline {}",
                b.name
            ),
            "warning",
        );
    }
    rules.declare(
        ORPHAN_RULE,
        "A ServiceOwnership selects the workload",
        "warning",
    );
    rules.declare(
        CONFLICT_RULE,
        "Exactly one ServiceOwnership selects the workload",
        "warning",
    );
    rules.declare(
        INCOMPLETE_RULE,
        "A ServiceOwnership names enough maintainers, a runbook, on-call and support tiers, and its support has not ended",
        "warning",
    );
    rules.declare(INPUT_RULE, "The document can be read and is valid", "error");
    rules.declare(
        REVIEW_RULE,
        "The standard's review and lifecycle: review required or due, the current review, the migration off a deprecated standard",
        "note",
    );
    // Every id below is declared above; `id_of` declares any other on the fly
    // rather than failing, so the log stays valid whatever the report holds.
    let mut id_of = |id: &str| (id.to_string(), rules.declare(id, id, "warning"));
    let mut results = Vec::new();
    for w in &report.workloads {
        let name = format!("{}/{}/{}", w.kind, w.namespace, w.name);
        for d in &w.deviations {
            let (rule_id, rule_index) = id_of(&format!("{}/{}", d.standard, d.rule));
            results.push(SarifResult {
                rule_id,
                rule_index,
                level: level(d.severity),
                message: Text {
                    text: format!("{} {}/{}: {}", w.kind, w.namespace, w.name, d.message),
                },
                locations: location(&w.source, Some(name.clone())),
                suppressions: d
                    .exception
                    .as_ref()
                    .map(|e| {
                        accepted(Some(format!(
                            "covered by the StandardException {}/{e}",
                            w.namespace
                        )))
                    })
                    .unwrap_or_default(),
                properties: BTreeMap::from([("severity", d.severity.to_string())]),
            });
        }
        if let Some(patch) = &w.patch {
            for img in patch
                .images
                .iter()
                .filter(|i| i.state != PatchState::Current)
            {
                let (rule_id, rule_index) = id_of(&format!("patch/{}", img.baseline));
                results.push(SarifResult {
                    rule_id,
                    rule_index,
                    level: match img.state {
                        PatchState::Overdue => "error",
                        PatchState::Behind => "warning",
                        _ => "note",
                    },
                    message: Text {
                        text: format!(
                            "{} {}/{}: container {} runs {}, patch state {:?} (minimum {}{}){}",
                            w.kind,
                            w.namespace,
                            w.name,
                            img.container,
                            img.image,
                            img.state,
                            img.minimum_version,
                            img.due
                                .as_ref()
                                .map(|d| format!(", due {}", d.0))
                                .unwrap_or_default(),
                            img.reason
                                .as_ref()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default(),
                        ),
                    },
                    locations: location(&w.source, Some(name.clone())),
                    suppressions: if img.state == PatchState::Excepted {
                        accepted(None)
                    } else {
                        Vec::new()
                    },
                    properties: BTreeMap::from([("patchState", format!("{:?}", img.state))]),
                });
            }
        }
        let rule = match w.owner.state {
            "Orphan" => Some(ORPHAN_RULE),
            "Conflict" => Some(CONFLICT_RULE),
            _ => None,
        };
        let ownership = rule.zip(w.owner.problem.clone());
        if let Some((id, text)) = ownership {
            let (rule_id, rule_index) = id_of(id);
            results.push(SarifResult {
                rule_id,
                rule_index,
                level: "warning",
                message: Text {
                    text: format!("{} {}/{}: {text}", w.kind, w.namespace, w.name),
                },
                locations: location(&w.source, Some(name)),
                suppressions: Vec::new(),
                properties: BTreeMap::new(),
            });
        }
    }
    for s in &report.standards {
        let (Some(source), Some(note)) = (&s.source, s.review_note()) else {
            continue;
        };
        let (rule_id, rule_index) = id_of(REVIEW_RULE);
        results.push(SarifResult {
            rule_id,
            rule_index,
            level: "note",
            message: Text {
                text: format!("InfrastructureStandard {}: {note}", s.name),
            },
            locations: location(source, Some(format!("InfrastructureStandard/{}", s.name))),
            suppressions: Vec::new(),
            properties: BTreeMap::new(),
        });
    }
    for o in &report.ownerships {
        let Some(source) = &o.source else { continue };
        for f in &o.findings {
            let (rule_id, rule_index) = id_of(INCOMPLETE_RULE);
            results.push(SarifResult {
                rule_id,
                rule_index,
                level: "warning",
                message: Text {
                    text: format!("ServiceOwnership {}/{}: {}", o.namespace, o.name, f.message),
                },
                locations: location(
                    source,
                    Some(format!("ServiceOwnership/{}/{}", o.namespace, o.name)),
                ),
                suppressions: Vec::new(),
                properties: BTreeMap::from([("reason", f.reason.to_string())]),
            });
        }
    }
    for e in &report.errors {
        let (rule_id, rule_index) = id_of(INPUT_RULE);
        results.push(SarifResult {
            rule_id,
            rule_index,
            level: "error",
            message: Text {
                text: e.message.clone(),
            },
            locations: location(&e.source, None),
            suppressions: Vec::new(),
            properties: BTreeMap::new(),
        });
    }

    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "plumbline",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: "https://plumbline.dev",
                    rules: rules.list,
                },
            },
            invocations: [Invocation {
                execution_successful: report.errors.is_empty(),
                end_time_utc: &report.evaluated_at,
            }],
            results,
            properties: RunProperties {
                summary: &report.summary,
            },
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log).map_err(std::io::Error::from)?;
    out.write_all(b"\n")
}
