//! Small pieces of CEL source: string literals and label selectors. Every
//! value from a spec enters a policy through `string()`, so nothing a user
//! writes can change an expression's structure. Pure.

use std::fmt::Write;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A CEL string literal holding exactly `s`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finding of `engine::findings` as a CEL string expression: its fixed
/// words as literals, its values as the CEL expressions given for them.
#[derive(Default)]
pub struct Concat {
    parts: Vec<String>,
    words: String,
}

impl crate::engine::findings::Sink for Concat {
    fn text(&mut self, words: &str) {
        self.words.push_str(words);
    }

    fn text_fmt(&mut self, words: std::fmt::Arguments<'_>) {
        let _ = std::fmt::Write::write_fmt(&mut self.words, words);
    }

    fn value(&mut self, value: &str) {
        self.flush();
        self.parts.push(format!("({value})"));
    }
}

impl Concat {
    fn flush(&mut self) {
        if !self.words.is_empty() {
            self.parts.push(string(&std::mem::take(&mut self.words)));
        }
    }
}

/// The CEL expression of one finding, written by `write` (an
/// `engine::findings` function given CEL expressions as its values).
pub fn finding(write: impl FnOnce(&mut Concat)) -> String {
    let mut c = Concat::default();
    write(&mut c);
    c.flush();
    if c.parts.is_empty() {
        return "\"\"".into();
    }
    c.parts.join(" + ")
}

/// A CEL list literal of strings.
pub fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(string).collect();
    format!("[{}]", items.join(", "))
}

/// An expression true when the labels in `labels` (a CEL map expression)
/// satisfy `selector`, with Kubernetes' semantics (every requirement holds;
/// an empty selector selects everything). `None` when an operator is
/// unknown (the engine has refused the spec already).
pub fn selector(selector: &LabelSelector, labels: &str) -> Option<String> {
    let mut terms = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        let k = string(key);
        terms.push(format!(
            "({k} in {labels} && {labels}[{k}] == {})",
            string(value)
        ));
    }
    for expr in selector.match_expressions.iter().flatten() {
        let k = string(&expr.key);
        let values = strings(expr.values.iter().flatten().map(String::as_str));
        terms.push(match expr.operator.as_str() {
            "In" => format!("({k} in {labels} && {labels}[{k}] in {values})"),
            "NotIn" => format!("(!({k} in {labels}) || !({labels}[{k}] in {values}))"),
            "Exists" => format!("({k} in {labels})"),
            "DoesNotExist" => format!("!({k} in {labels})"),
            _ => return None,
        });
    }
    Some(if terms.is_empty() {
        "true".into()
    } else {
        terms.join(" && ")
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    #[test]
    fn findings_become_concatenations_of_words_and_values() {
        use crate::engine::findings;
        assert_eq!(
            finding(|s| findings::no_digest(s, "c", "i")),
            r#"(c) + " uses `" + (i) + "` without a digest: pin it as `" + (i) + "@sha256:...`""#
        );
        // The same words as the engine writes with the values themselves.
        assert_eq!(
            findings::text(|s| findings::no_digest(s, "container `app`", "nginx")),
            "container `app` uses `nginx` without a digest: pin it as `nginx@sha256:...`"
        );
        assert_eq!(finding(findings::token_mounted).matches('"').count(), 2);
    }

    #[test]
    fn literals_cannot_break_out() {
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string("x\ny\u{1}"), r#""x\ny\u0001""#);
        assert_eq!(string("ünïcode `ok`"), "\"ünïcode `ok`\"");
        assert_eq!(strings(["a", "b"]), r#"["a", "b"]"#);
    }

    #[test]
    fn selectors_become_conjunctions() {
        let sel = LabelSelector {
            match_labels: Some([("team".to_string(), "data".to_string())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["prod".into()]),
                },
                LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector(&sel, "l").unwrap(),
            r#"("team" in l && l["team"] == "data") && (!("env" in l) || !(l["env"] in ["prod"])) && !("legacy" in l)"#
        );
        assert_eq!(selector(&LabelSelector::default(), "l").unwrap(), "true");
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "x".into(),
                operator: "Equals".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert_eq!(selector(&bad, "l"), None);
    }
}
