//! The JavaScript and TypeScript rules (TypeScript-only ones use the `TypeScript` family).

use tree_sitter::Node;

use crate::engine::analysis::context::{Ctx, fix};
#[allow(clippy::enum_glob_use)] // the rule tables read better with bare variant names
use crate::engine::analysis::finding::{Category::*, Severity::*};
use crate::engine::analysis::language::Family;
use crate::engine::analysis::registry::table;
use crate::engine::analysis::rule::{FixAvailability, Rule};

const JS: Family = Family::JavaScript;
const TS: Family = Family::TypeScript;

fn callee<'a>(ctx: &Ctx<'a>, call: Node<'_>) -> &'a str {
    call.child_by_field_name("function")
        .map_or("", |f| ctx.text_of(f))
}

fn rule_name(ctx: &Ctx<'_>) -> &'static str {
    table()[ctx.rule as usize].name
}

/// JS101 / JS108 / JS112 / JS105: calls by name.
fn named_call(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = callee(ctx, node);
    let (hit, msg) = match rule_name(ctx) {
        "eval-used" => (
            name == "eval" || name == "window.eval",
            "'eval' runs arbitrary code",
        ),
        "document-write" => (
            matches!(name, "document.write" | "document.writeln"),
            "'document.write' can inject markup and blocks parsing",
        ),
        "string-timer" => (
            matches!(
                name,
                "setTimeout" | "setInterval" | "window.setTimeout" | "window.setInterval"
            ) && node
                .child_by_field_name("arguments")
                .and_then(|a| a.named_child(0))
                .is_some_and(|a| matches!(a.kind(), "string" | "template_string")),
            "a string passed to a timer is evaluated like eval; pass a function",
        ),
        "console-log" => (
            !ctx.file.is_test
                && !ctx.file.is_script
                && matches!(
                    name,
                    "console.log" | "console.debug" | "console.trace" | "console.dir"
                ),
            "console output left in the code",
        ),
        _ => (false, ""),
    };
    if hit {
        ctx.report(node, msg);
    }
}

/// JS102: `==` / `!=` (comparisons with null are an idiom and exempt).
fn loose_equality(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(op) = node.child_by_field_name("operator") else {
        return;
    };
    let strict = match ctx.text_of(op) {
        "==" => "===",
        "!=" => "!==",
        _ => return,
    };
    let is_null =
        |n: Option<Node<'_>>| n.is_some_and(|n| n.kind() == "null" || n.kind() == "undefined");
    if is_null(node.child_by_field_name("left")) || is_null(node.child_by_field_name("right")) {
        return;
    }
    let loose = ctx.text_of(op);
    ctx.report_fix(
        op,
        format!("'{loose}' converts types before comparing; use '{strict}'"),
        fix(
            false,
            format!("use '{strict}'"),
            op.start_byte(),
            op.end_byte(),
            strict,
        ),
    );
}

/// JS103: `var`.
fn no_var(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(kw) = node.child(0).filter(|k| ctx.text_of(*k) == "var") else {
        return;
    };
    ctx.report_fix(
        kw,
        "'var' is function-scoped and hoisted; use 'let' or 'const'",
        fix(false, "use 'let'", kw.start_byte(), kw.end_byte(), "let"),
    );
}

/// JS104: `el.innerHTML = ...`.
fn inner_html(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(left) = node
        .child_by_field_name("left")
        .filter(|l| l.kind() == "member_expression")
    else {
        return;
    };
    if left
        .child_by_field_name("property")
        .is_some_and(|p| matches!(ctx.text_of(p), "innerHTML" | "outerHTML"))
    {
        ctx.report(
            node,
            "assigning HTML strings allows script injection; use textContent or build nodes",
        );
    }
}

/// JS106.
fn debugger(ctx: &mut Ctx<'_>, node: Node<'_>) {
    ctx.report_fix(
        node,
        "'debugger' statement left in the code",
        fix(
            true,
            "remove 'debugger'",
            node.start_byte(),
            node.end_byte(),
            "",
        ),
    );
}

/// JS107: `new Function(...)`.
fn new_function(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if node
        .child_by_field_name("constructor")
        .is_some_and(|c| ctx.text_of(c) == "Function")
    {
        ctx.report(node, "'new Function' compiles a string like eval");
    }
}

/// JS109: `catch (e) {}`.
fn empty_catch(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if let Some(body) = node.child_by_field_name("body")
        && body.named_child_count() == 0
    {
        ctx.report(
            node,
            "empty catch block swallows the error; handle it or comment why",
        );
    }
}

/// JS110: a promise whose rejection nobody handles (`p.then(f);`, `fetch(u);`).
fn floating_promise(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(expr) = node
        .named_child(0)
        .filter(|e| e.kind() == "call_expression")
    else {
        return;
    };
    let func = expr.child_by_field_name("function");
    let floating = match func {
        Some(f) if f.kind() == "member_expression" => {
            let prop = f
                .child_by_field_name("property")
                .map_or("", |p| ctx.text_of(p));
            let args = expr
                .child_by_field_name("arguments")
                .map_or(0, |a| a.named_child_count());
            prop == "then" && args < 2
        }
        Some(f) => ctx.text_of(f) == "fetch",
        None => false,
    };
    if floating {
        ctx.report(
            expr,
            "promise not awaited and its rejection not handled; await it or add .catch()",
        );
    }
}

/// TS101: `any`.
fn explicit_any(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if ctx.text_of(node) == "any" {
        ctx.report(
            node,
            "'any' turns off type checking; use 'unknown' or a precise type",
        );
    }
}

/// TS102: `value!`.
fn non_null_assertion(ctx: &mut Ctx<'_>, node: Node<'_>) {
    ctx.report(
        node,
        "non-null assertion '!' hides a possible null; check it instead",
    );
}

/// TS103: `// @ts-ignore`.
fn ts_ignore(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let text = ctx.text_of(node);
    if let Some(i) = text.find("@ts-ignore") {
        let s = node.start_byte() + i;
        let e = s + "@ts-ignore".len();
        ctx.report_span(
            s,
            e,
            "'@ts-ignore' silences any error, now and later; use '@ts-expect-error'",
            Some(fix(
                false,
                "use '@ts-expect-error'",
                s,
                e,
                "@ts-expect-error",
            )),
        );
    }
}

pub(crate) static RULES: &[Rule] = &[
    Rule {
        summary: "The file does not parse.",
        explanation: "Tree-sitter recovered from a syntax error; the range shows the unexpected or missing token.",
        bad: "function f( {\n  return 1;\n}\n",
        good: "function f() {\n  return 1;\n}\n",
        ..Rule::new("JS001", "syntax-error", JS, Correctness, Error)
    },
    Rule {
        summary: "`eval` runs arbitrary code.",
        explanation: "eval on data from outside is code injection; parse the data (JSON.parse) or dispatch on it.",
        bad: "const v = eval(input);\n",
        good: "const v = JSON.parse(input);\n",
        enter: &["call_expression"],
        on_enter: Some(named_call),
        ..Rule::new("JS101", "eval-used", JS, Security, Error)
    },
    Rule {
        summary: "`==` / `!=` instead of `===` / `!==`.",
        explanation: "Loose equality converts types first (`'' == 0` is true). Comparisons with null/undefined are exempt (`x == null` is an idiom).",
        bad: "if (a == b) {}\n",
        good: "if (a === b) {}\n",
        fix: FixAvailability::Unsafe,
        enter: &["binary_expression"],
        on_enter: Some(loose_equality),
        ..Rule::new("JS102", "loose-equality", JS, Correctness, Warning)
    },
    Rule {
        summary: "`var` declaration.",
        explanation: "var is function-scoped and hoisted; let and const are block-scoped.",
        bad: "var count = 0;\n",
        good: "let count = 0;\n",
        fix: FixAvailability::Unsafe,
        enter: &["variable_declaration"],
        on_enter: Some(no_var),
        ..Rule::new("JS103", "no-var", JS, Style, Warning)
    },
    Rule {
        summary: "Assignment to `innerHTML` / `outerHTML`.",
        explanation: "HTML built from strings can carry scripts (XSS). Set textContent, or build elements.",
        bad: "el.innerHTML = userName;\n",
        good: "el.textContent = userName;\n",
        enter: &["assignment_expression", "augmented_assignment_expression"],
        on_enter: Some(inner_html),
        ..Rule::new("JS104", "inner-html", JS, Security, Warning)
    },
    Rule {
        summary: "`console.log` left in the code.",
        explanation: "Debug output leaks into production consoles; use a logger. console.error/warn and tests are exempt.",
        bad: "console.log('here', value);\n",
        good: "logger.debug('here', value);\n",
        enter: &["call_expression"],
        on_enter: Some(named_call),
        ..Rule::new("JS105", "console-log", JS, Style, Info)
    },
    Rule {
        summary: "`debugger` statement.",
        explanation: "A debugger statement pauses every user with devtools open; remove it.",
        bad: "function f() {\n  debugger;\n}\n",
        good: "function f() {\n}\n",
        fix: FixAvailability::Safe,
        enter: &["debugger_statement"],
        on_enter: Some(debugger),
        ..Rule::new("JS106", "debugger-statement", JS, Correctness, Warning)
    },
    Rule {
        summary: "`new Function(...)` compiles a string.",
        explanation: "It is eval by another name; write the function.",
        bad: "const add = new Function('a', 'b', 'return a + b');\n",
        good: "const add = (a, b) => a + b;\n",
        enter: &["new_expression"],
        on_enter: Some(new_function),
        ..Rule::new("JS107", "new-function", JS, Security, Error)
    },
    Rule {
        summary: "`document.write`.",
        explanation: "document.write injects raw markup and blocks the parser; build nodes instead.",
        bad: "document.write('<p>' + name + '</p>');\n",
        good: "const p = document.createElement('p');\np.textContent = name;\ndocument.body.append(p);\n",
        enter: &["call_expression"],
        on_enter: Some(named_call),
        ..Rule::new("JS108", "document-write", JS, Security, Warning)
    },
    Rule {
        summary: "Empty `catch` block.",
        explanation: "An empty catch hides failures. Handle the error, or leave a comment saying why it is ignored.",
        bad: "try {\n  run();\n} catch (e) {}\n",
        good: "try {\n  run();\n} catch (e) {\n  // optional: the feature is absent in old browsers\n}\n",
        enter: &["catch_clause"],
        on_enter: Some(empty_catch),
        ..Rule::new("JS109", "empty-catch", JS, Correctness, Warning)
    },
    Rule {
        summary: "Floating promise.",
        explanation: "A promise that is neither awaited nor given a rejection handler fails silently. `await` it, return it, or add `.catch()`.",
        bad: "save(data).then(done);\n",
        good: "save(data).then(done).catch(report);\n",
        enter: &["expression_statement"],
        on_enter: Some(floating_promise),
        ..Rule::new("JS110", "floating-promise", JS, Correctness, Warning)
    },
    Rule {
        summary: "TODO/FIXME marker.",
        explanation: "Listed so markers are not forgotten.",
        bad: "// TODO: validate\nrun();\n",
        good: "// Validated by the caller.\nrun();\n",
        enter: &["comment"],
        on_enter: Some(super::todo_marker),
        ..Rule::new("JS111", "todo-comment", JS, Style, Hint)
    },
    Rule {
        summary: "A string passed to setTimeout/setInterval.",
        explanation: "A string argument is compiled like eval; pass a function.",
        bad: "setTimeout('tick()', 100);\n",
        good: "setTimeout(tick, 100);\n",
        enter: &["call_expression"],
        on_enter: Some(named_call),
        ..Rule::new("JS112", "string-timer", JS, Security, Warning)
    },
    Rule {
        summary: "Explicit `any` type.",
        explanation: "any switches type checking off for everything it touches; use unknown and narrow, or a precise type.",
        bad: "function parse(x: any) {\n  return x;\n}\n",
        good: "function parse(x: unknown) {\n  return x;\n}\n",
        enter: &["predefined_type"],
        on_enter: Some(explicit_any),
        ..Rule::new("TS101", "explicit-any", TS, Correctness, Warning)
    },
    Rule {
        summary: "Non-null assertion `!`.",
        explanation: "`value!` tells the compiler a value cannot be null without checking; a wrong guess crashes at run time.",
        bad: "const n = map.get(key)!;\n",
        good: "const n = map.get(key) ?? 0;\n",
        enter: &["non_null_expression"],
        on_enter: Some(non_null_assertion),
        ..Rule::new("TS102", "non-null-assertion", TS, Correctness, Info)
    },
    Rule {
        summary: "`@ts-ignore` comment.",
        explanation: "@ts-ignore silences any error on the next line, including future ones; @ts-expect-error fails once the error is gone.",
        bad: "// @ts-ignore\nconst x: number = 'a';\n",
        good: "// @ts-expect-error: testing a wrong type\nconst x: number = 'a';\n",
        fix: FixAvailability::Unsafe,
        enter: &["comment"],
        on_enter: Some(ts_ignore),
        ..Rule::new("TS103", "ts-ignore", TS, Style, Warning)
    },
];
