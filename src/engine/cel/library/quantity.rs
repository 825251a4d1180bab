//! The Kubernetes quantity library: `quantity()`, `isQuantity()` and the
//! methods `compareTo`, `isLessThan`, `isGreaterThan`, `add`, `sub`,
//! `asInteger`, `asApproximateFloat`, `isInteger`. A quantity is parsed as
//! the API server parses resource quantities (a signed decimal number, then
//! a binary `Ki`..`Ei`, decimal `n`..`E` or exponent `e3` suffix), kept
//! exactly in nano-units, rounded up below 1n and capped at 2^63-1 as the
//! API server does. Pure.

use std::sync::Arc;

use cel::{ExecutionError, Value};

use super::{Function, Result, error, one, str_arg};

/// The runtime type name of a quantity value.
pub const TYPE: &str = "kubernetes.Quantity";

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;
/// The largest magnitude a quantity holds, in nano-units: 2^63-1 units.
const CAP: i128 = (i64::MAX as i128) * NANO;

/// A quantity, in nano-units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(pub i128);

impl cel::objects::Opaque for Quantity {
    fn runtime_type_name(&self) -> &str {
        TYPE
    }
}

/// The functions, by name.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("quantity", new),
    ("isQuantity", is_quantity),
    ("compareTo", compare_to),
    ("isLessThan", is_less_than),
    ("isGreaterThan", is_greater_than),
    ("add", add),
    ("sub", sub),
    ("asInteger", as_integer),
    ("asApproximateFloat", as_approximate_float),
    ("isInteger", is_integer),
];

/// Parses a quantity as the API server does, or says what is wrong.
pub fn parse(s: &str) -> std::result::Result<Quantity, String> {
    let bad = || {
        format!(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {s:?}"
        )
    };
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut digits = Vec::new();
    let mut fraction = 0i64;
    let mut seen_dot = false;
    let mut any_digit = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                any_digit = true;
                if !(digits.is_empty() && c == b'0') {
                    digits.push(c - b'0');
                }
                if seen_dot {
                    fraction += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if !any_digit {
        return Err(bad());
    }
    let suffix = &s[i..];
    let (e10, e2): (i64, u32) = match suffix {
        "" => (0, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or_else(bad)?;
            let exp: i64 = rest.parse().map_err(|_| bad())?;
            if rest.starts_with('+') || exp.abs() > 1000 {
                return Err(bad());
            }
            (exp, 0)
        }
    };
    let shift = e10 - fraction + 9;
    let magnitude = scale(&digits, shift, e2);
    Ok(Quantity(if negative { -magnitude } else { magnitude }))
}

/// `digits × 10^shift × 2^e2`, rounded up to an integer, capped at `CAP`.
fn scale(digits: &[u8], shift: i64, e2: u32) -> i128 {
    if digits.is_empty() {
        return 0;
    }
    let len = digits.len() as i64;
    // At least 10^(len-1+shift) × 2^e2: past the cap (~9.2e27) for sure.
    if len - 1 + shift > 28 {
        return CAP;
    }
    // Keep at most 30 significant digits; what is dropped only rounds up.
    let kept = digits.len().min(30);
    let mut n: i128 = 0;
    for d in &digits[..kept] {
        n = n * 10 + i128::from(*d);
    }
    let dropped = digits[kept..].iter().any(|d| *d != 0);
    let shift = shift + (digits.len() - kept) as i64;
    let Some(n) = n.checked_mul(1i128 << e2) else {
        return CAP;
    };
    let value = if shift >= 0 {
        10i128
            .checked_pow(shift as u32)
            .and_then(|p| n.checked_mul(p))
            .unwrap_or(CAP)
            .saturating_add(i128::from(dropped))
    } else {
        let k = (-shift) as u32;
        match 10i128.checked_pow(k) {
            Some(p) => n / p + i128::from(n % p != 0 || dropped),
            None => 1,
        }
    };
    value.min(CAP)
}

fn quantity_of(v: &Value) -> Result<Quantity> {
    match v {
        Value::Opaque(o) => o
            .downcast_ref::<Quantity>()
            .copied()
            .ok_or(ExecutionError::NoSuchOverload),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

fn this_quantity(this: Option<&Value>) -> Result<Quantity> {
    this.map(quantity_of)
        .unwrap_or(Err(ExecutionError::NoSuchOverload))
}

fn value(q: Quantity) -> Value {
    Value::Opaque(Arc::new(q))
}

fn new(this: Option<&Value>, args: &[Value]) -> Result {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let s = str_arg(one(args)?)?;
    parse(s).map(value).map_err(|e| error("quantity", e))
}

fn is_quantity(this: Option<&Value>, args: &[Value]) -> Result {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    Ok(Value::Bool(parse(str_arg(one(args)?)?).is_ok()))
}

fn compare_to(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = (this_quantity(this)?, quantity_of(one(args)?)?);
    Ok(Value::Int(a.cmp(&b) as i64))
}

fn is_less_than(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = (this_quantity(this)?, quantity_of(one(args)?)?);
    Ok(Value::Bool(a < b))
}

fn is_greater_than(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = (this_quantity(this)?, quantity_of(one(args)?)?);
    Ok(Value::Bool(a > b))
}

/// The other operand of `add` / `sub`: a quantity, or an int of units.
fn operand(v: &Value) -> Result<i128> {
    match v {
        Value::Int(i) => Ok(i128::from(*i) * NANO),
        other => quantity_of(other).map(|q| q.0),
    }
}

fn add(this: Option<&Value>, args: &[Value]) -> Result {
    let a = this_quantity(this)?;
    let b = operand(one(args)?)?;
    a.0.checked_add(b)
        .map(|n| value(Quantity(n)))
        .ok_or_else(|| error("add", "the sum is too large"))
}

fn sub(this: Option<&Value>, args: &[Value]) -> Result {
    let a = this_quantity(this)?;
    let b = operand(one(args)?)?;
    a.0.checked_sub(b)
        .map(|n| value(Quantity(n)))
        .ok_or_else(|| error("sub", "the difference is too large"))
}

fn integer(q: Quantity) -> Option<i64> {
    (q.0 % NANO == 0)
        .then(|| i64::try_from(q.0 / NANO).ok())
        .flatten()
}

fn as_integer(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let q = this_quantity(this)?;
    integer(q).map(Value::Int).ok_or_else(|| {
        error(
            "asInteger",
            "cannot convert value to integer: it is fractional or too large (test it with isInteger())",
        )
    })
}

fn as_approximate_float(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let q = this_quantity(this)?;
    Ok(Value::Float(q.0 as f64 / NANO as f64))
}

fn is_integer(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    Ok(Value::Bool(integer(this_quantity(this)?).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> i128 {
        parse(s).unwrap().0
    }

    #[test]
    fn parses_as_the_api_server_does() {
        assert_eq!(units("4Gi"), 4 * (1 << 30) * NANO);
        assert_eq!(units("1.5Gi"), 3 * (1 << 29) * NANO);
        assert_eq!(units("500m"), NANO / 2);
        assert_eq!(units("1e3"), 1000 * NANO);
        assert_eq!(units("1E3"), 1000 * NANO);
        assert_eq!(units("-2k"), -2000 * NANO);
        assert_eq!(units("+2"), 2 * NANO);
        assert_eq!(units(".5"), NANO / 2);
        assert_eq!(units("1."), NANO);
        assert_eq!(units("0.1n"), 1, "below 1n rounds up");
        assert_eq!(units("100Ei"), CAP, "capped at 2^63-1");
        assert_eq!(units("0"), 0);
        for bad in [
            "", ".", "+", "-", "Gi", "1Gb", "1 Gi", "1.2.3", "1e", "e3", "1Ki2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn integers_and_comparison() {
        let q = |s: &str| parse(s).unwrap();
        assert_eq!(integer(q("1.5Gi")), Some(1610612736));
        assert_eq!(integer(q("1500m")), None);
        assert_eq!(integer(q("100Ei")), Some(i64::MAX));
        assert!(q("1Gi") > q("1000Mi"));
        assert_eq!(q("1024Mi"), q("1Gi"));
    }
}
