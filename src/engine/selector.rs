//! Label selectors compiled once and matched against label maps, with the
//! semantics of Kubernetes' `LabelSelector` (matchLabels and matchExpressions
//! ANDed; an empty selector matches everything). Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::EngineError;

/// Labels (or annotations) of an object, sorted by key. A sorted list
/// rather than a `BTreeMap`: an object carries a handful, and a map node
/// has room for eleven, which at 10,000 workloads with three such maps each
/// was most of the operator's memory for them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Whether a key is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets a key; returns its previous value.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes a key; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Keys and values, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        // Already sorted by key, and exactly as long as needed.
        Self(map.into_iter().collect())
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let map: BTreeMap<String, String> = iter.into_iter().collect();
        map.into()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

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

    #[test]
    fn labels_stay_sorted_whatever_the_order_they_are_set_in() {
        let mut l = Labels::new();
        assert_eq!(l.insert("b".into(), "2".into()), None);
        assert_eq!(l.insert("a".into(), "1".into()), None);
        assert_eq!(l.insert("c".into(), "3".into()), None);
        assert_eq!(l.insert("b".into(), "two".into()), Some("2".into()));
        let keys: Vec<&String> = l.keys().collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(l.get("b").map(String::as_str), Some("two"));
        assert!(l.contains_key("c") && !l.contains_key("d"));
        assert_eq!(l.remove("a"), Some("1".into()));
        assert_eq!(l.len(), 2);
        let from_map: Labels = BTreeMap::from([
            ("c".to_string(), "3".to_string()),
            ("b".into(), "two".into()),
        ])
        .into();
        assert_eq!(from_map, l);
    }

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
