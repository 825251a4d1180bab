//! `"...".format([args])` of CEL's strings library: the verbs `%s` (of
//! strings, ints, uints, bools and null), `%d`, `%f` / `%.Nf`, `%e` /
//! `%.Ne`, `%b`, `%o`, `%x`, `%X` and `%%`, written as Go's formatter writes
//! them. A verb or value it cannot write the same way is an error that
//! names it, never a different text. Pure.

use cel::{ExecutionError, Value};

use super::{Result, error, one, string, type_name};

/// The most digits after the point a `%.Nf` or `%.Ne` may ask for.
const MAX_PRECISION: usize = 100;

pub fn format(this: Option<&Value>, args: &[Value]) -> Result {
    let Some(Value::String(template)) = this else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let Value::List(values) = one(args)? else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let fail = |m: String| error("format", m);
    let mut out = String::new();
    let mut next = 0;
    let mut it = template.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut precision = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut digits = String::new();
            while let Some(d) = it.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                it.next();
            }
            let p: usize = digits
                .parse()
                .map_err(|_| fail("a precision needs digits, e.g. %.2f".into()))?;
            if p > MAX_PRECISION {
                return Err(fail(format!(
                    "a precision of {p} is over the limit of {MAX_PRECISION}"
                )));
            }
            precision = Some(p);
        }
        let verb = it
            .next()
            .ok_or_else(|| fail("the format ends in the middle of a verb".into()))?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let v = values.get(next).ok_or_else(|| {
            fail(format!(
                "index {next} out of range: the format has more verbs than arguments"
            ))
        })?;
        next += 1;
        out.push_str(&verb_of(verb, precision, v).map_err(fail)?);
    }
    Ok(string(out))
}

fn verb_of(verb: char, precision: Option<usize>, v: &Value) -> std::result::Result<String, String> {
    let unsupported = || {
        format!(
            "%{verb} of a {} is not written the API server's way by plumbline: convert it with string() or int() first",
            type_name(v)
        )
    };
    Ok(match (verb, v) {
        ('s', Value::String(s)) => s.to_string(),
        ('s', Value::Int(i)) => i.to_string(),
        ('s', Value::UInt(u)) => u.to_string(),
        ('s', Value::Bool(b)) => b.to_string(),
        ('s', Value::Null) => "null".into(),
        ('s', Value::Float(f)) => super::convert::go_float(*f),
        ('s', Value::Duration(d)) => {
            super::convert::go_duration(d.num_nanoseconds().ok_or_else(unsupported)?)
        }
        ('s', Value::Timestamp(t)) => {
            super::convert::go_timestamp(t.timestamp(), t.timestamp_subsec_nanos())
                .ok_or_else(unsupported)?
        }
        ('s', Value::Bytes(b)) => String::from_utf8(b.to_vec()).map_err(|_| unsupported())?,
        ('b', Value::Bool(b)) => u8::from(*b).to_string(),
        ('d', Value::Int(i)) => i.to_string(),
        ('d', Value::UInt(u)) => u.to_string(),
        ('f', Value::Float(f)) => fixed(*f, precision.unwrap_or(6)),
        ('b', Value::Int(i)) => signed(*i, |u| format!("{u:b}")),
        ('b', Value::UInt(u)) => format!("{u:b}"),
        ('o', Value::Int(i)) => signed(*i, |u| format!("{u:o}")),
        ('o', Value::UInt(u)) => format!("{u:o}"),
        ('x', Value::Int(i)) => signed(*i, |u| format!("{u:x}")),
        ('x', Value::UInt(u)) => format!("{u:x}"),
        ('X', Value::Int(i)) => signed(*i, |u| format!("{u:X}")),
        ('X', Value::UInt(u)) => format!("{u:X}"),
        ('x', Value::String(s)) => hex(s.as_bytes(), false),
        ('X', Value::String(s)) => hex(s.as_bytes(), true),
        ('x', Value::Bytes(b)) => hex(b, false),
        ('X', Value::Bytes(b)) => hex(b, true),
        ('e', _) => return Err(SCIENTIFIC.into()),
        ('s' | 'd' | 'f' | 'b' | 'o' | 'x' | 'X', _) => return Err(unsupported()),
        _ => {
            return Err(format!(
                "unrecognized formatting clause %{verb}: use one of %s %d %f %e %b %o %x %X"
            ));
        }
    })
}

/// Go writes a negative number in base 2, 8 or 16 with a minus sign.
fn signed(i: i64, f: impl Fn(u64) -> String) -> String {
    if i < 0 {
        format!("-{}", f(i.unsigned_abs()))
    } else {
        f(i as u64)
    }
}

fn hex(b: &[u8], upper: bool) -> String {
    b.iter()
        .map(|x| {
            if upper {
                format!("{x:02X}")
            } else {
                format!("{x:02x}")
            }
        })
        .collect()
}

/// Why `%e` is refused.
pub const SCIENTIFIC: &str = "%e is written by the API server in its locale's scientific notation (2.718280×10⁰⁰), which plumbline does not reproduce: use %f or %s";

/// `%f` as the API server's formatter writes it: through an English
/// locale printer, so with thousands separators, and `∞` for infinities.
fn fixed(f: f64, precision: usize) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "∞" } else { "-∞" }.into();
    }
    let plain = format!("{:.precision$}", f.abs());
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// Go's `%e`: `1.234560e+03`, the exponent with a sign and two digits or more.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_go_does() {
        assert_eq!(fixed(1.005, 1), "1.0");
        assert_eq!(fixed(1234.5, 2), "1,234.50");
        assert_eq!(fixed(-1234567.891, 2), "-1,234,567.89");
        assert_eq!(fixed(999.5, 0), "1,000");
        assert_eq!(fixed(f64::NEG_INFINITY, 1), "-∞");
        assert_eq!(fixed(12.345, 2), "12.35");
        assert_eq!(signed(-255, |u| format!("{u:x}")), "-ff");
        assert_eq!(hex(b"hi", false), "6869");
        assert_eq!(verb_of('s', None, &Value::Float(1e6)).unwrap(), "1e+06");
        assert_eq!(verb_of('b', None, &Value::Bool(true)).unwrap(), "1");
        assert!(verb_of('e', None, &Value::Float(1.5)).is_err());
        assert!(verb_of('q', None, &Value::Int(1)).is_err());
    }
}
