//! CEL's extended strings library as the API server has it (`charAt`,
//! `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`, `replace`, `split`,
//! `substring`, `trim`, `join`), and the regex functions `matches`, `find`
//! and `findAll` with RE2's meaning of `\d`, `\w`, `\s` and `\b` (ASCII
//! only). Indexes count code points, as in Go's implementation. Pure.

use std::{cell::RefCell, collections::HashMap, sync::Arc};

use cel::{ExecutionError, Value};
use regex::Regex;

use super::{Function, Result, error, int_arg, one, str_arg, string};
use crate::engine::cel::budget;

/// The functions, by name.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("size", size),
    ("contains", contains),
    ("charAt", char_at),
    ("indexOf", index_of),
    ("lastIndexOf", last_index_of),
    ("lowerAscii", lower_ascii),
    ("upperAscii", upper_ascii),
    ("replace", replace),
    ("split", split),
    ("substring", substring),
    ("trim", trim),
    ("join", join),
    ("matches", matches),
    ("find", find),
    ("findAll", find_all),
];

/// The receiver as a string, charged for its length.
fn this_str(this: Option<&Value>) -> Result<&str> {
    let s = this.map(str_arg).ok_or(ExecutionError::NoSuchOverload)??;
    budget::charge(1 + s.len() as u64 / 16)?;
    Ok(s)
}

/// `size`: a string's length in code points (the interpreter's own counts
/// bytes), a list's or map's elements, a bytes value's bytes.
fn size(this: Option<&Value>, args: &[Value]) -> Result {
    let v = match (this, args) {
        (Some(v), []) | (None, [v]) => v,
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    let n = match v {
        Value::String(s) => s.chars().count(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.map.len(),
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    Ok(Value::Int(n as i64))
}

/// `s.contains(t)`: strings only, as on the API server (the interpreter's
/// own also searches lists and maps, which the API server refuses).
fn contains(this: Option<&Value>, args: &[Value]) -> Result {
    let s = this_str(this)?;
    let t = str_arg(one(args)?)?;
    Ok(Value::Bool(s.contains(t)))
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

fn index_error(function: &str, i: i64) -> ExecutionError {
    error(function, format!("index out of range: {i}"))
}

fn char_at(this: Option<&Value>, args: &[Value]) -> Result {
    let s = chars(this_str(this)?);
    let i = int_arg(one(args)?)?;
    if i < 0 || i as usize > s.len() {
        return Err(index_error("charAt", i));
    }
    Ok(string(
        s.get(i as usize).map(|c| c.to_string()).unwrap_or_default(),
    ))
}

/// The code-point position of `needle` in `hay` at or after `from`.
fn find_from(hay: &[char], needle: &[char], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    (from..=hay.len().saturating_sub(needle.len())).find(|&i| hay[i..].starts_with(needle))
}

fn index_of(this: Option<&Value>, args: &[Value]) -> Result {
    let Some(Value::String(_)) = this else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let hay = chars(this_str(this)?);
    let (needle, from) = match args {
        [n] => (str_arg(n)?, 0),
        [n, o] => (str_arg(n)?, int_arg(o)?),
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    // As cel-go: a negative offset is an error; the empty string is found
    // at the offset (at most the end); past the end nothing is found.
    if from < 0 {
        return Err(index_error("indexOf", from));
    }
    let needle = chars(needle);
    if needle.is_empty() {
        return Ok(Value::Int(from.min(hay.len() as i64)));
    }
    if from as usize >= hay.len() || hay.len() < needle.len() {
        return Ok(Value::Int(-1));
    }
    Ok(Value::Int(
        find_from(&hay, &needle, from as usize).map_or(-1, |i| i as i64),
    ))
}

fn last_index_of(this: Option<&Value>, args: &[Value]) -> Result {
    let Some(Value::String(_)) = this else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let hay = chars(this_str(this)?);
    let needle_text;
    let from = match args {
        [n] => {
            needle_text = str_arg(n)?;
            None
        }
        [n, o] => {
            needle_text = str_arg(n)?;
            Some(int_arg(o)?)
        }
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    let needle = chars(needle_text);
    let start = match from {
        None => {
            if needle.is_empty() {
                return Ok(Value::Int(hay.len() as i64));
            }
            if hay.len() < needle.len() {
                return Ok(Value::Int(-1));
            }
            hay.len() - needle.len()
        }
        // As cel-go: a negative offset is an error; the empty string is
        // found at the offset (at most the end); an offset at or past the
        // end finds nothing.
        Some(from) => {
            if from < 0 {
                return Err(index_error("lastIndexOf", from));
            }
            if needle.is_empty() {
                return Ok(Value::Int(from.min(hay.len() as i64)));
            }
            if from as usize >= hay.len() || hay.len() < needle.len() {
                return Ok(Value::Int(-1));
            }
            (from as usize).min(hay.len() - needle.len())
        }
    };
    Ok(Value::Int(
        (0..=start)
            .rev()
            .find(|&i| hay[i..].starts_with(&needle))
            .map_or(-1, |i| i as i64),
    ))
}

fn lower_ascii(this: Option<&Value>, args: &[Value]) -> Result {
    no_args(args)?;
    Ok(string(this_str(this)?.to_ascii_lowercase()))
}

fn upper_ascii(this: Option<&Value>, args: &[Value]) -> Result {
    no_args(args)?;
    Ok(string(this_str(this)?.to_ascii_uppercase()))
}

fn no_args(args: &[Value]) -> Result<()> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(ExecutionError::NoSuchOverload)
    }
}

fn replace(this: Option<&Value>, args: &[Value]) -> Result {
    let s = this_str(this)?;
    let (old, new, n) = match args {
        [o, n] => (str_arg(o)?, str_arg(n)?, -1),
        [o, n, c] => (str_arg(o)?, str_arg(n)?, int_arg(c)?),
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    Ok(string(go_replace(s, old, new, n)))
}

/// Go's `strings.Replace`: an empty `old` matches before every code point
/// and at the end; `n < 0` replaces all.
fn go_replace(s: &str, old: &str, new: &str, n: i64) -> String {
    if n == 0 || old == new {
        return s.to_string();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if old.is_empty() {
        let mut out = String::new();
        let mut done = 0;
        for c in s.chars() {
            if done < limit {
                out.push_str(new);
                done += 1;
            }
            out.push(c);
        }
        if done < limit {
            out.push_str(new);
        }
        return out;
    }
    s.replacen(old, new, limit)
}

fn split(this: Option<&Value>, args: &[Value]) -> Result {
    let s = this_str(this)?;
    let (sep, n) = match args {
        [sep] => (str_arg(sep)?, -1),
        [sep, n] => (str_arg(sep)?, int_arg(n)?),
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    let parts: Vec<String> = if n == 0 {
        Vec::new()
    } else if sep.is_empty() {
        // Go splits into code points; with n > 0 the last holds the rest.
        let cs = chars(s);
        let n = if n < 0 {
            cs.len()
        } else {
            (n as usize).min(cs.len())
        };
        let mut v: Vec<String> = cs
            .iter()
            .take(n.saturating_sub(1))
            .map(|c| c.to_string())
            .collect();
        if n > 0 {
            v.push(cs[n - 1..].iter().collect());
        }
        v
    } else if n < 0 {
        s.split(sep).map(str::to_string).collect()
    } else {
        s.splitn(n as usize, sep).map(str::to_string).collect()
    };
    Ok(Value::List(Arc::new(
        parts.into_iter().map(string).collect(),
    )))
}

fn substring(this: Option<&Value>, args: &[Value]) -> Result {
    let s = chars(this_str(this)?);
    let (start, end) = match args {
        [a] => (int_arg(a)?, s.len() as i64),
        [a, b] => (int_arg(a)?, int_arg(b)?),
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    if start < 0 || start as usize > s.len() {
        return Err(index_error("substring", start));
    }
    if end < 0 || end as usize > s.len() {
        return Err(index_error("substring", end));
    }
    if start > end {
        return Err(error(
            "substring",
            format!("invalid substring range. start: {start}, end: {end}"),
        ));
    }
    Ok(string(
        s[start as usize..end as usize].iter().collect::<String>(),
    ))
}

fn trim(this: Option<&Value>, args: &[Value]) -> Result {
    no_args(args)?;
    // Go's strings.TrimSpace and Rust's trim agree: Unicode White_Space.
    Ok(string(this_str(this)?.trim()))
}

fn join(this: Option<&Value>, args: &[Value]) -> Result {
    let Some(Value::List(items)) = this else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let sep = match args {
        [] => "",
        [s] => str_arg(s)?,
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    let mut parts = Vec::with_capacity(items.len());
    for i in items.iter() {
        match i {
            Value::String(s) => parts.push(s.as_str()),
            _ => return Err(ExecutionError::NoSuchOverload),
        }
    }
    budget::charge(1 + items.len() as u64)?;
    Ok(string(parts.join(sep)))
}

thread_local! {
    static PATTERNS: RefCell<HashMap<String, std::result::Result<Regex, String>>> =
        RefCell::new(HashMap::new());
}

/// A pattern with RE2's meaning: `\d`, `\w`, `\s` and `\b` are ASCII-only
/// in Go, Unicode-aware in Rust unless told otherwise.
pub fn re2_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut it = pattern.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                let Some(n) = it.next() else {
                    out.push('\\');
                    break;
                };
                // RE2's classes, spelled out: Rust's `(?-u:\S)` would not
                // compile in a Unicode pattern, and its `\s` also matches
                // `\v`, which RE2's does not.
                let class = match n {
                    'd' | 'D' => Some("0-9"),
                    'w' | 'W' => Some("0-9A-Za-z_"),
                    's' | 'S' => Some("\\t\\n\\x0C\\r "),
                    _ => None,
                };
                match (n, class, in_class) {
                    ('d' | 'w' | 's', Some(c), true) => out.push_str(c),
                    ('d' | 'w' | 's', Some(c), false) => {
                        out.push('[');
                        out.push_str(c);
                        out.push(']');
                    }
                    // Negated: a nested class works both inside a class and out.
                    (_, Some(c), _) => {
                        out.push_str("[^");
                        out.push_str(c);
                        out.push(']');
                    }
                    ('b' | 'B', None, false) => {
                        out.push_str("(?-u:\\");
                        out.push(n);
                        out.push(')');
                    }
                    // `\<` and `\>` are word boundaries in Rust, the
                    // characters themselves in RE2.
                    ('<' | '>', None, _) => out.push(n),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` or `^]` right after the opening bracket is literal.
                if it.peek() == Some(&'^') {
                    out.push(it.next().unwrap_or('^'));
                }
                if it.peek() == Some(&']') {
                    out.push(it.next().unwrap_or(']'));
                }
            }
            '[' if in_class && it.peek() == Some(&':') => {
                // A POSIX class such as [:alpha:], copied whole.
                out.push('[');
                for c in it.by_ref() {
                    out.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Inside a class RE2 reads these as themselves; Rust reads `[`
            // as a nested class and `&&`, `~~` as set operations.
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn regex(function: &str, pattern: &str) -> Result<Regex> {
    budget::charge(1 + pattern.len() as u64)?;
    PATTERNS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() > 1024 {
            p.clear();
        }
        p.entry(pattern.to_string())
            .or_insert_with(|| {
                regex::RegexBuilder::new(&re2_pattern(pattern))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        format!(
                            "`{pattern}` is not a valid regular expression: {}",
                            e.to_string().lines().last().unwrap_or_default().trim()
                        )
                    })
            })
            .clone()
            .map_err(|e| error(function, e))
    })
}

fn matches(this: Option<&Value>, args: &[Value]) -> Result {
    let (s, p) = match (this, args) {
        (Some(s), [p]) => (str_arg(s)?, str_arg(p)?),
        (None, [s, p]) => (str_arg(s)?, str_arg(p)?),
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    budget::charge(1 + s.len() as u64)?;
    Ok(Value::Bool(regex("matches", p)?.is_match(s)))
}

fn find(this: Option<&Value>, args: &[Value]) -> Result {
    let s = this_str(this)?;
    let p = str_arg(one(args)?)?;
    budget::charge(s.len() as u64)?;
    Ok(string(
        regex("find", p)?
            .find(s)
            .map(|m| m.as_str())
            .unwrap_or_default(),
    ))
}

fn find_all(this: Option<&Value>, args: &[Value]) -> Result {
    let s = this_str(this)?;
    let (p, n) = match args {
        [p] => (str_arg(p)?, -1),
        [p, n] => (str_arg(p)?, int_arg(n)?),
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    budget::charge(s.len() as u64)?;
    let re = regex("findAll", p)?;
    let limit = if n < 0 { usize::MAX } else { n as usize };
    Ok(Value::List(Arc::new(
        re.find_iter(s)
            .take(limit)
            .map(|m| string(m.as_str()))
            .collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_keep_their_ascii_meaning() {
        assert_eq!(re2_pattern(r"^\d+$"), r"^[0-9]+$");
        assert_eq!(re2_pattern(r"[\d.]"), r"[0-9.]");
        assert_eq!(re2_pattern(r"[]a]\w"), r"[]a][0-9A-Za-z_]");
        assert_eq!(re2_pattern(r"[[:alpha:]\s]"), r"[[:alpha:]\t\n\x0C\r ]");
        let re = Regex::new(&re2_pattern(r"^\d$")).unwrap();
        assert!(re.is_match("7"));
        assert!(!re.is_match("٣"), "Arabic-Indic digits are not \\d in RE2");
        // What RE2 matches, each pattern with the string it must (and must
        // not) match.
        for (pattern, yes, no) in [
            (r"^\S+$", "ab", "a b"),
            (r"^\W$", "é", "a"),
            (r"^\D$", "x", "5"),
            (r"^[\W]$", "é", "_"),
            (r"^[a\S]$", "é", " "),
            (r"^\s$", " ", "\u{b}"),
            (r"^\<a\>$", "<a>", "a"),
            (r"^[[]$", "[", "a"),
            (r"^[a&&b]$", "&", "c"),
            (r"^a\bb?", "a", "ab"),
        ] {
            let re = Regex::new(&re2_pattern(pattern))
                .unwrap_or_else(|e| panic!("{pattern} -> {}: {e}", re2_pattern(pattern)));
            assert!(re.is_match(yes), "{pattern} must match {yes:?}");
            assert!(!re.is_match(no), "{pattern} must not match {no:?}");
        }
    }

    #[test]
    fn size_counts_code_points() {
        let n = |v: Value| match size(Some(&v), &[]) {
            Ok(Value::Int(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(n(string("héllo")), 5);
        assert_eq!(n(Value::Bytes(Arc::new("é".as_bytes().to_vec()))), 2);
        assert_eq!(n(Value::List(Arc::new(vec![Value::Int(1)]))), 1);
    }

    #[test]
    fn go_replace_and_split_edges() {
        assert_eq!(go_replace("abc", "", "-", -1), "-a-b-c-");
        assert_eq!(go_replace("abc", "", "-", 2), "-a-bc");
        assert_eq!(go_replace("aaa", "a", "b", 2), "bba");
        let s = |v: Value| match v {
            Value::List(l) => l
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.to_string(),
                    _ => unreachable!(),
                })
                .collect::<Vec<_>>(),
            _ => unreachable!(),
        };
        let this = string("a,b,c");
        assert_eq!(
            s(split(Some(&this), &[string(",")]).unwrap()),
            ["a", "b", "c"]
        );
        assert_eq!(
            s(split(Some(&this), &[string(","), Value::Int(2)]).unwrap()),
            ["a", "b,c"]
        );
        assert!(s(split(Some(&this), &[string(","), Value::Int(0)]).unwrap()).is_empty());
        assert_eq!(
            s(split(Some(&string("abc")), &[string(""), Value::Int(2)]).unwrap()),
            ["a", "bc"]
        );
    }
}
