//! plumbline's CEL libraries held to the API server's: every expression of
//! tests/fixtures/cel/oracle.txt is evaluated by the engine and by the CEL
//! oracle (tests/controlplane/celoracle: the API server's own CEL
//! environment, from the modules the test API server is built from), and
//! the two must agree:
//!
//! - a value from the engine is the oracle's value, type and all (a double
//!   to the bit);
//! - an evaluation error from the engine is an error in the oracle too, at
//!   evaluation or when the policy is stored;
//! - an expression the engine refuses when compiling may be anything in
//!   the oracle: refusing is plumbline's way out when it cannot match a
//!   function exactly (docs/evaluation.md lists them). They are printed.

mod common;

use std::{process::Command, sync::Arc};

use cel::{
    Value,
    objects::{Key, OptionalValue},
};
use plumbline::engine::{
    Source,
    cel::{Activation, Yields, evaluate_source, program},
    selector::Labels,
};

/// What one side gave.
#[derive(Debug, PartialEq)]
enum Answer {
    Value(String),
    Error(String),
    Refused(String),
}

fn oracle(expressions: &[&str]) -> Vec<Answer> {
    let bin = common::go_tool("cel-oracle");
    let mut input = expressions.join("\n");
    input.push('\n');
    let out = common::run_with_input(Command::new(bin), input.as_bytes());
    assert!(
        out.status.success(),
        "the CEL oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<Answer> = text
        .lines()
        .map(|line| match line.split_once(' ') {
            Some(("value", v)) => Answer::Value(v.to_string()),
            Some(("error", e)) => Answer::Error(e.to_string()),
            Some(("compile", e)) => Answer::Refused(e.to_string()),
            _ => panic!("the oracle said {line:?}"),
        })
        .collect();
    assert_eq!(
        answers.len(),
        expressions.len(),
        "one answer per expression"
    );
    answers
}

/// A value as the oracle writes it.
fn render(v: &Value) -> String {
    match v {
        Value::Bool(b) => format!("bool:{b}"),
        Value::Int(i) => format!("int:{i}"),
        Value::UInt(u) => format!("uint:{u}"),
        Value::Float(f) => format!("double:{:016x}", f.to_bits()),
        Value::String(s) => format!("string:{}", serde_json::to_string(s.as_str()).unwrap()),
        Value::Bytes(b) => format!(
            "bytes:{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        Value::Null => "null".into(),
        Value::Duration(d) => format!("duration:{}", d.num_nanoseconds().unwrap_or(i64::MAX)),
        Value::Timestamp(t) => format!("timestamp:{}", t.timestamp_nanos_opt().unwrap_or(0)),
        Value::List(l) => format!("[{}]", l.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => {
            let mut parts: Vec<String> = m
                .map
                .iter()
                .map(|(k, v)| {
                    let k = match k {
                        Key::Int(i) => Value::Int(*i),
                        Key::Uint(u) => Value::UInt(*u),
                        Key::Bool(b) => Value::Bool(*b),
                        Key::String(s) => Value::String(s.clone()),
                    };
                    format!("{}: {}", render(&k), render(v))
                })
                .collect();
            parts.sort();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Opaque(o) => match o.downcast_ref::<OptionalValue>() {
            Some(opt) => match opt.value() {
                Some(v) => format!("optional:{}", render(v)),
                None => "optional:none".into(),
            },
            None => format!("opaque:{}", o.runtime_type_name()),
        },
        Value::Function(name, _) => format!("function:{name}"),
    }
}

fn engine(expressions: &[&str]) -> Vec<Answer> {
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n"},"spec":{"containers":[{"name":"a","image":"a"}]}}"#;
    let source = Source::Object(Arc::from(pod));
    let activation = Activation::new("Pod", &source, "n", &Labels::new()).expect("an activation");
    expressions
        .iter()
        .map(|e| match program(e, Yields::Any) {
            Err(why) => Answer::Refused(why),
            Ok(_) => match evaluate_source(e, &activation) {
                Ok(v) => Answer::Value(render(&v)),
                Err(why) => Answer::Error(why),
            },
        })
        .collect()
}

#[test]
fn the_engine_answers_as_the_api_server_or_refuses() {
    let text = std::fs::read_to_string(common::repo_root().join("tests/fixtures/cel/oracle.txt"))
        .expect("tests/fixtures/cel/oracle.txt");
    let expressions: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(expressions.len() >= 100, "the corpus shrank");
    let theirs = oracle(&expressions);
    let ours = engine(&expressions);
    let mut disagree = Vec::new();
    let mut refused = Vec::new();
    for ((e, o), p) in expressions.iter().zip(&theirs).zip(&ours) {
        let agrees = match (p, o) {
            (Answer::Value(a), Answer::Value(b)) => a == b,
            (Answer::Value(_), _) => false,
            (Answer::Error(_), Answer::Error(_) | Answer::Refused(_)) => true,
            (Answer::Error(_), Answer::Value(_)) => false,
            (Answer::Refused(why), other) => {
                if !matches!(other, Answer::Refused(_)) {
                    refused.push(format!(
                        "{e}\n    plumbline refuses: {why}\n    API server: {other:?}"
                    ));
                }
                true
            }
        };
        if !agrees {
            disagree.push(format!("{e}\n    plumbline:  {p:?}\n    API server: {o:?}"));
        }
    }
    eprintln!(
        "{} expressions; {} that the API server evaluates are refused by plumbline:\n{}",
        expressions.len(),
        refused.len(),
        refused.join("\n")
    );
    assert!(
        disagree.is_empty(),
        "{} of {} expressions disagree with the API server:\n{}",
        disagree.len(),
        expressions.len(),
        disagree.join("\n")
    );
}
