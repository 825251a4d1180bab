//! Parsing and the checks made before a rule is accepted: syntax, depth,
//! the variables and functions it names (with their position), the
//! constructs the API server has but a standard's rule cannot use. Rewrites
//! each comprehension's range to pass through the cost budget. Pure.

use std::collections::BTreeSet;

use cel::{
    common::ast::{
        CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SelectExpr,
    },
    parser::Parser,
};

use super::{Yields, budget, library, types};
use crate::engine::workload::LAST_APPLIED;

/// The most nested macros (`all`, `exists`, `map`, `filter`, ...).
pub const MAX_MACRO_NESTING: usize = 8;
/// The most nested expressions of any kind.
pub const MAX_DEPTH: usize = 100;

/// What `variables` holds for a rule.
pub const VARIABLES: [&str; 5] = [
    "podSpec",
    "podMetadata",
    "containers",
    "containerRoles",
    "kind",
];

/// Namespaces of qualified functions (`lists.range`, `optional.of`).
pub(super) const QUALIFIERS: [&str; 7] = [
    "lists", "optional", "strings", "math", "base64", "ip", "sets",
];

/// Variables of a ValidatingAdmissionPolicy that a standard's rule cannot
/// use, and why.
const ADMISSION_ONLY: [(&str, &str); 5] = [
    (
        "request",
        "it exists only at admission; a rule must give the same verdict in CI and in the reports",
    ),
    (
        "oldObject",
        "it exists only at admission, for updates; a rule judges the workload as it is",
    ),
    ("params", "standards have no parameter resources"),
    (
        "authorizer",
        "authorization checks exist only at admission; a rule must give the same verdict in CI and in the reports",
    ),
    ("namespaceParams", "standards have no parameter resources"),
];

/// Fields of `object` that the engine does not keep and admission cannot
/// judge the same way.
const UNSEEN_FIELDS: [(&str, &str); 3] = [
    (
        "status",
        "a workload's status is written by its controller after admission; rules judge the spec",
    ),
    ("managedFields", "it changes with every write"),
    ("resourceVersion", "it changes with every write"),
];

/// Parses `source` and checks it; the error says what is wrong and where.
pub fn compile(source: &str, yields: Yields) -> Result<IdedExpr, String> {
    if source.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    let owned = source.to_string();
    // The generated parser recurses deeply on nested input: on a thread of
    // its own with room for it, so that a hostile expression gives an error,
    // not a stack overflow.
    let parsed = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            Parser::new()
                .enable_optional_syntax(true)
                .max_recursion_depth(MAX_DEPTH as u16)
                .parse(&owned)
                .map_err(|errs| {
                    errs.errors
                        .iter()
                        .map(|e| {
                            let msg = e.msg.strip_prefix("Syntax error: ").unwrap_or(&e.msg);
                            format!("line {}, column {}: {msg}", e.pos.0, e.pos.1)
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        })
        .map_err(|e| format!("the parser could not start: {e}"))?
        .join()
        .map_err(|_| "the expression is too deeply nested to parse".to_string())?;
    let mut expr = parsed.map_err(|e| format!("syntax error at {e}"))?;
    let mut check = Checker {
        source,
        scope: Vec::new(),
        problems: BTreeSet::new(),
    };
    check.walk(&expr, 0, 0);
    if let Some(first) = check.problems.into_iter().next() {
        return Err(first.1);
    }
    types::check(source, &expr, yields)?;
    budget::meter(&mut expr);
    Ok(expr)
}

/// Whether the expression is the constant `false`.
pub fn is_constant_false(expr: &IdedExpr) -> bool {
    matches!(&expr.expr, Expr::Literal(LiteralValue::Boolean(b)) if !**b)
}

struct Checker<'a> {
    source: &'a str,
    /// Names bound by enclosing comprehensions.
    scope: Vec<String>,
    /// Problems, ordered by their position in the source.
    problems: BTreeSet<(usize, String)>,
}

impl Checker<'_> {
    /// Where `word` first appears in the source as a whole word outside
    /// string literals, as "line L, column C" (1-based).
    fn position(&self, word: &str) -> (usize, String) {
        let offset = find_word(self.source, word).unwrap_or(0);
        (offset, line_column(self.source, offset))
    }

    fn problem(&mut self, word: &str, what: String) {
        let (offset, at) = self.position(word);
        self.problems.insert((offset, format!("{at}: {what}")));
    }

    fn walk(&mut self, e: &IdedExpr, depth: usize, macros: usize) {
        if depth > MAX_DEPTH {
            self.problems.insert((
                0,
                format!(
                    "the expression nests deeper than {MAX_DEPTH} levels: split it or simplify it"
                ),
            ));
            return;
        }
        let d = depth + 1;
        match &e.expr {
            Expr::Ident(name) => self.ident(name),
            Expr::Literal(_) => {}
            Expr::Select(s) => self.select(s, d, macros),
            Expr::Call(c) => self.call(c, d, macros),
            Expr::List(l) => {
                for x in &l.elements {
                    self.walk(x, d, macros);
                }
                self.homogeneous(&l.elements);
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        self.walk(&me.key, d, macros);
                        self.walk(&me.value, d, macros);
                    }
                }
            }
            Expr::Comprehension(c) => self.comprehension(c, d, macros),
            Expr::Struct(s) => self.problem(
                &s.type_name,
                format!(
                    "`{}{{...}}` builds a message type; rules over workloads have none: use a map literal",
                    s.type_name
                ),
            ),
            Expr::Unspecified => {
                self.problems
                    .insert((0, "the expression has an empty part".into()));
            }
        }
    }

    fn ident(&mut self, name: &str) {
        if self.scope.iter().any(|s| s == name) {
            return;
        }
        match name {
            "object" | "namespaceObject" | "variables" => {}
            // Type names, usable as values (`type(x) == string`).
            "int" | "uint" | "double" | "bool" | "string" | "bytes" | "list" | "map"
            | "null_type" | "type" => {}
            _ => {
                if let Some((_, why)) = ADMISSION_ONLY.iter().find(|(n, _)| *n == name) {
                    self.problem(
                        name,
                        format!("`{name}` cannot be used in a standard's rule: {why}"),
                    );
                } else {
                    self.problem(
                        name,
                        format!(
                            "undeclared reference to `{name}`: a rule sees object, namespaceObject and variables ({})",
                            VARIABLES.join(", ")
                        ),
                    );
                }
            }
        }
    }

    fn select(&mut self, s: &SelectExpr, d: usize, macros: usize) {
        if let Expr::Ident(root) = &s.operand.expr {
            if root == "variables"
                && !self.scope.iter().any(|x| x == root)
                && !VARIABLES.contains(&s.field.as_str())
            {
                self.problem(
                    &s.field,
                    format!(
                        "`variables.{}` is not defined: a rule has variables {}",
                        s.field,
                        VARIABLES.join(", ")
                    ),
                );
            }
            if root == "object" && !self.scope.iter().any(|x| x == root) && s.field == "status" {
                self.problem(
                    "status",
                    format!("`object.status` cannot be used: {}", UNSEEN_FIELDS[0].1),
                );
            }
        }
        if let Expr::Select(inner) = &s.operand.expr
            && inner.field == "metadata"
            && matches!(&inner.operand.expr, Expr::Ident(r) if r == "object")
            && let Some((f, why)) = UNSEEN_FIELDS[1..].iter().find(|(f, _)| *f == s.field)
        {
            self.problem(f, format!("`object.metadata.{f}` cannot be used: {why}"));
        }
        self.walk(&s.operand, d, macros);
    }

    fn call(&mut self, c: &CallExpr, d: usize, macros: usize) {
        if c.func_name == "format"
            && let Some(t) = &c.target
            && let Expr::Literal(LiteralValue::String(template)) = &t.expr
            && let [arg] = c.args.as_slice()
        {
            self.literal_format(template, arg);
            // The arguments of `format` may mix types (`['a', 1]`).
            if let Expr::List(l) = &arg.expr {
                for x in &l.elements {
                    self.walk(x, d, macros);
                }
                return;
            }
        }
        // `_?._` is an optional field selection: its second argument is a
        // field name, not a variable.
        if c.func_name == "_?._" {
            if let [operand, field] = c.args.as_slice() {
                let field = match &field.expr {
                    Expr::Literal(LiteralValue::String(s)) => s.to_string(),
                    _ => String::new(),
                };
                let shadow = SelectExpr {
                    operand: Box::new(operand.clone()),
                    field,
                    test: false,
                };
                self.select(&shadow, d, macros);
            }
            return;
        }
        // `lists.range(3)`, `optional.of(x)`: a qualified function, whose
        // "receiver" is its namespace, not a variable.
        if let Some(t) = &c.target
            && let Expr::Ident(prefix) = &t.expr
            && !self.scope.iter().any(|s| s == prefix)
            && QUALIFIERS.contains(&prefix.as_str())
        {
            let qualified = format!("{prefix}.{}", c.func_name);
            if !library::known(&qualified) {
                let what = match library::refused(&qualified) {
                    Some(why) => format!("`{qualified}` cannot be used: {why}"),
                    None => format!("undeclared reference to function `{qualified}`"),
                };
                self.problem(prefix, what);
            }
            for a in &c.args {
                self.walk(a, d, macros);
            }
            return;
        }
        let name = c.func_name.as_str();
        // The kubectl copy's key is kept, its value is not: reading it is
        // refused, naming or testing the key is not.
        if matches!(name, "_[_]" | "_[?_]")
            && let Some(key) = c.args.get(1)
            && matches!(&key.expr, Expr::Literal(LiteralValue::String(k)) if &**k == LAST_APPLIED)
        {
            self.problem(
                "",
                format!(
                    "the annotation `{LAST_APPLIED}` cannot be read: plumbline does not keep the kubectl copy of each object; judge the object's own fields"
                ),
            );
        }
        if !library::known(name) {
            let what = match library::refused(name) {
                Some(why) => format!("`{name}` cannot be used: {why}"),
                None => format!("undeclared reference to function `{name}`"),
            };
            self.problem(name.trim_matches('_'), what);
        }
        if let Some(t) = &c.target {
            self.walk(t, d, macros);
        }
        for a in &c.args {
            self.walk(a, d, macros);
        }
    }

    /// A literal format string, checked as the API server checks it when
    /// the policy is stored: its clauses against a literal argument list.
    fn literal_format(&mut self, template: &str, arg: &IdedExpr) {
        let verbs = format_verbs(template);
        if verbs.contains(&'e') {
            self.problem("format", library::SCIENTIFIC.to_string());
        }
        let Expr::List(l) = &arg.expr else {
            return;
        };
        let (want, got) = (verbs.len(), l.elements.len());
        if got != want {
            self.problem(
                "format",
                format!("the format has {want} clause(s) and {got} argument(s): give one argument per clause"),
            );
        }
        for (verb, e) in verbs.iter().zip(&l.elements) {
            if *verb == 's' && matches!(e.expr, Expr::List(_) | Expr::Map(_)) {
                self.problem(
                    "format",
                    "`%s` of a list or map is written by the API server in a form plumbline does not reproduce: join the list first (`l.join(', ')`)".into(),
                );
            }
        }
    }

    fn comprehension(&mut self, c: &ComprehensionExpr, d: usize, macros: usize) {
        if macros + 1 > MAX_MACRO_NESTING {
            self.problems.insert((
                0,
                format!("macros (all, exists, map, filter) nest deeper than {MAX_MACRO_NESTING}: simplify the expression"),
            ));
            return;
        }
        self.walk(&c.iter_range, d, macros);
        self.walk(&c.accu_init, d, macros);
        let bound = 2 + usize::from(c.iter_var2.is_some());
        self.scope.push(c.accu_var.clone());
        self.scope.push(c.iter_var.clone());
        if let Some(v) = &c.iter_var2 {
            self.scope.push(v.clone());
        }
        self.walk(&c.loop_cond, d, macros + 1);
        self.walk(&c.loop_step, d, macros + 1);
        self.walk(&c.result, d, macros + 1);
        for _ in 0..bound {
            self.scope.pop();
        }
    }

    /// The API server's type checker refuses a list literal mixing element
    /// types (`['a', 1]`); the interpreter alone would not.
    fn homogeneous(&mut self, elements: &[IdedExpr]) {
        let kinds: BTreeSet<&str> = elements
            .iter()
            .filter_map(|e| match &e.expr {
                Expr::Literal(l) => Some(match l {
                    LiteralValue::Boolean(_) => "bool",
                    LiteralValue::Bytes(_) => "bytes",
                    LiteralValue::Double(_) => "double",
                    LiteralValue::Int(_) => "int",
                    LiteralValue::Null => return None,
                    LiteralValue::String(_) => "string",
                    LiteralValue::UInt(_) => "uint",
                }),
                Expr::List(_) => Some("list"),
                Expr::Map(_) => Some("map"),
                _ => None,
            })
            .collect();
        if kinds.len() > 1 {
            self.problems.insert((
                0,
                format!(
                    "a list literal mixes element types ({}): the API server refuses it; use one type",
                    kinds.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
}

/// The verbs of a format string's clauses, in order (`%%` is none).
fn format_verbs(template: &str) -> Vec<char> {
    let mut verbs = Vec::new();
    let mut it = template.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            continue;
        }
        if it.peek() == Some(&'%') {
            it.next();
            continue;
        }
        if it.peek() == Some(&'.') {
            it.next();
            while it.peek().is_some_and(char::is_ascii_digit) {
                it.next();
            }
        }
        if let Some(v) = it.next() {
            verbs.push(v);
        }
    }
    verbs
}

/// "line L, column C" (1-based, in characters) of a byte offset.
pub(super) fn line_column(source: &str, offset: usize) -> String {
    let before = source.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}")
}

/// The byte offset of the first whole-word `word` outside string literals.
pub(super) fn find_word(source: &str, word: &str) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let bytes = source.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if b == b'"' || b == b'\'' {
            quote = Some(b);
            i += 1;
            continue;
        }
        // A comment runs to the end of the line: its words are not the
        // expression's, and its apostrophes open no string.
        if bytes[i..].starts_with(b"//") {
            i = bytes[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(bytes.len(), |n| i + n);
            continue;
        }
        // Bytes, not characters: a non-ASCII character is never the start of
        // a word and slicing the text inside one would panic.
        if bytes[i..].starts_with(word.as_bytes()) {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + word.len()).copied();
            let word_char =
                |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
            if !word_char(before) && !word_char(after) {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}
