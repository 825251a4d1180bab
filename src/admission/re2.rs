//! Whether a pattern the engine accepts (Rust's `regex`) means the same to
//! the API server's CEL `matches()` (Go's RE2). The two syntaxes share a
//! large core; what lies outside it (class set operations, nested classes,
//! the `x`/`u`/`R` flags, `\u` escapes, extended word boundaries, Unicode
//! properties Go lacks, repetitions over 1000) would make the API server
//! refuse the policy, so such a rule is left to background evaluation. Pure.

use regex_syntax::ast::{
    self, Ast, ClassSet, ClassSetItem, ClassUnicodeKind, Flag, FlagsItemKind, LiteralKind,
    RepetitionRange,
};

/// Go's limit on a counted repetition.
const MAX_REPEAT: u32 = 1000;

/// General categories, the Unicode classes Go's RE2 and Rust's regex both know
/// by the same names.
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// `Ok` when `pattern` can be used as is in a CEL `matches()`; otherwise what
/// in it has no RE2 equivalent.
pub fn compatible(pattern: &str) -> Result<(), String> {
    let ast = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|err| format!("it does not parse: {}", err.kind()))?;
    let mut problem = None;
    walk(&ast, &mut problem);
    problem.map_or(Ok(()), Err)
}

fn walk(ast: &Ast, problem: &mut Option<String>) {
    if problem.is_some() {
        return;
    }
    let mut fail = |what: &str| {
        problem.get_or_insert_with(|| format!("{what} has no equivalent in the API server's RE2"));
    };
    match ast {
        Ast::Empty(_) | Ast::Dot(_) | Ast::ClassPerl(_) => {}
        Ast::Literal(lit) => literal(lit, &mut fail),
        Ast::Assertion(a) => {
            use ast::AssertionKind::*;
            if !matches!(
                a.kind,
                StartLine | EndLine | StartText | EndText | WordBoundary | NotWordBoundary
            ) {
                fail("an extended word boundary (\\b{…}, \\<, \\>)");
            }
        }
        Ast::ClassUnicode(class) => unicode(&class.kind, &mut fail),
        Ast::ClassBracketed(class) => set(&class.kind, &mut fail),
        Ast::Flags(flags) => flag_items(&flags.flags, &mut fail),
        Ast::Repetition(rep) => {
            if let ast::RepetitionKind::Range(range) = &rep.op.kind {
                let (RepetitionRange::Exactly(n)
                | RepetitionRange::AtLeast(n)
                | RepetitionRange::Bounded(_, n)) = range;
                if *n > MAX_REPEAT {
                    fail("a repetition count over 1000");
                }
            }
            walk(&rep.ast, problem);
        }
        Ast::Group(group) => {
            if let ast::GroupKind::NonCapturing(flags) = &group.kind {
                flag_items(flags, &mut fail);
            }
            walk(&group.ast, problem);
        }
        Ast::Alternation(alt) => alt.asts.iter().for_each(|a| walk(a, problem)),
        Ast::Concat(concat) => concat.asts.iter().for_each(|a| walk(a, problem)),
    }
}

fn literal(lit: &ast::Literal, fail: &mut impl FnMut(&str)) {
    match &lit.kind {
        LiteralKind::HexFixed(ast::HexLiteralKind::UnicodeShort)
        | LiteralKind::HexFixed(ast::HexLiteralKind::UnicodeLong) => {
            fail("a \\u or \\U escape (write \\x{…})")
        }
        LiteralKind::Octal => fail("an octal escape"),
        LiteralKind::Superfluous if !lit.c.is_ascii_punctuation() => {
            fail("an escaped non-punctuation character")
        }
        _ => {}
    }
}

fn unicode(kind: &ClassUnicodeKind, fail: &mut impl FnMut(&str)) {
    let ok = match kind {
        ClassUnicodeKind::OneLetter(c) => CATEGORIES.contains(&c.to_string().as_str()),
        ClassUnicodeKind::Named(name) => CATEGORIES.contains(&name.as_str()),
        ClassUnicodeKind::NamedValue { .. } => false,
    };
    if !ok {
        fail("a Unicode class other than a general category (\\pL, \\p{Lu}, …)");
    }
}

fn set(class: &ClassSet, fail: &mut impl FnMut(&str)) {
    match class {
        ClassSet::BinaryOp(_) => fail("a class set operation (&&, --, ~~)"),
        ClassSet::Item(item) => set_item(item, fail),
    }
}

fn set_item(item: &ClassSetItem, fail: &mut impl FnMut(&str)) {
    match item {
        ClassSetItem::Empty(_) | ClassSetItem::Ascii(_) | ClassSetItem::Perl(_) => {}
        ClassSetItem::Literal(lit) => literal(lit, fail),
        ClassSetItem::Range(range) => {
            literal(&range.start, fail);
            literal(&range.end, fail);
        }
        ClassSetItem::Unicode(class) => unicode(&class.kind, fail),
        ClassSetItem::Bracketed(_) => fail("a nested character class"),
        ClassSetItem::Union(union) => union.items.iter().for_each(|i| set_item(i, fail)),
    }
}

fn flag_items(flags: &ast::Flags, fail: &mut impl FnMut(&str)) {
    for item in &flags.items {
        if let FlagsItemKind::Flag(flag) = item.kind
            && !matches!(
                flag,
                Flag::CaseInsensitive | Flag::MultiLine | Flag::DotMatchesNewLine | Flag::SwapGreed
            )
        {
            fail("the flag x, u or R (RE2 knows i, m, s and U)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn the_common_core_is_accepted() {
        for p in [
            r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            r"^team-(payments|search)$",
            r"(?i)^prod",
            r".*/debug-tools(:.*)?$",
            r"\d{3}-\w+\s*",
            r"[[:alpha:]]+",
            r"\pL\p{Lu}",
            r"\x41\x{263A}",
            r"a{2,1000}",
            r"\.\-\*",
            r"(?P<name>x)(?:y)",
        ] {
            assert_eq!(compatible(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rust_only_syntax_is_refused_with_a_reason() {
        for (p, why) in [
            (r"[a-z&&[^aeiou]]", "class set operation"),
            (r"[a-z--b]", "class set operation"),
            (r"[[a-z]x]", "nested character class"),
            (r"(?x) a b", "flag x"),
            (r"(?-u:\w)", "flag x, u"),
            (r"\u0041", "\\u"),
            (r"\b{start}x", "word boundary"),
            (r"\<x\>", "word boundary"),
            (r"\p{Greek}", "general category"),
            (r"\p{sc=Greek}", "general category"),
            (r"a{1001}", "over 1000"),
            (r"(", "does not parse"),
        ] {
            let err = compatible(p).expect_err(p);
            assert!(err.contains(why), "{p}: {err}");
        }
    }
}
