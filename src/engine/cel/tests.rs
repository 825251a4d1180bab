use super::*;
use crate::engine::selector::Labels;

const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","labels":{"app.kubernetes.io/version":"1.4.2"}},"spec":{"replicas":3,"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"registry.example.com/web:1.4.2","resources":{"limits":{"memory":"8Gi"}}}],"initContainers":[{"name":"proxy","image":"envoy:1","restartPolicy":"Always"},{"name":"migrate","image":"tool:2"}]}}}}"#;

fn activation() -> Activation {
    let source = crate::engine::Source::Object(DEPLOYMENT.into());
    Activation::new("Deployment", &source, "shop", &Labels::new()).unwrap()
}

/// A rule's expression, compiled.
fn program(source: &str) -> Result<Arc<Program>, String> {
    super::program(source, Yields::Bool)
}

fn eval(source: &str) -> Result<Value, String> {
    evaluate_source(source, &activation())
}

fn truth(source: &str) -> bool {
    match eval(source) {
        Ok(Value::Bool(b)) => b,
        other => panic!("{source}: {other:?}"),
    }
}

#[test]
fn variables_follow_the_engine() {
    assert!(truth("variables.kind == 'Deployment'"));
    assert!(truth("size(variables.containers) == 3"));
    assert!(truth(
        "variables.containerRoles == ['regular', 'sidecar', 'init']"
    ));
    assert!(truth("variables.podMetadata.labels.app == 'web'"));
    assert!(truth("object.spec.replicas == 3"));
    assert!(truth("namespaceObject.metadata.name == 'shop'"));
}

#[test]
fn libraries_answer() {
    assert!(!truth(
        "variables.containers.all(c, !has(c.resources.limits.memory) || quantity(c.resources.limits.memory).compareTo(quantity('4Gi')) <= 0)"
    ));
    assert!(truth(
        "variables.containers[0].image.split(':')[1] == object.metadata.labels['app.kubernetes.io/version']"
    ));
    assert!(truth(
        "[3, 1, 2].sort() == [1, 2, 3] && [1, 2, 3].isSorted() && [1, 2].sum() == 3"
    ));
    assert!(truth("lists.range(3) == [0, 1, 2]"));
    assert!(truth(
        "'abc'.find('[bc]+') == 'bc' && 'a1b2'.findAll('[0-9]') == ['1', '2']"
    ));
    assert!(truth("semver('1.2.3').isLessThan(semver('v1.10', true))"));
    assert!(truth(
        "cidr('10.0.0.0/8').containsIP(ip('10.2.3.4')) && ip('::1').family() == 6"
    ));
    assert!(truth(
        "url('https://example.com:8443/x').getPort() == '8443'"
    ));
    assert!(truth(
        "'%s has %d'.format([object.metadata.name, object.spec.replicas]) == 'web has 3'"
    ));
    assert!(truth(
        "object.spec.?strategy.?type.orValue('none') == 'none'"
    ));
    assert!(truth(
        "variables.containers[0].?securityContext.hasValue() == false"
    ));
}

#[test]
fn compile_errors_say_where() {
    let e = program("object.spec.replicas >").unwrap_err();
    assert!(e.starts_with("syntax error at line 1, column"), "{e}");
    let e = program("objekt.spec.replicas > 1").unwrap_err();
    assert!(
        e.contains("line 1, column 1") && e.contains("objekt"),
        "{e}"
    );
    let e = program("object.spec.replicas > 1 &&\n  request.operation == 'CREATE'").unwrap_err();
    assert!(
        e.contains("line 2, column 3") && e.contains("request"),
        "{e}"
    );
    let e = program("variables.nope == 1").unwrap_err();
    assert!(e.contains("variables.nope"), "{e}");
    let e = program("object.status.replicas > 1").unwrap_err();
    assert!(e.contains("object.status"), "{e}");
    let e = program("frobnicate(object)").unwrap_err();
    assert!(e.contains("frobnicate"), "{e}");
    let e = program("'abc'.reverse() == 'cba'").unwrap_err();
    assert!(e.contains("reverse"), "{e}");
    let e = program("['a', 1].size() == 2").unwrap_err();
    assert!(e.contains("mixes element types"), "{e}");
    let deep = format!("{}true{}", "[".repeat(200), "]".repeat(200));
    assert!(program(&format!("size({deep}) == 1")).is_err());
    let nested = (0..9).fold("true".to_string(), |acc, _| format!("[1].all(x, {acc})"));
    assert!(program(&nested).unwrap_err().contains("nest"));
}

#[test]
fn run_time_errors_and_budget() {
    let e = eval("object.spec.paused == true").unwrap_err();
    assert!(e.contains("no such key"), "{e}");
    let e = eval("lists.range(2000).all(i, lists.range(2000).all(j, true))").unwrap_err();
    assert!(e.contains("cost budget"), "{e}");
}

#[test]
fn syntax_error_columns_are_one_based() {
    let e = program("1 +* 2").unwrap_err();
    assert!(e.contains("line 1, column 4"), "{e}");
}

#[test]
fn huge_and_hostile_expressions_give_errors_not_crashes() {
    // 10,000 characters of one long conjunction: the parser balances it,
    // as the API server's does, so it compiles and runs.
    let long = vec!["object.spec.replicas > 0"; 400].join(" && ");
    assert!(long.len() > 10_000);
    assert!(truth(&long));
    // Deep nesting is refused with a message, not a stack overflow.
    let deep = format!("{}1{} == 1", "(".repeat(5000), ")".repeat(5000));
    match program(&deep) {
        Err(e) => assert!(
            e.contains("nest") || e.contains("recursion") || e.contains("syntax"),
            "{e}"
        ),
        Ok(_) => panic!("5,000 nested parentheses compiled"),
    }
    // 10,000 characters that nest nothing compile and run.
    let wide = format!("size([{}]) == 2000", vec!["'abc'"; 2000].join(", "));
    assert!(wide.len() > 10_000);
    assert!(truth(&wide));
    assert!(program("").unwrap_err().contains("empty"));
    // A message expression that gives no string is refused when compiled,
    // as the API server refuses it when the policy is created.
    assert!(super::program("1", Yields::String).is_err());
    assert!(program("Message{a: 1}").is_err());
}

#[test]
fn message_expressions_fall_back_as_the_api_server_does() {
    let rule = |m: &str| {
        compile(
            &crate::api::standard::CelCheck {
                expression: "false".into(),
                message: Some("the static message".into()),
                message_expression: Some(m.into()),
            },
            "d",
            "spec.rules[0]",
        )
        .unwrap()
    };
    let act = activation();
    let out = |m: &str| match rule(m).evaluate(&act) {
        Outcome::Fail(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(out("'  per ' + object.metadata.name + ' '"), "per web");
    for fallback in [
        "object.spec.paused ? 'a' : 'b'",
        "'  '",
        "'two\\nlines'",
        "'x'.substring(0, 9)",
    ] {
        assert_eq!(out(fallback), "the static message", "{fallback}");
    }
    assert!(rule("'x'").always_false);
}

#[test]
fn type_errors_are_found_once_from_the_schemas() {
    let e = program("object.spec.replicas + 'x' == '3x'").unwrap_err();
    assert!(
        e.starts_with("line 1, column 13: no matching overload for '+' applied to (int, string)"),
        "{e}"
    );
    let e = program("object.metadata.name == 'a' &&\n  'replicas: ' + 1 == 'x'").unwrap_err();
    assert!(
        e.contains("line 2, column") && e.contains("(string, int)"),
        "{e}"
    );
    let e = program("variables.containers.image == 'nginx'").unwrap_err();
    assert!(
        e.contains("is a list") && e.contains(".all(x, x.image"),
        "{e}"
    );
    let e = program("object.metadata.name").unwrap_err();
    assert!(e.contains("gives a string, not a bool"), "{e}");
    let e = program("variables.containers.all(c, c.name + 1 > 0)").unwrap_err();
    assert!(e.contains("(string, int)"), "{e}");
    let e = program("object.spec.replicas.startsWith('1')").unwrap_err();
    assert!(e.contains("has no function `startsWith`"), "{e}");
    let e = program("object.spec.paused && 1").unwrap_err();
    assert!(e.contains("'&&' needs bools"), "{e}");
    let e = program("size(object.spec.replicas) > 0").unwrap_err();
    assert!(e.contains("'size'"), "{e}");
    let e = program("variables.kind.exists(k, k == 'Pod')").unwrap_err();
    assert!(e.contains("cannot range over"), "{e}");
    let e = program("object.metadata.name[0] == 'w'").unwrap_err();
    assert!(e.contains("'[]'"), "{e}");
    let e =
        program("variables.containers.all(c, c.ports.all(p, p.containerPort < 'x'))").unwrap_err();
    assert!(e.contains("'<' applied to (int, string)"), "{e}");
    let e = super::program("object.spec.replicas", Yields::String).unwrap_err();
    assert!(
        e.contains("gives a int, not a string") || e.contains("not a string"),
        "{e}"
    );
}

#[test]
fn what_the_schemas_do_not_make_certain_passes() {
    for ok in [
        "object.spec.replicas > 1.5",
        "object.spec.replicas == null || object.spec.replicas >= 1",
        "object.metadata.labels['app'] == 'web'",
        "variables.podMetadata.labels.app == 'web'",
        "variables.containers.all(c, c.image.startsWith('r'))",
        "variables.containers.all(c, !has(c.resources.limits.memory) || quantity(c.resources.limits.memory).isLessThan(quantity('4Gi')))",
        "has(object.spec.replicas) && object.spec.replicas > 0",
        "object.spec.?replicas.orValue(1) > 0",
        "variables.containers.map(c, c.name).exists(n, n == 'app')",
        "variables.podSpec.containers.all(c, !has(c.ports) || c.ports.all(p, p.containerPort > 1024))",
        "int(object.spec.replicas) + 1 > 0",
        "[1, 2].map(x, x * 2).sum() == 6",
        "{'a': 1}.all(k, k == 'a')",
        "object.metadata.creationTimestamp == null || true",
        "variables.containers.all(c, c.name + '-x' != '')",
        "object.spec.template.spec.containers[0].name.size() > 0",
        "'%s'.format([object.spec.replicas]) != ''",
        "variables.containerRoles.exists(r, r == 'sidecar') ? true : false",
        "object.spec.strategy.type in ['RollingUpdate', 'Recreate']",
        "'app' in object.metadata.labels",
        "namespaceObject.metadata.labels.exists(k, k.startsWith('team'))",
        "object.spec.template.spec.containers.exists_one(c, c.name == 'app')",
    ] {
        if let Err(e) = program(ok) {
            panic!("{ok}: {e}");
        }
    }
}

#[test]
fn all_and_exists_keep_an_error_until_an_element_decides() {
    // The first container has no securityContext: its predicate errors, and
    // the second decides, as on the API server.
    let two = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"containers":[{"name":"a","image":"a"},{"name":"b","image":"b","securityContext":{"privileged":true,"runAsNonRoot":true}}]}}"#;
    let source = crate::engine::Source::Object(two.into());
    let act = Activation::new("Pod", &source, "shop", &Labels::new()).unwrap();
    let eval = |e: &str| evaluate_source(e, &act);
    assert_eq!(
        eval("variables.containers.exists(c, c.securityContext.runAsNonRoot)"),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        eval("variables.containers.all(c, c.securityContext.privileged != true)"),
        Ok(Value::Bool(false))
    );
    // No element decides: the kept error is the result.
    let e = eval("variables.containers.all(c, c.securityContext.privileged)").unwrap_err();
    assert!(e.contains("no such key"), "{e}");
    let e =
        eval("variables.containers.exists(c, c.securityContext.privileged == false)").unwrap_err();
    assert!(e.contains("no such key"), "{e}");
    // Plain results are unchanged, and running out of budget is never absorbed.
    assert_eq!(eval("[1, 2].all(x, x > 0)"), Ok(Value::Bool(true)));
    assert_eq!(eval("[1, 2].exists(x, x > 1)"), Ok(Value::Bool(true)));
    assert_eq!(eval("[].all(x, x > 1)"), Ok(Value::Bool(true)));
    let e = eval("lists.range(3000).exists(i, lists.range(3000).all(j, j < 0) || i == 'x')")
        .unwrap_err();
    assert!(e.contains("cost budget"), "{e}");
}

#[test]
fn strings_count_code_points_and_contains_is_for_strings() {
    assert!(truth("size('héllo') == 5 && 'héllo'.size() == 5"));
    assert!(truth("'héllo'.substring(0, size('héllo')) == 'héllo'"));
    assert!(truth("size([1, 2]) == 2 && size({'a': 1}) == 1"));
    assert!(truth("'abc'.contains('b')"));
    let e = program("variables.containerRoles.contains('init')").unwrap_err();
    assert!(e.contains("x in variables.containerRoles"), "{e}");
    let e = program("object.metadata.labels.map(k, k).contains('x')").unwrap_err();
    assert!(
        e.contains("`object.metadata.labels.<macro>(...)` is a list"),
        "{e}"
    );
    let e = eval("object.spec.?template.orValue([]).contains('x')").unwrap_err();
    assert!(e.contains("no overload"), "{e}");
}

#[test]
fn non_ascii_text_and_comments_do_not_break_positions() {
    let e = program("// vérifie le conteneur's image\nvariables.containers.all(c, request.x)")
        .unwrap_err();
    assert!(e.contains("line 2") && e.contains("request"), "{e}");
    let e = program("'é' == 'é' && objekt.x").unwrap_err();
    assert!(e.contains("objekt"), "{e}");
}

#[test]
fn unknown_fields_and_namespace_fields_the_engine_lacks_are_refused() {
    let e = program("object.spec.template.spec.hostNetwrok == true").unwrap_err();
    assert!(
        e.contains("undefined field `hostNetwrok`") && e.contains("column 27"),
        "{e}"
    );
    // has() of a field no kind has is false on the API server, not an error.
    assert!(program("!has(object.spec.template.spec.hostNetwrok)").is_ok());
    let e = program("variables.containers.all(c, c.imagePulPolicy != 'Never')").unwrap_err();
    assert!(e.contains("imagePulPolicy"), "{e}");
    assert!(
        program("object.metadata.labels.exists(k, k == 'x') || has(object.metadata.labels.team)")
            .is_ok()
    );
    let e = program("namespaceObject.metadata.annotations['x'] == 'y'").unwrap_err();
    assert!(e.contains("name and labels"), "{e}");
    assert!(
        program(
            "namespaceObject.metadata.labels['team'] == 'a' && namespaceObject.metadata.name != ''"
        )
        .is_ok()
    );
    let e = program(
        "object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'] == ''",
    )
    .unwrap_err();
    assert!(e.contains("kubectl copy"), "{e}");
}

#[test]
fn mixed_equality_on_workload_fields_is_dynamic_as_on_the_api_server() {
    for ok in [
        "object.spec.replicas == 1.0",
        "object.spec.replicas != 3u",
        "variables.podSpec.terminationGracePeriodSeconds == 30.0",
        "variables.containers.all(c, c.?ports.orValue([]).all(p, p.containerPort != 22.0))",
        "variables.containers.all(c, !has(c.ports) || c.ports.all(p, p.containerPort != '22'))",
        "object.metadata.annotations.all(k, k == 'kubectl.kubernetes.io/last-applied-configuration' || k.startsWith('team.example.com/'))",
        "!('kubectl.kubernetes.io/last-applied-configuration' in object.metadata.annotations)",
    ] {
        if let Err(e) = program(ok) {
            panic!("{ok}: {e}");
        }
    }
    // Literals and results of functions are typed on the API server too.
    for refused in ["1 == 1.0", "size(object.metadata.name) == 1.0", "'a' == 1"] {
        assert!(program(refused).is_err(), "{refused}");
    }
}

#[test]
fn the_kubectl_copy_keeps_its_key() {
    let mut d: serde_json::Value = serde_json::from_str(DEPLOYMENT).unwrap();
    d["metadata"]["annotations"] =
        serde_json::json!({"kubectl.kubernetes.io/last-applied-configuration": "{\"big\": 1}"});
    let json = source_of(&d).unwrap();
    let act = Activation::new(
        "Deployment",
        &crate::engine::Source::Object(json),
        "shop",
        &Labels::new(),
    )
    .unwrap();
    assert_eq!(
        evaluate_source(
            "object.metadata.annotations.all(k, k.startsWith('team.example.com/'))",
            &act
        ),
        Ok(Value::Bool(false))
    );
    assert_eq!(
        evaluate_source("size(object.metadata.annotations) == 1", &act),
        Ok(Value::Bool(true))
    );
}

#[test]
fn malformed_macros_are_errors() {
    for bad in [
        "[1].all(x)",
        "[1].exists(x, y, z, w)",
        "all(x, true)",
        "[1].map(1, 1)",
    ] {
        assert!(program(bad).is_err(), "{bad}");
    }
}
