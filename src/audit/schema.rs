//! The structural-schema checks the API server applies to a plumbline
//! object before its CEL rules: types, required fields, enums, formats,
//! patterns, lengths, bounds, list sizes and list-map/set uniqueness — read
//! from the same generated CRDs, so `plumbline audit` refuses what `kubectl
//! apply` would. Pure.

use std::{collections::HashMap, sync::OnceLock};

use serde_json::Value;

/// The openAPIV3Schema of every plumbline kind, by kind.
fn schemas() -> &'static HashMap<&'static str, Value> {
    static SCHEMAS: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        crate::api::crds()
            .into_iter()
            .filter_map(|(kind, crd)| {
                let schema = crd
                    .spec
                    .versions
                    .first()?
                    .schema
                    .as_ref()?
                    .open_api_v3_schema
                    .as_ref()?;
                Some((kind, serde_json::to_value(schema).ok()?))
            })
            .collect()
    })
}

/// The CRD's CEL rules (`x-kubernetes-validations`) of every plumbline
/// kind, compiled once: what kube's `validate_cel()` checks, which builds
/// the CRD and compiles its rules again for every object it is given.
fn compiled() -> &'static HashMap<&'static str, kube::core::cel::CompiledSchema> {
    static COMPILED: OnceLock<HashMap<&'static str, kube::core::cel::CompiledSchema>> =
        OnceLock::new();
    COMPILED.get_or_init(|| {
        schemas()
            .iter()
            .map(|(kind, schema)| (*kind, kube::core::cel::compile_schema(schema)))
            .collect()
    })
}

/// Checks a plumbline object against its CRD's CEL rules, as the API server
/// does after the structural schema; the error lists every rule broken.
pub fn validate_cel<T: serde::Serialize>(kind: &str, object: &T) -> Result<(), String> {
    let Some(compiled) = compiled().get(kind) else {
        return Ok(());
    };
    let value = serde_json::to_value(object).map_err(|e| e.to_string())?;
    kube::core::cel::validate_compiled(compiled, &value, None).map_err(|e| e.to_string())
}

/// Every schema violation of a plumbline object, Kubernetes-style
/// (`spec.rules[0].id: Invalid value: ...`). `status` is not checked: the
/// operator writes it.
pub fn check(kind: &str, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(schema) = schemas().get(kind) else {
        return errors;
    };
    if let (Some(props), Some(obj)) = (schema.get("properties"), value.as_object()) {
        if let (Some(spec_schema), Some(spec)) = (props.get("spec"), obj.get("spec")) {
            walk("spec", spec_schema, spec, &mut errors);
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if r != "status" && !obj.contains_key(r) {
                    errors.push(format!("{r}: Required value"));
                }
            }
        }
    }
    errors
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 64 => {
            format!("\"{}...\"", s.chars().take(64).collect::<String>())
        }
        Value::Object(_) => "object".into(),
        Value::Array(_) => "array".into(),
        other => other.to_string(),
    }
}

fn walk(path: &str, schema: &Value, value: &Value, errors: &mut Vec<String>) {
    let get = |k: &str| schema.get(k);
    if value.is_null() {
        if get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{path}: Invalid value: \"null\": must not be null"));
        }
        return;
    }
    let ty = get("type").and_then(Value::as_str);
    let type_ok = match ty {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        errors.push(format!(
            "{path}: Invalid value: {}: must be of type {}",
            shown(value),
            ty.unwrap_or_default()
        ));
        return;
    }
    if let Some(options) = get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        errors.push(format!(
            "{path}: Unsupported value: {}: supported values: {}",
            shown(value),
            list.join(", ")
        ));
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = get("minLength").and_then(Value::as_u64)
                && len < min
            {
                errors.push(format!(
                    "{path}: Invalid value: {}: should be at least {min} chars long",
                    shown(value)
                ));
            }
            if let Some(max) = get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                errors.push(format!(
                    "{path}: Too long: may not be more than {max} bytes"
                ));
            }
            if let Some(pattern) = get("pattern").and_then(Value::as_str)
                && regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(s))
            {
                errors.push(format!(
                    "{path}: Invalid value: {}: should match '{pattern}'",
                    shown(value)
                ));
            }
            match get("format").and_then(Value::as_str) {
                Some("date-time") if s.parse::<jiff::Timestamp>().is_err() => errors.push(format!(
                    "{path}: Invalid value: {}: {path} in body must be of type date-time",
                    shown(value)
                )),
                Some("date") if s.parse::<jiff::civil::Date>().is_err() || s.len() != 10 => errors
                    .push(format!(
                        "{path}: Invalid value: {}: {path} in body must be of type date",
                        shown(value)
                    )),
                _ => {}
            }
        }
        Value::Number(n) => {
            if let (Some(min), Some(v)) = (get("minimum").and_then(Value::as_f64), n.as_f64())
                && v < min
            {
                errors.push(format!(
                    "{path}: Invalid value: {n}: {path} in body should be greater than or equal to {min}"
                ));
            }
            if let (Some(max), Some(v)) = (get("maximum").and_then(Value::as_f64), n.as_f64())
                && v > max
            {
                errors.push(format!(
                    "{path}: Invalid value: {n}: {path} in body should be less than or equal to {max}"
                ));
            }
        }
        Value::Array(items) => {
            if let Some(min) = get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(format!(
                    "{path}: Invalid value: {}: should have at least {min} items",
                    items.len()
                ));
            }
            if let Some(max) = get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errors.push(format!(
                    "{path}: Too many: {}: must have at most {max} items",
                    items.len()
                ));
            }
            match get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => {
                    for (i, item) in items.iter().enumerate() {
                        if items[..i].contains(item) {
                            errors.push(format!("{path}[{i}]: Duplicate value: {}", shown(item)));
                        }
                    }
                }
                Some("map") => {
                    let keys: Vec<&str> = get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|k| k.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let key_of = |item: &Value| {
                        keys.iter()
                            .map(|k| item.get(*k).cloned())
                            .collect::<Vec<_>>()
                    };
                    for (i, item) in items.iter().enumerate() {
                        let key = key_of(item);
                        if items[..i].iter().any(|other| key_of(other) == key) {
                            errors.push(format!("{path}[{i}]: Duplicate value: {}", shown(item)));
                        }
                    }
                }
                _ => {}
            }
            if let Some(item_schema) = get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{path}[{i}]"), item_schema, item, errors);
                }
            }
        }
        Value::Object(map) => {
            if let Some(required) = get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        errors.push(format!("{path}.{r}: Required value"));
                    }
                }
            }
            let props = get("properties").and_then(Value::as_object);
            let additional = get("additionalProperties");
            for (k, v) in map {
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) => walk(&format!("{path}.{k}"), s, v, errors),
                    (None, Some(s)) if s.is_object() => walk(&format!("{path}.{k}"), s, v, errors),
                    // Unknown fields are reported by the typed reading, with every path at once.
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod cel_tests {
    use crate::api::{
        InfrastructureStandard, PatchBaseline, ServiceOwnership, StandardException, StandardReview,
    };

    /// The rules compiled once per kind say what kube's `validate_cel()`
    /// says, object by object, for the examples and every invalid fixture.
    #[test]
    fn compiled_crd_rules_judge_as_validate_cel_does() {
        fn both<T: serde::de::DeserializeOwned + serde::Serialize>(
            kind: &str,
            value: &serde_json::Value,
            theirs: impl Fn(&T) -> Result<(), String>,
        ) -> Option<bool> {
            let object: T = serde_json::from_value(value.clone()).ok()?;
            let ours = super::validate_cel(kind, &object);
            assert_eq!(ours, theirs(&object), "{kind} {value}");
            Some(ours.is_err())
        }
        let mut files: Vec<_> = ["examples", "tests/fixtures/invalid"]
            .iter()
            .flat_map(|d| std::fs::read_dir(d).expect("the directory").flatten())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let (mut judged, mut refused) = (0, 0);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable");
            let (docs, _) = crate::audit::manifest::parse("f", &text, false);
            for doc in docs {
                let v = &doc.value;
                let kind = v["kind"].as_str().unwrap_or_default();
                let result = match kind {
                    "InfrastructureStandard" => both(kind, v, |o: &InfrastructureStandard| {
                        o.validate_cel().map_err(|e| e.to_string())
                    }),
                    "StandardException" => both(kind, v, |o: &StandardException| {
                        o.validate_cel().map_err(|e| e.to_string())
                    }),
                    "PatchBaseline" => both(kind, v, |o: &PatchBaseline| {
                        o.validate_cel().map_err(|e| e.to_string())
                    }),
                    "ServiceOwnership" => both(kind, v, |o: &ServiceOwnership| {
                        o.validate_cel().map_err(|e| e.to_string())
                    }),
                    "StandardReview" => both(kind, v, |o: &StandardReview| {
                        o.validate_cel().map_err(|e| e.to_string())
                    }),
                    _ => None,
                };
                if let Some(err) = result {
                    judged += 1;
                    refused += usize::from(err);
                }
            }
        }
        assert!(judged > 30, "{judged} objects judged");
        assert!(refused >= 10, "{refused} refused by a CEL rule");
    }
}
