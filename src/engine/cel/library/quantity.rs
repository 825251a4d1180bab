//! The Kubernetes quantity library: `quantity()`, `isQuantity()`, `sign()`
//! and the methods `compareTo`, `isLessThan`, `isGreaterThan`, `add`,
//! `sub`, `asInteger`, `asApproximateFloat`, `isInteger`. A quantity is
//! parsed as apimachinery parses resource quantities (a signed decimal
//! number, then a binary `Ki`..`Ei`, decimal `n`..`E` or exponent `e3`
//! suffix): its value kept exactly in nano-units (rounded up below 1n, a
//! binary one capped at 2^63-1), and beside it the form apimachinery holds
//! it in (an int64 with a decimal exponent, or a big decimal), because
//! `isInteger`, `asInteger` and `asApproximateFloat` answer from that form:
//! `quantity('1000m').isInteger()` is false on the API server. Pure.

use std::sync::Arc;

use cel::{ExecutionError, Value};

use super::{Function, Result, error, one, str_arg};

/// The runtime type name of a quantity value.
pub const TYPE: &str = "kubernetes.Quantity";

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;
/// The largest magnitude a binary quantity holds, in nano-units: 2^63-1 units.
const CAP: i128 = (i64::MAX as i128) * NANO;

/// How apimachinery holds a quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `value × 10^exponent`, in an int64.
    Int { value: i64, exponent: i32 },
    /// A big decimal with `places` decimal places.
    Dec { places: i32 },
}

/// A quantity: its value in nano-units, and its form.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    pub nano: i128,
    pub form: Form,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nano == other.nano
    }
}
impl Eq for Quantity {}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nano.cmp(&other.nano)
    }
}

impl cel::objects::Opaque for Quantity {
    fn runtime_type_name(&self) -> &str {
        TYPE
    }
}

/// The functions, by name.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("quantity", new),
    ("isQuantity", is_quantity),
    ("sign", sign),
    ("compareTo", compare_to),
    ("isLessThan", is_less_than),
    ("isGreaterThan", is_greater_than),
    ("add", add),
    ("sub", sub),
    ("asInteger", as_integer),
    ("asApproximateFloat", as_approximate_float),
    ("isInteger", is_integer),
];

/// `10^n` as an i128, when it fits.
fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// Parses a quantity as apimachinery does, or says what is wrong.
pub fn parse(s: &str) -> std::result::Result<Quantity, String> {
    let wrong = || {
        format!(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {s:?}"
        )
    };
    if s.is_empty() {
        return Err(wrong());
    }
    let zero = Quantity {
        nano: 0,
        form: Form::Int {
            value: 0,
            exponent: 0,
        },
    };
    let b = s.as_bytes();
    let mut pos = 0;
    let negative = match b[0] {
        b'-' => {
            pos = 1;
            true
        }
        b'+' => {
            pos = 1;
            false
        }
        _ => false,
    };
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    // Only a sign and zeros: zero.
    if pos == b.len() {
        return Ok(zero);
    }
    let digits_from = |from: usize| {
        let mut i = from;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let end = digits_from(pos);
    let num = if end == pos { "0" } else { &s[pos..end] };
    pos = end;
    let mut denom = "";
    if pos < b.len() && b[pos] == b'.' {
        let end = digits_from(pos + 1);
        denom = &s[pos + 1..end];
        pos = end;
    }
    // The suffix: letters of the suffixes, an optional sign, digits, then
    // the end.
    let suffix = &s[pos..];
    let mut i = pos;
    while i < b.len() && b"eEinumkKMGTP".contains(&b[i]) {
        i += 1;
    }
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if digits_from(i) != b.len() {
        return Err(wrong());
    }
    let (binary, exponent): (bool, i32) = match suffix {
        "Ki" => (true, 10),
        "Mi" => (true, 20),
        "Gi" => (true, 30),
        "Ti" => (true, 40),
        "Pi" => (true, 50),
        "Ei" => (true, 60),
        "n" => (false, -9),
        "u" => (false, -6),
        "m" => (false, -3),
        "" => (false, 0),
        "k" => (false, 3),
        "M" => (false, 6),
        "G" => (false, 9),
        "T" => (false, 12),
        "P" => (false, 15),
        "E" => (false, 18),
        _ => {
            let exp = suffix
                .strip_prefix(['e', 'E'])
                .and_then(|rest| rest.parse::<i32>().ok())
                .ok_or_else(|| format!("unable to parse quantity's suffix: {s:?}"))?;
            if exp.unsigned_abs() > 1000 {
                return Err(format!(
                    "the exponent of {s:?} is out of the range plumbline evaluates (-1000 to 1000)"
                ));
            }
            (false, exp)
        }
    };
    let digits: Vec<u8> = num.bytes().chain(denom.bytes()).map(|c| c - b'0').collect();
    let places = denom.len() as i32;

    // apimachinery's fast path: an int64 and a decimal exponent, when the
    // digits are few enough.
    let (precision, mantissa) = if binary {
        if places == 0 {
            (
                15 - num.len() as i32 - exponent * 3 / 10 - 1,
                1i64 << exponent,
            )
        } else {
            (-1, 1)
        }
    } else {
        (18 - (num.len() + denom.len()) as i32, 1)
    };
    let scale = if binary { 0 } else { exponent } - places;
    if precision >= 0 && scale >= -9 {
        let shifted: i64 = format!("{num}{denom}")
            .parse()
            .map_err(|_| format!("unable to parse numeric part of quantity: {s:?}"))?;
        if let Some(v) = shifted.checked_mul(mantissa) {
            let value = if negative { -v } else { v };
            let nano = i128::from(value)
                .checked_mul(pow10((scale + 9) as u32).unwrap_or(i128::MAX))
                .unwrap_or(if negative { i128::MIN } else { i128::MAX });
            return Ok(Quantity {
                nano,
                form: Form::Int {
                    value,
                    exponent: scale,
                },
            });
        }
    }

    // The big decimal: rounded up to nano-units; binary capped at 2^63-1.
    let e2 = if binary { exponent as u32 } else { 0 };
    let e10 = if binary { 0 } else { i64::from(exponent) };
    let mut magnitude = to_nano(&digits, e10 - i64::from(places) + 9, e2);
    let mut places = 9;
    if binary && magnitude > CAP {
        magnitude = CAP;
        places = 0;
    }
    Ok(Quantity {
        nano: if negative { -magnitude } else { magnitude },
        form: Form::Dec { places },
    })
}

/// `digits × 10^shift × 2^e2`, rounded up to an integer; saturated at the
/// largest i128 (far beyond anything a workload asks for).
fn to_nano(digits: &[u8], shift: i64, e2: u32) -> i128 {
    let first = digits.iter().position(|d| *d != 0);
    let Some(first) = first else {
        return 0;
    };
    let digits = &digits[first..];
    let len = digits.len() as i64;
    // At least 10^(len-1+shift): past the i128 range for sure.
    if len - 1 + shift > 37 {
        return i128::MAX;
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
        return i128::MAX;
    };
    if shift >= 0 {
        pow10(shift as u32)
            .and_then(|p| n.checked_mul(p))
            .unwrap_or(i128::MAX)
            .saturating_add(i128::from(dropped))
    } else {
        match pow10((-shift) as u32) {
            Some(p) => n / p + i128::from(n % p != 0 || dropped),
            None => 1,
        }
    }
}

/// `v × 10^by` in an int64, as apimachinery's `positiveScaleInt64`: none on
/// overflow.
fn times_ten_to(v: i64, by: i32) -> Option<i64> {
    (0..by).try_fold(v, |v, _| v.checked_mul(10))
}

/// Go's `math.Pow10` for the exponents quantities have.
fn go_pow10(n: i32) -> f64 {
    let p: f64 = format!("1e{}", n.unsigned_abs())
        .parse()
        .unwrap_or(f64::INFINITY);
    if n < 0 { 1.0 / p } else { p }
}

impl Quantity {
    /// apimachinery's `AsInt64`: the value when its form is an int64 with a
    /// non-negative exponent that does not overflow.
    fn as_int64(&self) -> Option<i64> {
        match self.form {
            Form::Int { value, exponent: 0 } => Some(value),
            Form::Int { value, exponent } if exponent > 0 => times_ten_to(value, exponent),
            _ => None,
        }
    }

    /// apimachinery's `AsApproximateFloat64`: the unscaled value times a
    /// power of ten, rounded as Go rounds it.
    fn approximate(&self) -> f64 {
        let (base, exponent) = match self.form {
            Form::Int { value, exponent } => (value as f64, exponent),
            Form::Dec { places } => {
                let unscaled = match pow10((9 - places).max(0) as u32) {
                    Some(p) if places <= 9 => self.nano / p,
                    _ => self.nano,
                };
                (unscaled as f64, -places)
            }
        };
        if exponent == 0 {
            base
        } else {
            base * go_pow10(exponent)
        }
    }

    /// apimachinery's `Add`: int64 forms add in an int64 at the smaller
    /// exponent when it does not overflow, else as big decimals.
    fn plus(self, other: Quantity) -> Quantity {
        let nano = self.nano.saturating_add(other.nano);
        let as_dec = |f: Form| match f {
            Form::Int { exponent, .. } => -exponent,
            Form::Dec { places } => places,
        };
        let dec = Form::Dec {
            places: as_dec(self.form).max(as_dec(other.form)),
        };
        let form = match (self.form, other.form) {
            (_, Form::Int { value: 0, .. }) => self.form,
            (Form::Int { value: 0, .. }, _) => other.form,
            (
                Form::Int {
                    value: a,
                    exponent: x,
                },
                Form::Int {
                    value: b,
                    exponent: y,
                },
            ) => {
                let sum = match x.cmp(&y) {
                    std::cmp::Ordering::Equal => a.checked_add(b),
                    std::cmp::Ordering::Greater => {
                        times_ten_to(a, x - y).and_then(|a| a.checked_add(b))
                    }
                    std::cmp::Ordering::Less => {
                        times_ten_to(b, y - x).and_then(|b| a.checked_add(b))
                    }
                };
                match sum {
                    Some(value) => Form::Int {
                        value,
                        exponent: x.min(y),
                    },
                    None => dec,
                }
            }
            _ => dec,
        };
        Quantity { nano, form }
    }

    fn negated(self) -> Quantity {
        Quantity {
            nano: self.nano.saturating_neg(),
            form: match self.form {
                // Go negates an int64 in place, wrapping at its minimum.
                Form::Int { value, exponent } => Form::Int {
                    value: value.wrapping_neg(),
                    exponent,
                },
                dec => dec,
            },
        }
    }
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

/// `sign(q)`: -1, 0 or 1.
fn sign(this: Option<&Value>, args: &[Value]) -> Result {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let q = quantity_of(one(args)?)?;
    Ok(Value::Int(q.nano.signum() as i64))
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

/// The other operand of `add` / `sub`: a quantity, or an int of units
/// (an int64 form with exponent 0, as the API server converts it).
fn operand(v: &Value) -> Result<Quantity> {
    match v {
        Value::Int(i) => Ok(Quantity {
            nano: i128::from(*i) * NANO,
            form: Form::Int {
                value: *i,
                exponent: 0,
            },
        }),
        other => quantity_of(other),
    }
}

fn add(this: Option<&Value>, args: &[Value]) -> Result {
    let a = this_quantity(this)?;
    let b = operand(one(args)?)?;
    Ok(value(a.plus(b)))
}

fn sub(this: Option<&Value>, args: &[Value]) -> Result {
    let a = this_quantity(this)?;
    let b = operand(one(args)?)?;
    Ok(value(a.plus(b.negated())))
}

fn as_integer(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let q = this_quantity(this)?;
    q.as_int64().map(Value::Int).ok_or_else(|| {
        error(
            "asInteger",
            "cannot convert value to integer (it is fractional, too large, or held as a decimal by the API server: test it with isInteger())",
        )
    })
}

fn as_approximate_float(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let q = this_quantity(this)?;
    Ok(Value::Float(q.approximate()))
}

fn is_integer(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    Ok(Value::Bool(this_quantity(this)?.as_int64().is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> i128 {
        parse(s).unwrap().nano
    }

    fn q(s: &str) -> Quantity {
        parse(s).unwrap()
    }

    #[test]
    fn parses_as_the_api_server_does() {
        assert_eq!(units("4Gi"), 4 * (1 << 30) * NANO);
        assert_eq!(units("1.5Gi"), 3 * (1 << 29) * NANO);
        assert_eq!(units("500m"), NANO / 2);
        assert_eq!(units("1e3"), 1000 * NANO);
        assert_eq!(units("1E3"), 1000 * NANO);
        assert_eq!(units("1.3E+6"), 1_300_000 * NANO);
        assert_eq!(units("-2k"), -2000 * NANO);
        assert_eq!(units("+2"), 2 * NANO);
        assert_eq!(units(".5"), NANO / 2);
        assert_eq!(units("1."), NANO);
        assert_eq!(units("0.1n"), 1, "below 1n rounds up");
        assert_eq!(
            units("100Ei"),
            CAP,
            "binary quantities are capped at 2^63-1"
        );
        assert!(q("12E") > q("10E"), "decimal ones are not");
        assert_eq!(units("0"), 0);
        // apimachinery reads a missing number as zero.
        for zero in ["+", "-", ".", "000", "-0.0", "Gi", "e3"] {
            assert_eq!(units(zero), 0, "{zero:?} is zero");
        }
        for bad in ["", "1Gb", "1 Gi", "1.2.3", "1e", "1Ki2", "10Mm"] {
            assert!(parse(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn integers_follow_the_form_apimachinery_holds() {
        // Integral, and an int64 with a non-negative exponent.
        for (s, v) in [
            ("1Gi", 1 << 30),
            ("50k", 50_000),
            ("50000000G", 50_000_000_000_000_000),
            ("1e3", 1000),
            ("-2", -2),
            ("1.5e3", 1500),
            ("1.", 1),
        ] {
            assert_eq!(q(s).as_int64(), Some(v), "{s}");
        }
        // Integral values held as a scaled int64 or a big decimal.
        for s in [
            "1.5Gi",
            "0.5Gi",
            "1000m",
            "1.0",
            "100Ti",
            "1Pi",
            "1Ei",
            "100000Gi",
            "1500m",
            "-0.0",
            "9223372036854775807",
        ] {
            assert_eq!(q(s).as_int64(), None, "{s}");
        }
        assert_eq!(q("1500m").plus(q("500m")).as_int64(), None);
        assert_eq!(q("1k").plus(q("1")).as_int64(), Some(1001));
        assert_eq!(
            q("1").plus(q("1").negated()).as_int64(),
            Some(0),
            "1 - 1 is an int64"
        );
        assert!(q("1Gi") > q("1000Mi"));
        assert_eq!(q("1024Mi"), q("1Gi"));
    }

    #[test]
    fn approximate_floats_round_as_go_does() {
        assert_eq!(q("0.3").approximate(), 3.0 * 0.1);
        assert_ne!(q("0.3").approximate(), 0.3);
        assert_eq!(q("300m").approximate(), 0.3);
        assert_eq!(q("1.5Gi").approximate(), 1610612736.0);
        assert_eq!(q("2k").approximate(), 2000.0);
        // Values printed by apimachinery v0.37.2's AsApproximateFloat64.
        assert_eq!(q("1Ei").approximate(), 1.152921504606847e18);
        assert_eq!(q("100Ei").approximate(), 9.223372036854776e18);
        assert_eq!(q("5e-10").approximate(), 1e-9);
        assert_eq!(q("1e-3").approximate(), 0.001);
        assert_eq!(q("100000Gi").approximate(), 1.073741824e14);
    }
}
