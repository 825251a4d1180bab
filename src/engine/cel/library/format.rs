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
        ('d', Value::Int(i)) => i.to_string(),
        ('d', Value::UInt(u)) => u.to_string(),
        ('f', Value::Float(f)) => fixed(*f, precision.unwrap_or(6)),
        ('e', Value::Float(f)) => scientific(*f, precision.unwrap_or(6)),
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
        ('s' | 'd' | 'f' | 'e' | 'b' | 'o' | 'x' | 'X', _) => return Err(unsupported()),
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

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn fixed(f: f64, precision: usize) -> String {
    special(f).unwrap_or_else(|| format!("{f:.precision$}"))
}

/// Go's `%e`: `1.234560e+03`, the exponent with a sign and two digits or more.
fn scientific(f: f64, precision: usize) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let s = format!("{f:.precision$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_go_does() {
        assert_eq!(scientific(1234.56, 6), "1.234560e+03");
        assert_eq!(scientific(0.000123, 2), "1.23e-04");
        assert_eq!(fixed(1.005, 1), "1.0");
        assert_eq!(fixed(12.345, 2), "12.35");
        assert_eq!(signed(-255, |u| format!("{u:x}")), "-ff");
        assert_eq!(hex(b"hi", false), "6869");
        assert!(verb_of('s', None, &Value::Float(1.5)).is_err());
        assert!(verb_of('q', None, &Value::Int(1)).is_err());
    }
}
