//! Label selectors compiled once and matched against label maps, with the
//! semantics of Kubernetes' `LabelSelector` (matchLabels and matchExpressions
//! ANDed; an empty selector matches everything). Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::EngineError;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// One compiled requirement.
#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A compiled label selector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// A selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Compiles a selector; `what` names it in errors, e.g. `spec.match.selector`.
    pub fn compile(selector: &LabelSelector, what: &str) -> Result<Self, EngineError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::Equals(key.clone(), value.clone()));
        }
        for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
            let values = expr.values.clone().unwrap_or_default();
            let at = || format!("{what}.matchExpressions[{i}]");
            let requirement = match expr.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(EngineError::InvalidSelector {
                        at: at(),
                        reason: format!("operator {} needs at least one value", expr.operator),
                    });
                }
                "In" => Requirement::In(expr.key.clone(), values),
                "NotIn" => Requirement::NotIn(expr.key.clone(), values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(EngineError::InvalidSelector {
                        at: at(),
                        reason: format!("operator {} takes no values", expr.operator),
                    });
                }
                "Exists" => Requirement::Exists(expr.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(expr.key.clone()),
                other => {
                    return Err(EngineError::InvalidSelector {
                        at: at(),
                        reason: format!(
                            "unknown operator {other:?}: use In, NotIn, Exists or DoesNotExist"
                        ),
                    });
                }
            };
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    /// Compiles an optional selector, where absent means "everything".
    pub fn compile_optional(
        selector: Option<&LabelSelector>,
        what: &str,
    ) -> Result<Self, EngineError> {
        selector.map_or_else(|| Ok(Self::everything()), |s| Self::compile(s, what))
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|req| match req {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }

    /// Whether the selector matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let sel = Selector::compile(
            &LabelSelector {
                match_labels: Some([("team".to_string(), "data".to_string())].into()),
                match_expressions: Some(vec![
                    expr("env", "In", &["dev", "staging"]),
                    expr("tier", "NotIn", &["db"]),
                    expr("owner", "Exists", &[]),
                    expr("legacy", "DoesNotExist", &[]),
                ]),
            },
            "s",
        )
        .unwrap();
        assert!(sel.matches(&labels(&[("team", "data"), ("env", "dev"), ("owner", "x")])));
        assert!(!sel.matches(&labels(&[
            ("team", "data"),
            ("env", "prod"),
            ("owner", "x")
        ])));
        assert!(
            !sel.matches(&labels(&[("team", "data"), ("env", "dev")])),
            "owner must exist"
        );
        assert!(!sel.matches(&labels(&[
            ("team", "data"),
            ("env", "dev"),
            ("owner", "x"),
            ("tier", "db")
        ])));
        assert!(!sel.matches(&labels(&[
            ("team", "data"),
            ("env", "dev"),
            ("owner", "x"),
            ("legacy", "")
        ])));
        assert!(
            !sel.matches(&labels(&[("env", "dev"), ("owner", "x")])),
            "team must equal data"
        );
    }

    #[test]
    fn empty_selector_matches_everything() {
        let sel = Selector::compile(&LabelSelector::default(), "s").unwrap();
        assert!(sel.is_everything());
        assert!(sel.matches(&Labels::new()));
    }

    #[test]
    fn bad_operators_name_the_expression() {
        let bad = LabelSelector {
            match_expressions: Some(vec![
                expr("a", "Exists", &[]),
                expr("env", "Equals", &["x"]),
            ]),
            ..Default::default()
        };
        let err = Selector::compile(&bad, "spec.match.selector")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("spec.match.selector.matchExpressions[1]"),
            "{err}"
        );
        assert!(err.contains("unknown operator \"Equals\""), "{err}");
        let empty_in = LabelSelector {
            match_expressions: Some(vec![expr("env", "In", &[])]),
            ..Default::default()
        };
        assert!(Selector::compile(&empty_in, "s").is_err());
    }
}
