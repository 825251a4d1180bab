//! Custom rules in CEL: compiled once (parsed, names checked, refused
//! constructs named with their position), then evaluated per workload with
//! the Kubernetes libraries plumbline implements (`library`) under a cost
//! budget. The same expression goes into the generated admission policy, so
//! every function here is one the API server has, with its semantics, or is
//! refused with the reason. Pure: no I/O; a memo of compiled programs.

mod activation;
mod budget;
mod library;
mod macros;
mod syntax;
mod types;

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use cel::{Value, common::ast::IdedExpr};

pub use activation::{Activation, LazyActivation, ROLES, source_of};

use super::EngineError;
use crate::api::standard::CelCheck;

/// The most cost units one evaluation may spend: roughly the API server's
/// per-expression limit, counted here as list elements visited and
/// characters processed.
pub const COST_LIMIT: u64 = 1_000_000;

/// The most characters a message from `messageExpression` may have, as the
/// API server allows (a longer one falls back to `message`).
pub const MESSAGE_LIMIT: usize = 5 * 1024;

/// An expression, parsed and checked.
#[derive(Debug)]
pub struct Program {
    expr: IdedExpr,
}

/// A CEL rule, compiled.
#[derive(Clone, Debug)]
pub struct CelRule {
    /// The expression as written.
    pub expression: String,
    /// The message as written (or the rule's description).
    pub message: String,
    /// The message expression as written.
    pub message_expression: Option<String>,
    program: Arc<Program>,
    message_program: Option<Arc<Program>>,
    /// The expression is a constant `false`: it refuses every workload.
    pub always_false: bool,
}

/// What one evaluation gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The expression is true.
    Pass,
    /// The expression is false; the message for this workload.
    Fail(String),
    /// The expression could not be evaluated on this workload.
    Error(String),
}

/// Compiled programs by source: a standard is compiled again on every pass,
/// its expressions once. Bounded: cleared when it grows past this.
const MEMO_LIMIT: usize = 4096;
type Compiled = Result<Arc<Program>, String>;
static MEMO: LazyLock<Mutex<HashMap<(Yields, String), Compiled>>> = LazyLock::new(Mutex::default);

/// The type an expression's value must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Yields {
    /// A rule: true when the workload complies.
    Bool,
    /// A message.
    String,
    /// Anything (tools and tests).
    Any,
}

/// Whether a standard has a CEL rule, and so needs the objects of the
/// workloads it matches (the operator keeps them, the audit keeps their
/// documents' text, only while one exists).
pub fn has_cel_rule(standard: &crate::api::InfrastructureStandard) -> bool {
    standard.spec.rules.iter().any(|r| r.cel.is_some())
}

/// Parses and checks one expression, or says what is wrong with it and where.
pub fn program(source: &str, yields: Yields) -> Result<Arc<Program>, String> {
    let key = (yields, source.to_string());
    if let Some(hit) = MEMO.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return hit.clone();
    }
    let compiled = syntax::compile(source, yields).map(|expr| Arc::new(Program { expr }));
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    if memo.len() >= MEMO_LIMIT {
        memo.clear();
    }
    memo.insert(key, compiled.clone());
    compiled
}

/// Compiles a rule's CEL check; `at` is the rule's path, `description` its
/// description (the message when none is given).
pub fn compile(check: &CelCheck, description: &str, at: &str) -> Result<CelRule, EngineError> {
    let invalid = |field: &str, reason: String| EngineError::InvalidSpec {
        at: format!("{at}.cel.{field}"),
        reason,
    };
    let compiled =
        program(&check.expression, Yields::Bool).map_err(|e| invalid("expression", e))?;
    let message_program = check
        .message_expression
        .as_deref()
        .map(|m| program(m, Yields::String).map_err(|e| invalid("messageExpression", e)))
        .transpose()?;
    Ok(CelRule {
        expression: check.expression.clone(),
        message: check
            .message
            .clone()
            .unwrap_or_else(|| description.to_string()),
        message_expression: check.message_expression.clone(),
        always_false: syntax::is_constant_false(&compiled.expr),
        program: compiled,
        message_program,
    })
}

impl CelRule {
    /// Evaluates the rule on one workload.
    pub fn evaluate(&self, activation: &Activation) -> Outcome {
        match run(&self.program, activation) {
            Ok(Value::Bool(true)) => Outcome::Pass,
            Ok(Value::Bool(false)) => Outcome::Fail(self.message_for(activation)),
            Ok(other) => Outcome::Error(format!(
                "the expression gave {}, not a bool",
                library::type_name(&other)
            )),
            Err(e) => Outcome::Error(e),
        }
    }

    /// The message: the message expression's value when it gives a
    /// non-empty single-line string within the limit, else `message`, as
    /// the API server does.
    fn message_for(&self, activation: &Activation) -> String {
        let Some(p) = &self.message_program else {
            return self.message.clone();
        };
        match run(p, activation) {
            Ok(Value::String(s)) => {
                if s.contains('\n') {
                    return self.message.clone();
                }
                let s = s.trim();
                if s.is_empty() || s.chars().count() > MESSAGE_LIMIT {
                    self.message.clone()
                } else {
                    s.to_string()
                }
            }
            _ => self.message.clone(),
        }
    }
}

/// Runs a program with the activation's variables and the libraries, under
/// the cost budget.
fn run(program: &Program, activation: &Activation) -> Result<Value, String> {
    let cx = activation.context();
    budget::with_budget(COST_LIMIT, || cx.resolve(&program.expr)).map_err(|e| library::describe(&e))
}

/// Evaluates a standalone expression over an activation (tests and tools).
pub fn evaluate_source(source: &str, activation: &Activation) -> Result<Value, String> {
    let p = program(source, Yields::Any)?;
    run(&p, activation)
}

#[cfg(test)]
mod tests;
