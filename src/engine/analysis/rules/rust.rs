//! The Rust rules: panics and placeholders outside tests, unsafe without a SAFETY note, debug
//! leftovers and a few footguns.

use tree_sitter::Node;

use crate::engine::analysis::context::{Ctx, fix};
#[allow(clippy::enum_glob_use)] // the rule tables read better with bare variant names
use crate::engine::analysis::finding::{Category::*, Severity::*};
use crate::engine::analysis::language::Family;
use crate::engine::analysis::registry::table;
use crate::engine::analysis::rule::{FixAvailability, Rule};

const RS: Family = Family::Rust;

/// Whether a node is test code: a test file, or inside a `#[test]` fn or `#[cfg(test)]` module.
fn in_test(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    if ctx.file.is_test {
        return true;
    }
    let mut n = node.parent();
    while let Some(p) = n {
        if matches!(p.kind(), "function_item" | "mod_item" | "impl_item") {
            let mut sib = p.prev_named_sibling();
            while let Some(s) = sib.filter(|s| {
                matches!(
                    s.kind(),
                    "attribute_item" | "line_comment" | "block_comment"
                )
            }) {
                if s.kind() == "attribute_item" && ctx.text_of(s).contains("test") {
                    return true;
                }
                sib = s.prev_named_sibling();
            }
        }
        n = p.parent();
    }
    false
}

/// The macro name of a `name!(...)` invocation.
fn macro_name<'a>(ctx: &Ctx<'a>, node: Node<'_>) -> &'a str {
    node.child_by_field_name("macro").map_or("", |m| {
        let t = ctx.text_of(m);
        t.rsplit("::").next().unwrap_or(t)
    })
}

fn rule_name(ctx: &Ctx<'_>) -> &'static str {
    table()[ctx.rule as usize].name
}

/// RS101 / RS102: `.unwrap()` / `.expect(..)` outside tests.
fn unwrap_expect(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(func) = node
        .child_by_field_name("function")
        .filter(|f| f.kind() == "field_expression")
    else {
        return;
    };
    let Some(field) = func.child_by_field_name("field") else {
        return;
    };
    let want = if rule_name(ctx) == "unwrap-used" {
        "unwrap"
    } else {
        "expect"
    };
    if ctx.text_of(field) == want && !in_test(ctx, node) {
        ctx.report_span(
            field.start_byte(),
            node.end_byte(),
            format!("'.{want}()' panics on None/Err outside tests; propagate the error with '?'"),
            None,
        );
    }
}

/// RS103, RS104, RS106, RS107, RS108: macros by name.
fn macro_rule(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = macro_name(ctx, node);
    let (hit, msg) = match rule_name(ctx) {
        "todo-macro" => (name == "todo", "'todo!()' panics when reached"),
        "unimplemented-macro" => (
            name == "unimplemented",
            "'unimplemented!()' panics when reached",
        ),
        "panic-in-library" => (
            name == "panic" && !ctx.file.is_script && !in_test(ctx, node),
            "'panic!' in library code; return an error instead",
        ),
        "dbg-macro" => (name == "dbg", "'dbg!' left in the code"),
        "print-in-library" => (
            matches!(name, "println" | "print" | "eprintln" | "eprint")
                && !ctx.file.is_script
                && ctx.params.print_in_library
                && !in_test(ctx, node),
            "printing from library code; use tracing or return the text",
        ),
        _ => (false, ""),
    };
    if hit {
        ctx.report(node, msg);
    }
}

/// RS105: `unsafe { }` without a `// SAFETY:` comment just above or on its line.
fn unsafe_without_safety(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let start = node.start_byte();
    // Look back over at most three lines.
    let before = &ctx.text[..start];
    let mut from = start;
    for _ in 0..4 {
        let Some(i) = before[..from].rfind('\n') else {
            from = 0;
            break;
        };
        from = i;
    }
    let line_end = ctx.text[start..]
        .find('\n')
        .map_or(ctx.text.len(), |i| start + i);
    if !ctx.text[from..line_end].contains("SAFETY:") {
        let end = (start + "unsafe".len()).min(node.end_byte());
        ctx.report_span(
            start,
            end,
            "unsafe block without a '// SAFETY:' comment explaining why it is sound",
            None,
        );
    }
}

/// RS110 / RS111 / RS112: calls by path.
fn path_call(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(func) = node.child_by_field_name("function") else {
        return;
    };
    let path = ctx.text_of(func);
    // `transmute::<A, B>`: the turbofish is not part of the name.
    let path = path.split("::<").next().unwrap_or(path);
    let last = path.rsplit("::").next().unwrap_or(path);
    let last = last.split('<').next().unwrap_or(last);
    let (hit, msg) = match rule_name(ctx) {
        "mem-forget" => (
            last == "forget" && path.contains("mem"),
            "'mem::forget' leaks; use ManuallyDrop if that is intended",
        ),
        "transmute" => (
            last == "transmute",
            "'transmute' reinterprets bits unchecked; prefer a safe conversion",
        ),
        "process-exit-in-library" => (
            last == "exit"
                && path.contains("process")
                && !ctx.file.is_script
                && !in_test(ctx, node),
            "'process::exit' in library code skips destructors; return an error to main",
        ),
        _ => (false, ""),
    };
    if hit {
        ctx.report(node, msg);
    }
}

/// RS113: `loop {}` spins a core.
fn empty_loop(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if node
        .child_by_field_name("body")
        .is_some_and(|b| b.named_child_count() == 0)
    {
        ctx.report(
            node,
            "empty 'loop {}' spins a CPU core; block, sleep or park instead",
        );
    }
}

/// RS114: `.clone()` directly on a `.to_string()`/`.to_owned()`/`.clone()` result.
fn redundant_clone(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(func) = node
        .child_by_field_name("function")
        .filter(|f| f.kind() == "field_expression")
    else {
        return;
    };
    if func
        .child_by_field_name("field")
        .is_none_or(|f| ctx.text_of(f) != "clone")
    {
        return;
    }
    let Some(inner) = func
        .child_by_field_name("value")
        .filter(|v| v.kind() == "call_expression")
    else {
        return;
    };
    let owned = inner
        .child_by_field_name("function")
        .filter(|f| f.kind() == "field_expression")
        .and_then(|f| f.child_by_field_name("field"))
        .is_some_and(|f| {
            matches!(
                ctx.text_of(f),
                "to_string" | "to_owned" | "clone" | "to_vec"
            )
        });
    if owned {
        ctx.report_fix(
            node,
            "'.clone()' of a value that is already owned",
            fix(
                true,
                "remove '.clone()'",
                inner.end_byte(),
                node.end_byte(),
                "",
            ),
        );
    }
}

pub(crate) static RULES: &[Rule] = &[
    Rule {
        summary: "The file does not parse.",
        explanation: "Tree-sitter recovered from a syntax error; the range shows the unexpected or missing token.",
        bad: "fn main() {\n    let x = ;\n}\n",
        good: "fn main() {\n    let x = 1;\n}\n",
        ..Rule::new("RS001", "syntax-error", RS, Correctness, Error)
    },
    Rule {
        summary: "`.unwrap()` outside tests.",
        explanation: "unwrap panics with an unhelpful message. Propagate with `?`, or handle the None/Err case. Tests, `#[cfg(test)]` modules and files under tests/ are exempt.",
        bad: "fn port(s: &str) -> u16 {\n    s.parse().unwrap()\n}\n",
        good: "fn port(s: &str) -> Result<u16, std::num::ParseIntError> {\n    s.parse()\n}\n",
        enter: &["call_expression"],
        on_enter: Some(unwrap_expect),
        ..Rule::new("RS101", "unwrap-used", RS, Correctness, Warning)
    },
    Rule {
        summary: "`.expect(..)` outside tests.",
        explanation: "expect still panics; keep it for invariants and say which one in the message. Prefer returning an error.",
        bad: "fn port(s: &str) -> u16 {\n    s.parse().expect(\"port\")\n}\n",
        good: "fn port(s: &str) -> Option<u16> {\n    s.parse().ok()\n}\n",
        enter: &["call_expression"],
        on_enter: Some(unwrap_expect),
        ..Rule::new("RS102", "expect-used", RS, Correctness, Info)
    },
    Rule {
        summary: "`todo!()` left in the code.",
        explanation: "todo! panics when reached; finish the code or return an error.",
        bad: "fn area() -> f64 {\n    todo!()\n}\n",
        good: "fn area() -> f64 {\n    0.0\n}\n",
        enter: &["macro_invocation"],
        on_enter: Some(macro_rule),
        ..Rule::new("RS103", "todo-macro", RS, Correctness, Warning)
    },
    Rule {
        summary: "`unimplemented!()` left in the code.",
        explanation: "unimplemented! panics when reached; implement it or return an error.",
        bad: "fn area() -> f64 {\n    unimplemented!()\n}\n",
        good: "fn area() -> f64 {\n    1.0\n}\n",
        enter: &["macro_invocation"],
        on_enter: Some(macro_rule),
        ..Rule::new("RS104", "unimplemented-macro", RS, Correctness, Warning)
    },
    Rule {
        summary: "`unsafe` block without a `// SAFETY:` comment.",
        explanation: "Every unsafe block needs a comment, just above it, explaining why the invariants hold.",
        bad: "fn f(p: *const u8) -> u8 {\n    unsafe { *p }\n}\n",
        good: "fn f(p: *const u8) -> u8 {\n    // SAFETY: the caller guarantees p is valid.\n    unsafe { *p }\n}\n",
        enter: &["unsafe_block"],
        on_enter: Some(unsafe_without_safety),
        ..Rule::new(
            "RS105",
            "unsafe-without-safety-comment",
            RS,
            Security,
            Warning,
        )
    },
    Rule {
        summary: "`panic!` in library code.",
        explanation: "Libraries should return errors and let the caller decide. Tests and binaries (main.rs, build.rs) are exempt.",
        bad: "fn check(x: i32) {\n    if x < 0 {\n        panic!(\"negative\");\n    }\n}\n",
        good: "fn check(x: i32) -> Result<(), String> {\n    if x < 0 {\n        return Err(\"negative\".into());\n    }\n    Ok(())\n}\n",
        enter: &["macro_invocation"],
        on_enter: Some(macro_rule),
        ..Rule::new("RS106", "panic-in-library", RS, Correctness, Warning)
    },
    Rule {
        summary: "`dbg!` left in the code.",
        explanation: "dbg! prints to stderr and is meant for a debugging session; remove it.",
        bad: "fn f(x: i32) -> i32 {\n    dbg!(x) + 1\n}\n",
        good: "fn f(x: i32) -> i32 {\n    x + 1\n}\n",
        enter: &["macro_invocation"],
        on_enter: Some(macro_rule),
        ..Rule::new("RS107", "dbg-macro", RS, Style, Warning)
    },
    Rule {
        summary: "`println!` / `eprintln!` in library code.",
        explanation: "Libraries should log with tracing or return text; binaries and tests are exempt.",
        bad: "fn save() {\n    println!(\"saved\");\n}\n",
        good: "fn save() {\n    tracing::info!(\"saved\");\n}\n",
        enter: &["macro_invocation"],
        on_enter: Some(macro_rule),
        ..Rule::new("RS108", "print-in-library", RS, Style, Info)
    },
    Rule {
        summary: "TODO/FIXME marker.",
        explanation: "Listed so markers are not forgotten.",
        bad: "// TODO: handle errors\nfn f() {}\n",
        good: "// Errors are handled by the caller.\nfn f() {}\n",
        enter: &["line_comment", "block_comment"],
        on_enter: Some(super::todo_marker),
        ..Rule::new("RS109", "todo-comment", RS, Style, Hint)
    },
    Rule {
        summary: "`mem::forget` leaks a value.",
        explanation: "forget skips the destructor; locks stay held and resources leak. Use ManuallyDrop when that is really intended.",
        bad: "fn f(v: Vec<u8>) {\n    std::mem::forget(v);\n}\n",
        good: "fn f(v: Vec<u8>) {\n    drop(v);\n}\n",
        enter: &["call_expression"],
        on_enter: Some(path_call),
        ..Rule::new("RS110", "mem-forget", RS, Correctness, Warning)
    },
    Rule {
        summary: "`transmute` reinterprets bits unchecked.",
        explanation: "Most transmutes have a safe equivalent (from_bits, to_ne_bytes, casts, pointer casts).",
        bad: "fn f(x: u32) -> f32 {\n    unsafe { std::mem::transmute(x) }\n}\n",
        good: "fn f(x: u32) -> f32 {\n    f32::from_bits(x)\n}\n",
        enter: &["call_expression"],
        on_enter: Some(path_call),
        ..Rule::new("RS111", "transmute", RS, Security, Warning)
    },
    Rule {
        summary: "`process::exit` in library code.",
        explanation: "exit skips destructors (buffers are not flushed, temp files not removed). Return an error to main.",
        bad: "fn fail() {\n    std::process::exit(1);\n}\n",
        good: "fn fail() -> Result<(), String> {\n    Err(\"failed\".into())\n}\n",
        enter: &["call_expression"],
        on_enter: Some(path_call),
        ..Rule::new("RS112", "process-exit-in-library", RS, Correctness, Warning)
    },
    Rule {
        summary: "Empty `loop {}` spins forever.",
        explanation: "A busy loop burns a core; block on something, sleep, or use std::thread::park.",
        bad: "fn wait() {\n    loop {}\n}\n",
        good: "fn wait() {\n    loop {\n        std::thread::park();\n    }\n}\n",
        enter: &["loop_expression"],
        on_enter: Some(empty_loop),
        ..Rule::new("RS113", "empty-loop", RS, Performance, Warning)
    },
    Rule {
        summary: "`.clone()` of a value that is already owned.",
        explanation: "`to_string()`, `to_owned()`, `to_vec()` and `clone()` already return a new owned value; cloning it again copies twice.",
        bad: "fn f(s: &str) -> String {\n    s.to_string().clone()\n}\n",
        good: "fn f(s: &str) -> String {\n    s.to_string()\n}\n",
        fix: FixAvailability::Safe,
        enter: &["call_expression"],
        on_enter: Some(redundant_clone),
        ..Rule::new("RS114", "redundant-clone", RS, Performance, Warning)
    },
];
