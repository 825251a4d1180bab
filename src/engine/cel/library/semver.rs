//! The Kubernetes semver library: `semver(s)` / `semver(s, true)` (which
//! drops a leading `v`, pads `1.2` to `1.2.0` and strips leading zeros, as
//! the API server's normalisation does), `isSemver`, and the methods
//! `major`, `minor`, `patch`, `compareTo`, `isLessThan`, `isGreaterThan`.
//! Versions compare by semver precedence, build metadata ignored. Pure.

use std::{cmp::Ordering, sync::Arc};

use cel::{ExecutionError, Value};

use super::{Function, Result, error, str_arg};

/// The runtime type name of a version value.
pub const TYPE: &str = "kubernetes.Semver";

/// A version.
#[derive(Clone, Debug)]
pub struct Version(pub semver::Version);

impl Version {
    fn precedence(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        (a.major, a.minor, a.patch)
            .cmp(&(b.major, b.minor, b.patch))
            .then_with(|| a.pre.cmp(&b.pre))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.precedence(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl cel::objects::Opaque for Version {
    fn runtime_type_name(&self) -> &str {
        TYPE
    }
}

/// The functions, by name.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("semver", new),
    ("isSemver", is_semver),
    ("major", major),
    ("minor", minor),
    ("patch", patch),
    ("compareTo", compare_to),
    ("isLessThan", is_less_than),
    ("isGreaterThan", is_greater_than),
];

/// `v1.02` → `1.2.0`: the API server's normalisation (its
/// `normalizeAndParse`): drop one leading `v`, split into at most three
/// parts at dots, strip each part's leading zeros, and pad a short version
/// with zeros, which may then carry no pre-release or build.
fn normalise(s: &str) -> std::result::Result<String, String> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts: Vec<String> = s.splitn(3, '.').map(str::to_string).collect();
    for p in &mut parts {
        if p.len() > 1 {
            let trimmed = p.trim_start_matches('0');
            *p = if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
                trimmed.to_string()
            } else {
                format!("0{trimmed}")
            };
        }
    }
    if parts.len() < 3 {
        if parts.last().is_some_and(|p| p.contains(['+', '-'])) {
            return Err("short version cannot contain PreRelease/Build meta data".into());
        }
        while parts.len() < 3 {
            parts.push("0".into());
        }
    }
    Ok(parts.join("."))
}

/// Parses a version; `normalise` as `semver(s, true)`.
pub fn parse(s: &str, normalize: bool) -> std::result::Result<Version, String> {
    let text = if normalize {
        normalise(s).map_err(|e| format!("{s:?} is not a semantic version: {e}"))?
    } else {
        s.to_string()
    };
    semver::Version::parse(&text)
        .map(Version)
        .map_err(|e| format!("{s:?} is not a semantic version: {e}"))
}

fn args_of(this: Option<&Value>, args: &[Value]) -> Result<(String, bool)> {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    match args {
        [s] => Ok((str_arg(s)?.to_string(), false)),
        [s, Value::Bool(n)] => Ok((str_arg(s)?.to_string(), *n)),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

fn new(this: Option<&Value>, args: &[Value]) -> Result {
    let (s, n) = args_of(this, args)?;
    parse(&s, n)
        .map(|v| Value::Opaque(Arc::new(v)))
        .map_err(|e| error("semver", e))
}

fn is_semver(this: Option<&Value>, args: &[Value]) -> Result {
    let (s, n) = args_of(this, args)?;
    Ok(Value::Bool(parse(&s, n).is_ok()))
}

fn version(v: Option<&Value>) -> Result<&Version> {
    match v {
        Some(Value::Opaque(o)) => o
            .downcast_ref::<Version>()
            .ok_or(ExecutionError::NoSuchOverload),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

fn part(this: Option<&Value>, args: &[Value], f: fn(&semver::Version) -> u64) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let v = version(this)?;
    i64::try_from(f(&v.0))
        .map(Value::Int)
        .map_err(|_| error("semver", "the version number is too large"))
}

fn major(this: Option<&Value>, args: &[Value]) -> Result {
    part(this, args, |v| v.major)
}

fn minor(this: Option<&Value>, args: &[Value]) -> Result {
    part(this, args, |v| v.minor)
}

fn patch(this: Option<&Value>, args: &[Value]) -> Result {
    part(this, args, |v| v.patch)
}

fn pair<'a>(this: Option<&'a Value>, args: &'a [Value]) -> Result<(&'a Version, &'a Version)> {
    match args {
        [b] => Ok((version(this)?, version(Some(b))?)),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

fn compare_to(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = pair(this, args)?;
    Ok(Value::Int(a.precedence(b) as i64))
}

fn is_less_than(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = pair(this, args)?;
    Ok(Value::Bool(a.precedence(b) == Ordering::Less))
}

fn is_greater_than(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = pair(this, args)?;
    Ok(Value::Bool(a.precedence(b) == Ordering::Greater))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_as_the_api_server_does() {
        assert_eq!(normalise("v1.0").unwrap(), "1.0.0");
        assert_eq!(normalise("01.002.0003+b").unwrap(), "1.2.3+b");
        assert!(
            parse("v1.0-beta", true).is_err(),
            "a short version has no pre-release"
        );
        assert!(parse("1.2-3.4", true).is_err());
        assert!(parse("v1.0.0", false).is_err());
        assert!(parse("1.0", false).is_err());
        assert_eq!(parse("1.0.0+a", false), parse("1.0.0+b", false));
        assert_eq!(
            parse("1.0.0-rc.1", false)
                .unwrap()
                .precedence(&parse("1.0.0", false).unwrap()),
            Ordering::Less
        );
    }
}
