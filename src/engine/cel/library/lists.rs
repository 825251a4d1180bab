//! The Kubernetes lists library (`isSorted`, `sum`, `min`, `max`,
//! `indexOf`, `lastIndexOf`) and CEL's extended lists (`slice`, `flatten`,
//! `distinct`, `sort`, `lists.range`) and the sets library (`sets.contains`,
//! `sets.intersects`, `sets.equivalent`), as the API server has them. Pure.

use std::{cmp::Ordering, sync::Arc};

use cel::{ExecutionError, Value};

use super::{Function, Result, error, int_arg, one, type_name};
use crate::engine::cel::budget;

/// The functions, by name.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("isSorted", is_sorted),
    ("sum", sum),
    ("min", min),
    ("max", max),
    ("indexOf", index_of),
    ("lastIndexOf", last_index_of),
    ("slice", slice),
    ("flatten", flatten),
    ("distinct", distinct),
    ("sort", sort),
    ("lists.range", range),
    ("sets.contains", sets_contains),
    ("sets.intersects", sets_intersects),
    ("sets.equivalent", sets_equivalent),
];

/// The receiver as a list, charged for its length.
fn this_list(this: Option<&Value>) -> Result<&Arc<Vec<Value>>> {
    match this {
        Some(Value::List(l)) => {
            budget::charge(1 + l.len() as u64)?;
            Ok(l)
        }
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

/// Orders two values of one comparable type (ints, uints and doubles
/// compare with each other, as in CEL).
fn compare(function: &str, a: &Value, b: &Value) -> Result<Ordering> {
    let ok = matches!(
        (a, b),
        (
            Value::Int(_) | Value::UInt(_) | Value::Float(_),
            Value::Int(_) | Value::UInt(_) | Value::Float(_)
        ) | (Value::String(_), Value::String(_))
            | (Value::Bool(_), Value::Bool(_))
            | (Value::Bytes(_), Value::Bytes(_))
            | (Value::Duration(_), Value::Duration(_))
            | (Value::Timestamp(_), Value::Timestamp(_))
    );
    if !ok {
        return Err(error(
            function,
            format!("{} and {} cannot be ordered", type_name(a), type_name(b)),
        ));
    }
    a.partial_cmp(b)
        .ok_or_else(|| error(function, "the values cannot be ordered (NaN)"))
}

fn is_sorted(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    for w in l.windows(2) {
        if compare("isSorted", &w[0], &w[1])? == Ordering::Greater {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn sum(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let Some(first) = l.first() else {
        return Ok(Value::Int(0));
    };
    if !matches!(
        first,
        Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Duration(_)
    ) {
        return Err(error(
            "sum",
            format!("a list of {} cannot be summed", type_name(first)),
        ));
    }
    let mut acc = first.clone();
    for v in &l[1..] {
        acc = match (acc, v) {
            (Value::Int(a), Value::Int(b)) => Value::Int(
                a.checked_add(*b)
                    .ok_or_else(|| error("sum", "integer overflow"))?,
            ),
            (Value::UInt(a), Value::UInt(b)) => Value::UInt(
                a.checked_add(*b)
                    .ok_or_else(|| error("sum", "integer overflow"))?,
            ),
            (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
            (Value::Duration(a), Value::Duration(b)) => Value::Duration(
                a.checked_add(b)
                    .ok_or_else(|| error("sum", "duration overflow"))?,
            ),
            (a, b) => {
                return Err(error(
                    "sum",
                    format!("{} and {} cannot be added", type_name(&a), type_name(b)),
                ));
            }
        };
    }
    Ok(acc)
}

fn extreme(name: &str, this: Option<&Value>, args: &[Value], keep: Ordering) -> Result {
    let l = this_list(this)?;
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let Some(first) = l.first() else {
        return Err(error(
            name,
            format!("{name}() of an empty list: guard it with size() > 0"),
        ));
    };
    let mut best = first;
    for v in &l[1..] {
        if compare(name, v, best)? == keep {
            best = v;
        }
    }
    Ok(best.clone())
}

fn min(this: Option<&Value>, args: &[Value]) -> Result {
    extreme("min", this, args, Ordering::Less)
}

fn max(this: Option<&Value>, args: &[Value]) -> Result {
    extreme("max", this, args, Ordering::Greater)
}

fn index_of(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    let x = one(args)?;
    Ok(Value::Int(
        l.iter().position(|v| v == x).map_or(-1, |i| i as i64),
    ))
}

fn last_index_of(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    let x = one(args)?;
    Ok(Value::Int(
        l.iter().rposition(|v| v == x).map_or(-1, |i| i as i64),
    ))
}

fn slice(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    let [a, b] = args else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let (start, end) = (int_arg(a)?, int_arg(b)?);
    if start < 0 || end < 0 {
        return Err(error(
            "slice",
            format!("cannot slice({start}, {end}), negative indexes not supported"),
        ));
    }
    if start > end {
        return Err(error(
            "slice",
            format!(
                "cannot slice({start}, {end}), start index must be less than or equal to end index"
            ),
        ));
    }
    if end as usize > l.len() {
        return Err(error(
            "slice",
            format!("cannot slice({start}, {end}), list is length {}", l.len()),
        ));
    }
    Ok(Value::List(Arc::new(
        l[start as usize..end as usize].to_vec(),
    )))
}

fn flatten_into(out: &mut Vec<Value>, l: &[Value], depth: i64) -> Result<()> {
    for v in l {
        match v {
            Value::List(inner) if depth > 0 => {
                budget::charge(1 + inner.len() as u64)?;
                flatten_into(out, inner, depth - 1)?
            }
            v => out.push(v.clone()),
        }
    }
    Ok(())
}

fn flatten(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    let depth = match args {
        [] => 1,
        [d] => int_arg(d)?,
        _ => return Err(ExecutionError::NoSuchOverload),
    };
    if depth < 0 {
        return Err(error("flatten", "level must be non-negative"));
    }
    let mut out = Vec::new();
    flatten_into(&mut out, l, depth)?;
    Ok(Value::List(Arc::new(out)))
}

fn distinct(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    budget::charge((l.len() as u64).saturating_mul(l.len() as u64) / 2)?;
    let mut out: Vec<Value> = Vec::new();
    for v in l.iter() {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(Value::List(Arc::new(out)))
}

fn sort(this: Option<&Value>, args: &[Value]) -> Result {
    let l = this_list(this)?;
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let mut out = l.to_vec();
    let mut failed = None;
    out.sort_by(|a, b| {
        compare("sort", a, b).unwrap_or_else(|e| {
            failed.get_or_insert(e);
            Ordering::Equal
        })
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(Value::List(Arc::new(out))),
    }
}

/// `lists.range(n)`: `[0, 1, ..., n-1]`.
pub fn range(this: Option<&Value>, args: &[Value]) -> Result {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let n = int_arg(one(args)?)?.max(0);
    budget::charge(1 + n as u64)?;
    Ok(Value::List(Arc::new((0..n).map(Value::Int).collect())))
}

/// A list value's elements.
type Elements = Arc<Vec<Value>>;

/// The two lists of a `sets.` function, charged for comparing them.
fn two_lists(this: Option<&Value>, args: &[Value]) -> Result<(Elements, Elements)> {
    match (this, args) {
        (None, [Value::List(a), Value::List(b)]) => {
            budget::charge(1 + (a.len() as u64).saturating_mul(b.len() as u64))?;
            Ok((a.clone(), b.clone()))
        }
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

/// `sets.contains(a, b)`: every element of `b` is in `a`.
fn sets_contains(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = two_lists(this, args)?;
    Ok(Value::Bool(b.iter().all(|x| a.contains(x))))
}

/// `sets.intersects(a, b)`: some element is in both.
fn sets_intersects(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = two_lists(this, args)?;
    Ok(Value::Bool(b.iter().any(|x| a.contains(x))))
}

/// `sets.equivalent(a, b)`: the same elements, duplicates aside.
fn sets_equivalent(this: Option<&Value>, args: &[Value]) -> Result {
    let (a, b) = two_lists(this, args)?;
    Ok(Value::Bool(
        b.iter().all(|x| a.contains(x)) && a.iter().all(|x| b.contains(x)),
    ))
}
