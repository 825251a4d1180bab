//! `all` and `exists` as CEL defines them. The interpreter stops a macro at
//! the first element whose predicate errors; CEL keeps the error in the
//! accumulator and goes on, so that a later `false` (for `all`) or `true`
//! (for `exists`) decides: `[{}, {"a": true}].exists(x, x.a)` is true on
//! the API server. Their steps are rewritten to `AND` / `OR`, which hold an
//! error as a value, and their results to `SETTLE`, which turns a kept
//! error back into one. Running out of budget is never absorbed. Pure.

use std::sync::Arc;

use cel::{
    ExecutionError, FunctionContext, Value,
    common::ast::{CallExpr, ComprehensionExpr, Expr, operators},
    objects::{Key, Map},
};

/// `all`'s step: `AND(accumulator, predicate)`.
pub const AND: &str = "@plumbline.and";
/// `exists`'s step: `OR(accumulator, predicate)`.
pub const OR: &str = "@plumbline.or";
/// The result: the accumulator, or the error it kept.
pub const SETTLE: &str = "@plumbline.settle";
/// The key of the map that holds a kept error in an accumulator (the
/// accumulator is the interpreter's own variable: no rule can read it).
const KEPT: &str = "@plumbline.error";
/// The function name of a kept error given back, shown as its message.
pub const KEPT_ERROR: &str = "@plumbline.kept";

/// Rewrites an `all` or `exists` comprehension; leaves any other alone.
pub fn rewrite(c: &mut ComprehensionExpr) {
    let Expr::Call(step) = &c.loop_step.expr else {
        return;
    };
    let func = match step.func_name.as_str() {
        operators::LOGICAL_AND => AND,
        operators::LOGICAL_OR => OR,
        _ => return,
    };
    let accumulates = matches!(step.args.first().map(|a| &a.expr),
        Some(Expr::Ident(n)) if *n == c.accu_var);
    let returns_accumulator = matches!(&c.result.expr, Expr::Ident(n) if *n == c.accu_var);
    if step.args.len() != 2 || !accumulates || !returns_accumulator {
        return;
    }
    let Expr::Call(step) = std::mem::take(&mut c.loop_step.expr) else {
        return;
    };
    c.loop_step.expr = Expr::Call(CallExpr {
        func_name: func.into(),
        target: None,
        args: step.args,
    });
    super::budget::wrap(&mut c.result, SETTLE);
}

fn kept(message: String) -> Value {
    let mut m = std::collections::HashMap::new();
    m.insert(
        Key::String(Arc::new(KEPT.into())),
        Value::String(Arc::new(message)),
    );
    Value::Map(Map { map: Arc::new(m) })
}

fn kept_message(v: &Value) -> Option<&str> {
    match v {
        Value::Map(m) if m.map.len() == 1 => match m.map.get(&Key::String(Arc::new(KEPT.into()))) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// One step: `decisive` is the value that ends the macro (false for
/// `all`, true for `exists`).
fn step(ftx: &FunctionContext, decisive: bool) -> Result<Value, ExecutionError> {
    let [accu, predicate] = ftx.args else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let accu = ftx.ptx.resolve(accu)?;
    if matches!(accu, Value::Bool(b) if b == decisive) {
        return Ok(accu);
    }
    let error = match ftx.ptx.resolve(predicate) {
        Ok(Value::Bool(b)) if b == decisive => return Ok(Value::Bool(b)),
        Ok(Value::Bool(_)) => return Ok(accu),
        Ok(_) => ExecutionError::NoSuchOverload,
        Err(e) => e,
    };
    if is_budget(&error) {
        return Err(error);
    }
    // The first error is kept.
    if kept_message(&accu).is_some() {
        return Ok(accu);
    }
    Ok(kept(super::library::describe(&error)))
}

fn is_budget(e: &ExecutionError) -> bool {
    matches!(e, ExecutionError::FunctionError { function, .. } if function == "cost")
}

/// `AND(accumulator, predicate)`.
pub fn and(ftx: &FunctionContext) -> Result<Value, ExecutionError> {
    step(ftx, false)
}

/// `OR(accumulator, predicate)`.
pub fn or(ftx: &FunctionContext) -> Result<Value, ExecutionError> {
    step(ftx, true)
}

/// `SETTLE(accumulator)`.
pub fn settle(ftx: &FunctionContext) -> Result<Value, ExecutionError> {
    let [accu] = ftx.args else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let accu = ftx.ptx.resolve(accu)?;
    match kept_message(&accu) {
        Some(m) => Err(ExecutionError::function_error(KEPT_ERROR, m)),
        None => Ok(accu),
    }
}
