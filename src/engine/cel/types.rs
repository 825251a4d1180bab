//! A type check of what an expression's types make certain: literals, the
//! results of operators and of a few functions, and the fields of `object`,
//! `namespaceObject` and `variables`, typed from the workload kinds' OpenAPI
//! schemas (k8s-openapi's). An operator, index, field selection or range
//! applied to a type it has no overload for errors on every workload it is
//! evaluated on (the API server's checker refuses the literal cases when the
//! policy is created, and fails the rest at run time; `==` and `&&` on
//! values read from the workload are dynamic there and never fail, so they
//! are refused only between literals and function results): refused here, with
//! the position, so that the standard says so once instead of a finding on
//! every workload. Whatever is not certain (most functions, quantities,
//! IntOrString, formatted strings, numbers that may be ints, fields one kind
//! has and another lacks with another type) is dyn and passes. Pure.

use std::sync::LazyLock;

use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SelectExpr, operators,
};
use serde_json::{Map as JsonMap, Value as Json};

use super::Yields;

/// The type of an expression, as far as it is certain.
#[derive(Clone, Debug)]
enum Ty {
    /// Not known until run time.
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    /// An object with a schema: one node per workload kind that has it.
    Object(Vec<&'static Json>),
    /// plumbline's `variables`.
    Variables,
    /// `namespaceObject`, and its `metadata`: the engine keeps a
    /// namespace's name and labels, nothing else.
    Namespace,
    NamespaceMeta,
}

impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::Dyn => "dyn".into(),
            Ty::Null => "null".into(),
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Uint => "uint".into(),
            Ty::Double => "double".into(),
            Ty::String => "string".into(),
            Ty::Bytes => "bytes".into(),
            Ty::List(e) => format!("list({})", e.name()),
            Ty::Map(k, v) => format!("map({}, {})", k.name(), v.name()),
            Ty::Object(_) | Ty::Variables | Ty::Namespace | Ty::NamespaceMeta => "object".into(),
        }
    }

    fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }

    fn numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Uint | Ty::Double)
    }

    /// Whether fields can be selected from it (`x.f`, `has(x.f)`).
    fn selectable(&self) -> bool {
        matches!(
            self,
            Ty::Dyn
                | Ty::Map(..)
                | Ty::Object(_)
                | Ty::Variables
                | Ty::Namespace
                | Ty::NamespaceMeta
        )
    }

    /// Whether the two are the same type, for operators that need one.
    fn same(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::List(_), Ty::List(_)) => true,
            (Ty::Map(..) | Ty::Object(_) | Ty::Variables, Ty::Map(..) | Ty::Object(_)) => true,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// Whether `==` has an overload for the two types: the same type, element
/// types and all; dyn and null match anything.
fn comparable(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Dyn | Ty::Null, _) | (_, Ty::Dyn | Ty::Null) => true,
        (Ty::List(x), Ty::List(y)) => comparable(x, y),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => comparable(k1, k2) && comparable(v1, v2),
        _ => a.same(b),
    }
}

/// Two types an expression may have: the type when they agree, else dyn.
fn merge(a: Ty, b: Ty) -> Ty {
    match (a, b) {
        (Ty::Object(mut x), Ty::Object(y)) => {
            x.extend(y);
            Ty::Object(x)
        }
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(merge(*x, *y))),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => {
            Ty::Map(Box::new(merge(*k1, *k2)), Box::new(merge(*v1, *v2)))
        }
        // A literal `null` takes any type it is compared or chosen with.
        (Ty::Null, t) | (t, Ty::Null) if !t.is_dyn() => t,
        (a, b) if !a.is_dyn() && a.same(&b) && !matches!(a, Ty::Object(_) | Ty::Map(..)) => a,
        _ => Ty::Dyn,
    }
}

/// The workload kinds' schemas, with their definitions.
struct Schemas {
    defs: JsonMap<String, Json>,
    object: Vec<Json>,
    pod_spec: Json,
    pod_meta: Json,
    containers: Vec<Json>,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    use k8s_openapi::{
        api::{
            apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
            batch::v1::{CronJob, Job},
            core::v1::{Container, EphemeralContainer, Pod, PodSpec, ReplicationController},
        },
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };
    let mut g = schemars::SchemaGenerator::default();
    let object = vec![
        g.subschema_for::<Pod>().to_value(),
        g.subschema_for::<Deployment>().to_value(),
        g.subschema_for::<StatefulSet>().to_value(),
        g.subschema_for::<DaemonSet>().to_value(),
        g.subschema_for::<ReplicaSet>().to_value(),
        g.subschema_for::<ReplicationController>().to_value(),
        g.subschema_for::<Job>().to_value(),
        g.subschema_for::<CronJob>().to_value(),
    ];
    let pod_spec = g.subschema_for::<PodSpec>().to_value();
    let pod_meta = g.subschema_for::<ObjectMeta>().to_value();
    let containers = vec![
        g.subschema_for::<Container>().to_value(),
        g.subschema_for::<EphemeralContainer>().to_value(),
    ];
    Schemas {
        defs: g.take_definitions(false),
        object,
        pod_spec,
        pod_meta,
        containers,
    }
});

/// A schema node with its `$ref` followed.
fn resolve(node: &'static Json) -> &'static Json {
    let mut node = node;
    for _ in 0..8 {
        match node.get("$ref").and_then(Json::as_str) {
            Some(r) => match r.rsplit('/').next().and_then(|n| SCHEMAS.defs.get(n)) {
                Some(def) => node = def,
                None => return &Json::Null,
            },
            None => return node,
        }
    }
    &Json::Null
}

/// The type of values a set of schema nodes describes.
fn classify(nodes: &[&'static Json]) -> Ty {
    let mut types = nodes.iter().map(|n| classify_one(resolve(n)));
    let Some(first) = types.next() else {
        return Ty::Dyn;
    };
    types.fold(first, merge)
}

fn classify_one(node: &'static Json) -> Ty {
    if node.get("x-kubernetes-int-or-string").is_some() {
        return Ty::Dyn;
    }
    match node.get("type").and_then(Json::as_str) {
        Some("integer") => Ty::Int,
        Some("boolean") => Ty::Bool,
        // A formatted string (date-time, byte) may be converted; a number
        // may hold an int: neither is certain.
        Some("string") if node.get("format").is_none() => Ty::String,
        Some("array") => match node.get("items") {
            Some(items) => Ty::List(Box::new(classify(&[items]))),
            None => Ty::List(Box::new(Ty::Dyn)),
        },
        Some("object") if node.get("properties").is_some() => Ty::Object(vec![node]),
        Some("object") => match node.get("additionalProperties") {
            Some(v) if v.is_object() => Ty::Map(Box::new(Ty::String), Box::new(classify(&[v]))),
            _ => Ty::Dyn,
        },
        _ => Ty::Dyn,
    }
}

/// The type of field `f` of objects of these schemas; `None` when none of
/// them has it and none allows other fields.
fn field(nodes: &[&'static Json], f: &str) -> Option<Ty> {
    let found: Vec<&'static Json> = nodes
        .iter()
        .filter_map(|n| resolve(n).get("properties").and_then(|p| p.get(f)))
        .collect();
    let open = nodes.iter().any(|n| {
        let n = resolve(n);
        n.get("properties").is_none() || n.get("additionalProperties").is_some()
    });
    if found.is_empty() && !open {
        return None;
    }
    Some(classify(&found))
}

fn roots(nodes: &'static [Json]) -> Ty {
    Ty::Object(nodes.iter().map(resolve).collect())
}

/// Checks a parsed expression whose value must have the type `yields`.
/// The error says what is wrong and where.
pub fn check(source: &str, expr: &IdedExpr, yields: Yields) -> Result<(), String> {
    let mut t = Typer {
        source,
        scope: Vec::new(),
        problem: None,
    };
    let ty = t.ty(expr);
    if let Some(p) = t.problem {
        return Err(p);
    }
    let (ok, want, why) = match yields {
        Yields::Bool => (
            matches!(ty, Ty::Bool | Ty::Dyn),
            "bool",
            ": a rule is true when the workload complies",
        ),
        Yields::String => (matches!(ty, Ty::String | Ty::Dyn), "string", ""),
        Yields::Any => (true, "", ""),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the expression gives a {}, not a {want}{why}",
            ty.name()
        ))
    }
}

struct Typer<'a> {
    source: &'a str,
    /// Names bound by enclosing comprehensions, with their types and
    /// whether they range over the workload (dynamic on the API server).
    scope: Vec<(String, Ty, bool)>,
    /// The first problem found.
    problem: Option<String>,
}

impl Typer<'_> {
    fn fail(&mut self, at: &IdedExpr, what: String) {
        if self.problem.is_none() {
            let pos = match anchor(at) {
                Some(Anchor::Word(w)) => super::syntax::find_word(self.source, &w),
                Some(Anchor::Quoted(q)) => ["'", "\""]
                    .iter()
                    .find_map(|mark| self.source.find(&format!("{mark}{q}{mark}"))),
                None => None,
            }
            .unwrap_or(0);
            let at = super::syntax::line_column(self.source, pos);
            self.problem = Some(format!("{at}: {what}"));
        }
    }

    fn ty(&mut self, e: &IdedExpr) -> Ty {
        if self.problem.is_some() {
            return Ty::Dyn;
        }
        match &e.expr {
            Expr::Ident(name) => self.ident(name),
            Expr::Literal(l) => match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::Uint,
            },
            Expr::Select(s) => self.select(e, s),
            Expr::Call(c) => self.call(e, c),
            Expr::List(l) => {
                let mut elem: Option<Ty> = None;
                for x in &l.elements {
                    let t = self.ty(x);
                    elem = Some(match elem {
                        None => t,
                        Some(prev) => merge(prev, t),
                    });
                }
                Ty::List(Box::new(elem.unwrap_or(Ty::Dyn)))
            }
            Expr::Map(m) => {
                let (mut k, mut v): (Option<Ty>, Option<Ty>) = (None, None);
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        let kt = self.ty(&me.key);
                        let vt = self.ty(&me.value);
                        k = Some(k.map_or(kt.clone(), |p| merge(p, kt)));
                        v = Some(v.map_or(vt.clone(), |p| merge(p, vt)));
                    }
                }
                Ty::Map(
                    Box::new(k.unwrap_or(Ty::Dyn)),
                    Box::new(v.unwrap_or(Ty::Dyn)),
                )
            }
            Expr::Comprehension(c) => self.comprehension(c),
            Expr::Struct(_) | Expr::Unspecified => Ty::Dyn,
        }
    }

    /// Whether the value is read from the workload (a path from `object`,
    /// `namespaceObject` or `variables`, or a macro variable ranging over
    /// one): dynamic on the API server, which types `object` as dyn.
    fn read_from_workload(&self, e: &IdedExpr) -> bool {
        match &e.expr {
            Expr::Ident(n) => match self.scope.iter().rev().find(|(m, _, _)| m == n) {
                Some((_, _, w)) => *w,
                None => matches!(n.as_str(), "object" | "namespaceObject" | "variables"),
            },
            Expr::Select(s) => self.read_from_workload(&s.operand),
            Expr::Call(c) => match (&c.target, c.args.first()) {
                (Some(t), _) => self.read_from_workload(t),
                (None, Some(a)) if c.func_name.starts_with('_') => self.read_from_workload(a),
                _ => false,
            },
            Expr::Comprehension(c) => self.read_from_workload(&c.iter_range),
            _ => false,
        }
    }

    fn ident(&self, name: &str) -> Ty {
        if let Some((_, t, _)) = self.scope.iter().rev().find(|(n, _, _)| n == name) {
            return t.clone();
        }
        match name {
            "object" => roots(&SCHEMAS.object),
            "namespaceObject" => Ty::Namespace,
            "variables" => Ty::Variables,
            _ => Ty::Dyn,
        }
    }

    fn select(&mut self, e: &IdedExpr, s: &SelectExpr) -> Ty {
        let on = self.ty(&s.operand);
        if s.test {
            // `has()` of a field no kind has is false, not an error: only
            // a selection from a list or scalar is certain to fail.
            if !on.selectable() {
                self.field_of(e, &s.operand, on, &s.field);
            }
            return Ty::Bool;
        }
        self.field_of(e, &s.operand, on, &s.field)
    }

    /// The type of `operand.f`, or a problem when `operand` has no fields.
    fn field_of(&mut self, at: &IdedExpr, operand: &IdedExpr, on: Ty, f: &str) -> Ty {
        match on {
            Ty::Variables => match f {
                "podSpec" => Ty::Object(vec![resolve(&SCHEMAS.pod_spec)]),
                "podMetadata" => Ty::Object(vec![resolve(&SCHEMAS.pod_meta)]),
                "containers" => Ty::List(Box::new(roots(&SCHEMAS.containers))),
                "containerRoles" => Ty::List(Box::new(Ty::String)),
                "kind" => Ty::String,
                _ => Ty::Dyn,
            },
            Ty::Namespace | Ty::NamespaceMeta => {
                match (matches!(on, Ty::Namespace), f) {
                    (true, "metadata") => return Ty::NamespaceMeta,
                    (true, "apiVersion" | "kind") | (false, "name") => return Ty::String,
                    (false, "labels") => {
                        return Ty::Map(Box::new(Ty::String), Box::new(Ty::String));
                    }
                    _ => {}
                }
                let what = format!(
                    "`{}.{f}` cannot be used: plumbline knows a namespace's name and labels (`namespaceObject.metadata.name`, `namespaceObject.metadata.labels`), as `plumbline audit` does from manifests",
                    render(operand)
                );
                self.fail(at, what);
                Ty::Dyn
            }
            Ty::Object(nodes) => match field(&nodes, f) {
                Some(t) => t,
                None => {
                    let what = format!(
                        "undefined field `{f}`: no workload kind's schema has it in `{}` (check its spelling)",
                        render(operand)
                    );
                    self.fail(at, what);
                    Ty::Dyn
                }
            },
            Ty::Map(_, v) => *v,
            Ty::Dyn => Ty::Dyn,
            other => {
                let hint = if matches!(other, Ty::List(_)) {
                    format!(
                        ": a list's elements are reached with a macro, as in `.all(x, x.{f} ...)` or `.map(x, x.{f})`"
                    )
                } else {
                    String::new()
                };
                self.fail(
                    at,
                    format!(
                        "`{}` is a {} and has no field `{f}`{hint}",
                        render(operand),
                        other.name()
                    ),
                );
                Ty::Dyn
            }
        }
    }

    fn call(&mut self, e: &IdedExpr, c: &CallExpr) -> Ty {
        let name = c.func_name.as_str();
        let target = c.target.as_deref().map(|t| (t, self.ty(t)));
        let args: Vec<(&IdedExpr, Ty)> = c.args.iter().map(|a| (a, self.ty(a))).collect();
        if self.problem.is_some() {
            return Ty::Dyn;
        }
        let arg = |i: usize| args.get(i).map(|(_, t)| t.clone()).unwrap_or(Ty::Dyn);
        match name {
            operators::OPT_SELECT => {
                if let [(operand, on), (f, _)] = args.as_slice()
                    && !on.selectable()
                {
                    let f = match &f.expr {
                        Expr::Literal(LiteralValue::String(s)) => s.to_string(),
                        _ => String::new(),
                    };
                    self.field_of(e, operand, on.clone(), &f);
                }
                Ty::Dyn
            }
            operators::OPT_INDEX => Ty::Dyn,
            operators::LOGICAL_AND | operators::LOGICAL_OR | operators::LOGICAL_NOT => {
                for (a, t) in &args {
                    if !matches!(t, Ty::Bool | Ty::Dyn) && !self.read_from_workload(a) {
                        let op = op_symbol(name);
                        self.fail(
                            a,
                            format!("'{op}' needs bools, and `{}` is a {}", render(a), t.name()),
                        );
                    }
                }
                Ty::Bool
            }
            operators::NEGATE => match arg(0) {
                t @ (Ty::Int | Ty::Double | Ty::Dyn) => t,
                t => {
                    self.no_overload(e, name, &[t]);
                    Ty::Dyn
                }
            },
            operators::CONDITIONAL => {
                if let Some((a, t)) = args.first()
                    && !matches!(t, Ty::Bool | Ty::Dyn)
                {
                    let what = format!(
                        "the condition of '? :' must be a bool, and `{}` is a {}",
                        render(a),
                        t.name()
                    );
                    self.fail(a, what);
                }
                merge(arg(1), arg(2))
            }
            operators::ADD
            | operators::SUBSTRACT
            | operators::MULTIPLY
            | operators::DIVIDE
            | operators::MODULO => self.arithmetic(e, name, arg(0), arg(1)),
            operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS => {
                let (a, b) = (arg(0), arg(1));
                let orderable = |t: &Ty| {
                    t.is_dyn() || t.numeric() || matches!(t, Ty::String | Ty::Bytes | Ty::Bool)
                };
                let fits = if a.is_dyn() || b.is_dyn() {
                    orderable(&a) && orderable(&b)
                } else {
                    (a.numeric() && b.numeric()) || (orderable(&a) && a.same(&b))
                };
                if !fits {
                    self.no_overload(e, name, &[a, b]);
                }
                Ty::Bool
            }
            // The checker wants both sides of the same type (`1 == 1.0` and
            // `1 == 'a'` are refused when the policy is stored), null aside;
            // a side read from the workload is dynamic on the API server,
            // where mixed equality is false (or numeric), never an error.
            operators::EQUALS | operators::NOT_EQUALS => {
                let (a, b) = (arg(0), arg(1));
                let certain = |t: &Ty| !matches!(t, Ty::Dyn | Ty::Null);
                let dynamic = c.args.iter().any(|x| self.read_from_workload(x));
                if certain(&a) && certain(&b) && !comparable(&a, &b) && !dynamic {
                    self.no_overload(e, name, &[a, b]);
                }
                Ty::Bool
            }
            operators::NOT_STRICTLY_FALSE => Ty::Bool,
            operators::IN => {
                let within = arg(1);
                if !matches!(
                    within,
                    Ty::Dyn
                        | Ty::List(_)
                        | Ty::Map(..)
                        | Ty::Object(_)
                        | Ty::Variables
                        | Ty::Namespace
                        | Ty::NamespaceMeta
                ) {
                    self.no_overload(e, name, &[arg(0), within]);
                }
                Ty::Bool
            }
            operators::INDEX => {
                let (on, key) = (arg(0), arg(1));
                match on {
                    Ty::List(elem) => {
                        if !matches!(key, Ty::Int | Ty::Uint | Ty::Double | Ty::Dyn) {
                            self.no_overload(e, name, &[Ty::List(elem), key]);
                            return Ty::Dyn;
                        }
                        *elem
                    }
                    Ty::Map(_, v) => *v,
                    Ty::Object(_) | Ty::Variables | Ty::Namespace | Ty::NamespaceMeta => {
                        match args.get(1).map(|(k, _)| &k.expr) {
                            Some(Expr::Literal(LiteralValue::String(f))) => {
                                let operand = args[0].0;
                                self.field_of(e, operand, on, f)
                            }
                            _ => Ty::Dyn,
                        }
                    }
                    Ty::Dyn => Ty::Dyn,
                    other => {
                        self.no_overload(e, name, &[other, key]);
                        Ty::Dyn
                    }
                }
            }
            "size" => {
                let of = target.map(|(_, t)| t).unwrap_or_else(|| arg(0));
                if matches!(of, Ty::Int | Ty::Uint | Ty::Double | Ty::Bool | Ty::Null) {
                    self.no_overload(e, name, &[of]);
                }
                Ty::Int
            }
            _ => {
                if let Some((t, on)) = &target
                    && matches!(on, Ty::Int | Ty::Uint | Ty::Double | Ty::Bool | Ty::Null)
                    && !is_qualifier(t)
                {
                    let what = format!(
                        "`{}` is a {}, which has no function `{name}`",
                        render(t),
                        on.name()
                    );
                    self.fail(t, what);
                    return Ty::Dyn;
                }
                // The sets library wants lists of one element type.
                if let (Some((t, _)), [(_, Ty::List(x)), (_, Ty::List(y))]) =
                    (&target, args.as_slice())
                    && matches!(&t.expr, Expr::Ident(n) if n == "sets")
                    && !comparable(x, y)
                {
                    self.no_overload(e, &format!("sets.{name}"), &[arg(0), arg(1)]);
                    return Ty::Bool;
                }
                if let Some((t, on @ (Ty::List(_) | Ty::Map(..) | Ty::Object(_)))) = &target
                    && name == "contains"
                {
                    let what = format!(
                        "`contains` searches a string, and `{}` is a {}: test membership with `x in {}`",
                        render(t),
                        on.name(),
                        render(t)
                    );
                    self.fail(t, what);
                    return Ty::Dyn;
                }
                result_of(name, target.is_some())
            }
        }
    }

    fn arithmetic(&mut self, e: &IdedExpr, op: &str, a: Ty, b: Ty) -> Ty {
        // What each operand type supports of the operator.
        let supports = |t: &Ty| match op {
            operators::ADD => matches!(
                t,
                Ty::Dyn | Ty::Int | Ty::Uint | Ty::Double | Ty::String | Ty::Bytes | Ty::List(_)
            ),
            operators::MODULO => matches!(t, Ty::Dyn | Ty::Int | Ty::Uint),
            _ => matches!(t, Ty::Dyn | Ty::Int | Ty::Uint | Ty::Double),
        };
        if !supports(&a) || !supports(&b) || (!a.is_dyn() && !b.is_dyn() && !a.same(&b)) {
            self.no_overload(e, op, &[a, b]);
            return Ty::Dyn;
        }
        merge(a, b)
    }

    fn no_overload(&mut self, e: &IdedExpr, op: &str, types: &[Ty]) {
        let names: Vec<String> = types.iter().map(Ty::name).collect();
        let what = format!(
            "no matching overload for '{}' applied to ({}){}",
            op_symbol(op),
            names.join(", "),
            operand_note(e)
        );
        self.fail(e, what);
    }

    fn comprehension(&mut self, c: &ComprehensionExpr) -> Ty {
        let range = self.ty(&c.iter_range);
        let (first, second) = match range {
            Ty::List(elem) => (
                if c.iter_var2.is_some() {
                    Ty::Int
                } else {
                    (*elem).clone()
                },
                *elem,
            ),
            Ty::Map(k, v) => (*k, *v),
            Ty::Object(_) | Ty::Variables | Ty::Namespace | Ty::NamespaceMeta => {
                (Ty::String, Ty::Dyn)
            }
            Ty::Dyn => (Ty::Dyn, Ty::Dyn),
            other => {
                let what = format!(
                    "`{}` is a {}, which a macro cannot range over: it needs a list or a map",
                    render(&c.iter_range),
                    other.name()
                );
                self.fail(&c.iter_range, what);
                return Ty::Dyn;
            }
        };
        let accu = self.ty(&c.accu_init);
        let bound = 2 + usize::from(c.iter_var2.is_some());
        let workload = self.read_from_workload(&c.iter_range);
        self.scope.push((c.accu_var.clone(), accu, false));
        self.scope.push((c.iter_var.clone(), first, workload));
        if let Some(v) = &c.iter_var2 {
            self.scope.push((v.clone(), second, workload));
        }
        self.ty(&c.loop_cond);
        self.ty(&c.loop_step);
        let result = self.ty(&c.result);
        for _ in 0..bound {
            self.scope.pop();
        }
        result
    }
}

/// The result type of a function the library has, where it is certain.
fn result_of(name: &str, member: bool) -> Ty {
    match (name, member) {
        ("string", false) => Ty::String,
        ("int", false) => Ty::Int,
        ("uint", false) => Ty::Uint,
        ("double", false) => Ty::Double,
        ("bool", false) => Ty::Bool,
        ("startsWith" | "endsWith" | "contains" | "matches", true) => Ty::Bool,
        ("lowerAscii" | "upperAscii" | "trim", true) => Ty::String,
        _ => Ty::Dyn,
    }
}

/// `lists.range(3)`: the receiver is a namespace, not a value.
fn is_qualifier(t: &IdedExpr) -> bool {
    matches!(&t.expr, Expr::Ident(n) if super::syntax::QUALIFIERS.contains(&n.as_str()))
}

fn op_symbol(op: &str) -> &str {
    match op {
        operators::ADD => "+",
        operators::SUBSTRACT => "-",
        operators::MULTIPLY => "*",
        operators::DIVIDE => "/",
        operators::MODULO => "%",
        operators::LESS => "<",
        operators::LESS_EQUALS => "<=",
        operators::GREATER => ">",
        operators::GREATER_EQUALS => ">=",
        operators::LOGICAL_AND => "&&",
        operators::LOGICAL_OR => "||",
        operators::LOGICAL_NOT => "!",
        operators::NEGATE => "-",
        operators::INDEX => "[]",
        operators::IN => "in",
        operators::EQUALS => "==",
        operators::NOT_EQUALS => "!=",
        other => other,
    }
}

/// "`object.spec.replicas` is an int", for the first operand that is a
/// field path, so that the message names what the user wrote.
fn operand_note(e: &IdedExpr) -> String {
    let Expr::Call(c) = &e.expr else {
        return String::new();
    };
    c.args
        .iter()
        .find(|a| matches!(a.expr, Expr::Select(_)))
        .map(|a| format!(": `{}` is typed by the workload's schema", render(a)))
        .unwrap_or_default()
}

/// What to look for in the source to place a problem.
enum Anchor {
    /// A name, as a whole word outside string literals.
    Word(String),
    /// A string literal's text, in either quotes.
    Quoted(String),
}

/// A word of the expression to place a problem at: the last field of a
/// path, the name of a function, the first operand of an operator.
fn anchor(e: &IdedExpr) -> Option<Anchor> {
    match &e.expr {
        Expr::Ident(n) => Some(Anchor::Word(n.clone())),
        Expr::Select(s) => Some(Anchor::Word(s.field.clone())),
        Expr::Literal(LiteralValue::Int(i)) => Some(Anchor::Word(i.to_string())),
        Expr::Literal(LiteralValue::String(q)) => Some(Anchor::Quoted(q.to_string())),
        Expr::Call(c) if !c.func_name.starts_with('_') && !c.func_name.starts_with('@') => {
            Some(Anchor::Word(c.func_name.clone()))
        }
        Expr::Call(c) => c.target.as_deref().or(c.args.first()).and_then(anchor),
        Expr::Comprehension(c) => anchor(&c.iter_range),
        _ => None,
    }
}

/// A short rendering of a sub-expression for messages.
fn render(e: &IdedExpr) -> String {
    match &e.expr {
        Expr::Ident(n) => n.clone(),
        Expr::Select(s) => format!("{}.{}", render(&s.operand), s.field),
        Expr::Literal(l) => match l {
            LiteralValue::String(s) => format!("'{}'", &**s),
            LiteralValue::Int(i) => i.to_string(),
            LiteralValue::UInt(u) => format!("{}u", **u),
            LiteralValue::Double(d) => d.to_string(),
            LiteralValue::Boolean(b) => b.to_string(),
            LiteralValue::Null => "null".into(),
            LiteralValue::Bytes(_) => "b'...'".into(),
        },
        Expr::Call(c) if c.func_name == operators::INDEX && c.args.len() == 2 => {
            format!("{}[{}]", render(&c.args[0]), render(&c.args[1]))
        }
        Expr::Call(c) if !c.func_name.starts_with('_') && !c.func_name.starts_with('@') => {
            match c.target.as_deref() {
                Some(t) => format!("{}.{}(...)", render(t), c.func_name),
                None => format!("{}(...)", c.func_name),
            }
        }
        Expr::Comprehension(c) => format!("{}.<macro>(...)", render(&c.iter_range)),
        Expr::List(_) => "[...]".into(),
        Expr::Map(_) => "{...}".into(),
        _ => "the expression".into(),
    }
}
