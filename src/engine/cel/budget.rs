//! The cost budget of one evaluation. The interpreter has no cost meter of
//! its own, so every comprehension's range is rewritten to pass through
//! `METER`, which charges one unit per element (nested comprehensions
//! charge per outer iteration, so the total is the work done), and library
//! functions charge for the characters they scan. An evaluation over budget
//! stops with an error instead of running on. Pure (a thread-local counter).

use std::cell::Cell;

use cel::{
    ExecutionError, Value,
    common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue},
    objects::{Key, OptionalValue},
};

/// The internal function a comprehension's range passes through.
pub const METER: &str = "@plumbline.cost";
/// The internal function of `x.?f` (and of `.f` after it): the
/// interpreter's own fails on a missing field where CEL gives
/// `optional.none()`.
pub const OPT_SELECT: &str = "@plumbline.optSelect";

thread_local! {
    static LEFT: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` with `limit` units to spend.
pub fn with_budget<T>(limit: u64, f: impl FnOnce() -> T) -> T {
    let before = LEFT.with(|l| l.replace(Some(limit)));
    let out = f();
    LEFT.with(|l| l.set(before));
    out
}

/// Spends `units`, or fails when the budget is spent.
pub fn charge(units: u64) -> Result<(), ExecutionError> {
    LEFT.with(|l| match l.get() {
        None => Ok(()),
        Some(left) if left >= units => {
            l.set(Some(left - units));
            Ok(())
        }
        Some(_) => {
            l.set(Some(0));
            Err(ExecutionError::function_error(
                "cost",
                format!(
                    "the evaluation exceeded its cost budget of {} units: loop over fewer elements",
                    super::COST_LIMIT
                ),
            ))
        }
    })
}

/// What a value costs to visit: its elements, or its characters.
pub fn size_of(v: &Value) -> u64 {
    match v {
        Value::List(l) => l.len() as u64,
        Value::Map(m) => m.map.len() as u64,
        Value::String(s) => s.len() as u64,
        Value::Bytes(b) => b.len() as u64,
        _ => 1,
    }
}

/// `METER(range)`: charges the range's size and gives it back.
pub fn meter_call(range: Value) -> Result<Value, ExecutionError> {
    charge(size_of(&range).max(1))?;
    Ok(range)
}

/// `x.?f`: `optional.of(x.f)` when `x` (a map, or an optional holding
/// one) has `f`, else `optional.none()`.
pub fn opt_select(operand: &Value, field: &Value) -> Result<Value, ExecutionError> {
    let Value::String(field) = field else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let inner = match operand {
        Value::Opaque(o) => match o.downcast_ref::<OptionalValue>() {
            Some(opt) => match opt.value() {
                Some(v) => v.clone(),
                None => return Ok(Value::Opaque(std::sync::Arc::new(OptionalValue::none()))),
            },
            None => return Err(ExecutionError::NoSuchOverload),
        },
        v => v.clone(),
    };
    let Value::Map(m) = inner else {
        return Err(ExecutionError::NoSuchOverload);
    };
    let found = m.map.get(&Key::String(field.clone())).cloned();
    Ok(Value::Opaque(std::sync::Arc::new(match found {
        Some(v) => OptionalValue::of(v),
        None => OptionalValue::none(),
    })))
}

/// Puts `e` inside a call of the internal function `func`: `func(e)`.
pub fn wrap(e: &mut IdedExpr, func: &str) {
    let inner = std::mem::take(e);
    *e = IdedExpr {
        id: inner.id,
        expr: Expr::Call(CallExpr {
            func_name: func.into(),
            target: None,
            args: vec![inner],
        }),
    };
}

/// Rewrites every comprehension's range to go through `METER`.
pub fn meter(e: &mut IdedExpr) {
    match &mut e.expr {
        Expr::Comprehension(c) => {
            super::macros::rewrite(c);
            wrap(&mut c.iter_range, METER);
            for x in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                meter(x);
            }
        }
        Expr::Call(c) => {
            if let Some(t) = &mut c.target {
                meter(t);
            }
            c.args.iter_mut().for_each(meter);
            if c.func_name == "_?._" {
                c.func_name = OPT_SELECT.into();
            }
        }
        Expr::Select(s) => {
            meter(&mut s.operand);
            // `x.?a.b` selects `b` within the optional, as CEL defines it.
            let optional = matches!(&s.operand.expr, Expr::Call(c)
                if c.func_name == OPT_SELECT || c.func_name == "_[?_]");
            if optional && !s.test {
                let operand = std::mem::take(&mut *s.operand);
                let field = std::mem::take(&mut s.field);
                e.expr = Expr::Call(CallExpr {
                    func_name: OPT_SELECT.into(),
                    target: None,
                    args: vec![
                        operand,
                        IdedExpr {
                            id: e.id,
                            expr: Expr::Literal(LiteralValue::String(field.into())),
                        },
                    ],
                });
            }
        }
        Expr::List(l) => l.elements.iter_mut().for_each(meter),
        Expr::Map(m) => {
            for entry in &mut m.entries {
                if let EntryExpr::MapEntry(me) = &mut entry.expr {
                    meter(&mut me.key);
                    meter(&mut me.value);
                }
            }
        }
        Expr::Struct(_) | Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}
