//! The conversions `string()` and `int()`, written as cel-go writes them
//! (the interpreter's own differ: `string(1e21)`, `string(true)`,
//! `string(duration('1h'))`, `int(1e19)`). Pure.

use cel::{ExecutionError, Value};

use super::{Function, Result, error, net, one, string};

/// The functions, by name.
pub const FUNCTIONS: &[(&str, Function)] = &[("string", to_string), ("int", to_int)];

/// A double as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it: the
/// shortest digits that read back, with an exponent below 1e-4 and from
/// 1e6 on.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

/// A duration as cel-go writes it: seconds, shortest, then `s`.
pub fn go_duration(nanos: i64) -> String {
    let secs = nanos / 1_000_000_000;
    let frac = (nanos % 1_000_000_000).unsigned_abs();
    let sign = if nanos < 0 && secs == 0 { "-" } else { "" };
    if frac == 0 {
        return format!("{sign}{secs}s");
    }
    let digits = format!("{frac:09}");
    format!("{sign}{secs}.{}s", digits.trim_end_matches('0'))
}

/// A timestamp as cel-go writes it: RFC 3339 in UTC, fractional seconds
/// without trailing zeros.
pub fn go_timestamp(secs: i64, nanos: u32) -> Option<String> {
    jiff::Timestamp::new(secs, nanos as i32)
        .ok()
        .map(|t| t.to_string())
}

fn to_string(this: Option<&Value>, args: &[Value]) -> Result {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let v = one(args)?;
    Ok(string(match v {
        Value::String(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => go_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::Bytes(b) => String::from_utf8(b.to_vec())
            .map_err(|_| error("string", "invalid UTF-8 in bytes, cannot convert to string"))?,
        Value::Duration(d) => go_duration(
            d.num_nanoseconds()
                .ok_or_else(|| error("string", "the duration is out of range"))?,
        ),
        Value::Timestamp(t) => go_timestamp(t.timestamp(), t.timestamp_subsec_nanos())
            .ok_or_else(|| error("string", "the timestamp is out of range"))?,
        Value::Opaque(_) => net::display(v).ok_or(ExecutionError::NoSuchOverload)?,
        _ => return Err(ExecutionError::NoSuchOverload),
    }))
}

fn to_int(this: Option<&Value>, args: &[Value]) -> Result {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let overflow = || error("int", "integer overflow");
    Ok(Value::Int(match one(args)? {
        Value::Int(i) => *i,
        Value::UInt(u) => i64::try_from(*u).map_err(|_| overflow())?,
        // cel-go: NaN, infinities and anything at or past the int64 bounds
        // overflow; the rest is truncated toward zero.
        Value::Float(f) => {
            if f.is_nan() || *f <= i64::MIN as f64 || *f >= i64::MAX as f64 {
                return Err(overflow());
            }
            f.trunc() as i64
        }
        Value::String(s) => s
            .parse::<i64>()
            .map_err(|_| error("int", format!("cannot convert {s:?} to int")))?,
        Value::Timestamp(t) => t.timestamp(),
        Value::Duration(d) => d.num_nanoseconds().ok_or_else(overflow)?,
        _ => return Err(ExecutionError::NoSuchOverload),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_durations_and_timestamps_as_go_writes_them() {
        for (f, s) in [
            (1e21, "1e+21"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0"),
            (100.0, "100"),
            (1.5, "1.5"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(go_float(f), s, "{f}");
        }
        assert_eq!(go_duration(3_600_000_000_000), "3600s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(-5_400_000_000_000), "-5400s");
        assert_eq!(go_duration(-500_000_000), "-0.5s");
        assert_eq!(
            go_timestamp(1_735_689_600, 500_000_000).unwrap(),
            "2025-01-01T00:00:00.5Z"
        );
    }
}
