//! The Kubernetes CEL libraries a rule over workloads uses, as the API
//! server defines them: extended strings, lists, regex `find`, `quantity()`,
//! `url()`, `ip()` / `cidr()`, `semver()`, `format`. Functions the API server
//! has and plumbline cannot match exactly are refused by name, with the
//! reason (`refused`), never evaluated differently. Pure.

mod convert;
mod format;
pub use format::SCIENTIFIC;
mod lists;
mod net;
mod quantity;
mod semver;
mod strings;

use std::sync::{Arc, LazyLock};

use cel::{Context, ExecutionError, FunctionContext, Value, extractors::Arguments};

use super::{budget, macros};

/// The result of a library function.
pub type Result<T = Value> = std::result::Result<T, ExecutionError>;

/// A library function: its receiver (for a method call) and arguments.
pub type Function = fn(Option<&Value>, &[Value]) -> Result;

/// Functions of CEL's standard library that the interpreter provides
/// itself.
const BUILT_IN: [&str; 29] = [
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "string",
    "bytes",
    "double",
    "int",
    "uint",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "value",
    "hasValue",
    "or",
    "orValue",
];

/// The functions plumbline adds, by name (a name may have several
/// implementations, for different receivers).
fn added() -> &'static [(&'static str, Function)] {
    static ADDED: LazyLock<Vec<(&'static str, Function)>> = LazyLock::new(|| {
        let mut v: Vec<(&'static str, Function)> = Vec::new();
        v.extend_from_slice(convert::FUNCTIONS);
        v.extend_from_slice(strings::FUNCTIONS);
        v.extend_from_slice(lists::FUNCTIONS);
        v.extend_from_slice(quantity::FUNCTIONS);
        v.extend_from_slice(net::FUNCTIONS);
        v.extend_from_slice(semver::FUNCTIONS);
        v.push(("format", format::format));
        v
    });
    &ADDED
}

/// Functions the API server has that a rule cannot use, and why.
const REFUSED: [(&str, &str); 12] = [
    (
        "reverse",
        "`string.reverse()` is missing from the API server's strings library, and plumbline cannot tell a string receiver from a list one before evaluation: reverse a list with `sort()` or avoid it",
    ),
    (
        "strings.quote",
        "plumbline cannot yet match the API server's quoting exactly",
    ),
    (
        "base64.encode",
        "the API server has no base64 library for admission policies",
    ),
    (
        "base64.decode",
        "the API server has no base64 library for admission policies",
    ),
    (
        "math.greatest",
        "the math library is missing from the API server's policy environment",
    ),
    (
        "math.least",
        "the math library is missing from the API server's policy environment",
    ),
    (
        "math.abs",
        "the math library is missing from the API server's policy environment",
    ),
    ("sortBy", "plumbline cannot yet match `sortBy` exactly"),
    (
        "dyn",
        "plumbline's evaluator has no static types to relax: write the expression without it",
    ),
    (
        "type",
        "plumbline cannot yet match CEL's type values exactly: test the value with has() or compare it instead",
    ),
    ("authorizer", "authorization checks exist only at admission"),
    (
        "first",
        "plumbline cannot yet match the optional `first()` and `last()` of lists exactly: index the list instead",
    ),
];

/// Whether `name` is a function or operator a rule may call.
pub fn known(name: &str) -> bool {
    is_operator(name)
        || name == budget::METER
        || name == budget::OPT_SELECT
        || BUILT_IN.contains(&name)
        || added().iter().any(|(n, _)| *n == name)
}

/// Why `name` cannot be used, when plumbline refuses it on purpose.
pub fn refused(name: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|(n, _)| *n == name || (name == "last" && *n == "first"))
        .map(|(_, why)| *why)
}

fn is_operator(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('@') || name == "!_" || name == "-_"
}

/// The root context, with every function: built once, shared by every
/// evaluation (each adds its variables in a scope of its own).
pub static ROOT: LazyLock<Context<'static>> = LazyLock::new(|| {
    let mut cx = Context::default();
    cx.add_function(budget::METER, |Arguments(args): Arguments| {
        budget::meter_call(args.first().cloned().unwrap_or(Value::Null))
    });
    cx.add_function(
        budget::OPT_SELECT,
        |Arguments(args): Arguments| match args.as_slice() {
            [operand, field] => budget::opt_select(operand, field),
            _ => Err(ExecutionError::NoSuchOverload),
        },
    );
    cx.add_function(macros::AND, macros::and);
    cx.add_function(macros::OR, macros::or);
    cx.add_function(macros::SETTLE, macros::settle);
    // Names shared by several libraries (`indexOf` on strings and lists,
    // `compareTo` on quantities and versions) dispatch on their receiver.
    let mut names: Vec<&'static str> = added().iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let impls: Vec<Function> = added()
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .collect();
        cx.add_function(
            name,
            move |ftx: &FunctionContext, Arguments(args): Arguments| dispatch(&impls, ftx, &args),
        );
    }
    cx
});

/// Tries each implementation in turn; the first that accepts the receiver
/// and arguments (does not answer "no such overload") gives the result.
fn dispatch(impls: &[Function], ftx: &FunctionContext, args: &[Value]) -> Result {
    let this = ftx.this.as_ref();
    for f in impls {
        match f(this, args) {
            Err(ExecutionError::NoSuchOverload) => continue,
            other => return other,
        }
    }
    Err(error(
        ftx.name,
        format!("no overload takes {}", describe_call(this, args)),
    ))
}

fn describe_call(this: Option<&Value>, args: &[Value]) -> String {
    let args: Vec<&str> = args.iter().map(type_name).collect();
    match this {
        Some(t) => format!("a {} receiver and ({})", type_name(t), args.join(", ")),
        None => format!("({})", args.join(", ")),
    }
}

/// The CEL name of a value's type, as errors show it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Function(..) => "function",
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "bool",
        Value::Duration(_) => "duration",
        Value::Timestamp(_) => "timestamp",
        Value::Opaque(o) => match o.runtime_type_name() {
            "optional_type" => "optional",
            quantity::TYPE => "quantity",
            net::URL_TYPE => "url",
            net::IP_TYPE => "ip",
            net::CIDR_TYPE => "cidr",
            semver::TYPE => "semver",
            _ => "opaque",
        },
        Value::Null => "null",
    }
}

/// An evaluation error as a person reads it.
pub fn describe(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => {
            format!("no such key: {k} (guard the field with has() or use `?.` and orValue())")
        }
        ExecutionError::NoSuchOverload => {
            "no matching overload (the values have other types than the expression expects)".into()
        }
        ExecutionError::UndeclaredReference(r) => format!("undeclared reference to `{r}`"),
        ExecutionError::FunctionError { function, message }
            if function == "cost" || function == macros::KEPT_ERROR =>
        {
            message.clone()
        }
        ExecutionError::FunctionError { function, message } => format!("{function}: {message}"),
        ExecutionError::UnsupportedBinaryOperator(op, a, b) => format!(
            "`{op}` cannot combine {} and {}",
            type_name(a),
            type_name(b)
        ),
        ExecutionError::ValuesNotComparable(a, b) => {
            format!("{} cannot be compared with {}", type_name(a), type_name(b))
        }
        ExecutionError::IndexOutOfBounds(i) => format!("index {} out of range", show(i)),
        ExecutionError::DivisionByZero(_) => "division by zero".into(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".into(),
        ExecutionError::Overflow(op, _, _) => format!("integer overflow in `{op}`"),
        other => other.to_string(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::String(s) => format!("{s:?}"),
        other => type_name(other).to_string(),
    }
}

/// A new string value.
fn string(s: impl Into<String>) -> Value {
    Value::String(Arc::new(s.into()))
}

/// An error of a library function.
fn error(function: &str, message: impl std::fmt::Display) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// The one argument of a call, or no overload.
fn one(args: &[Value]) -> Result<&Value> {
    match args {
        [a] => Ok(a),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

/// A string argument.
fn str_arg(v: &Value) -> Result<&str> {
    match v {
        Value::String(s) => Ok(s.as_str()),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

/// An int argument.
fn int_arg(v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}
