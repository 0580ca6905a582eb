//! Python correctness and style hooks that look at one node and its children.

use std::collections::HashSet;

use tree_sitter::Node;

use super::syntax::{callee, in_class_body, is_mutable_literal, string_value};
use crate::engine::analysis::context::{Ctx, fix};

/// PY101.
pub(crate) fn bare_except(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if node.child_by_field_name("value").is_some() {
        return;
    }
    let Some(kw) = node.child(0).filter(|k| k.kind() == "except") else {
        return;
    };
    ctx.report_fix(
        kw,
        "bare 'except:' also catches KeyboardInterrupt and SystemExit",
        fix(
            false,
            "catch 'Exception'",
            kw.start_byte(),
            kw.end_byte(),
            "except Exception",
        ),
    );
}

/// PY102: `except Exception: pass` and friends.
pub(crate) fn swallowed_exception(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let broad = match node.child_by_field_name("value") {
        None => true,
        Some(v) => {
            let t = ctx.text_of(v);
            t == "Exception" || t == "BaseException"
        }
    };
    if !broad || node.child_by_field_name("alias").is_some() {
        return;
    }
    let mut c = node.walk();
    let Some(block) = node.named_children(&mut c).find(|n| n.kind() == "block") else {
        return;
    };
    let mut bc = block.walk();
    let stmts: Vec<Node<'_>> = block
        .named_children(&mut bc)
        .filter(|n| n.kind() != "comment")
        .collect();
    let swallows = !stmts.is_empty()
        && stmts.iter().all(|s| {
            matches!(s.kind(), "pass_statement" | "continue_statement")
                || (s.kind() == "expression_statement" && ctx.text_of(*s) == "...")
        });
    if swallows {
        let head = node.child(0).unwrap_or(node);
        let end = node
            .child_by_field_name("value")
            .map_or(head.end_byte(), |v| v.end_byte());
        ctx.report_span(
            head.start_byte(),
            end,
            "exception silently swallowed; handle or log it",
            None,
        );
    }
}

/// PY103.
pub(crate) fn mutable_default(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if let Some(value) = node.child_by_field_name("value")
        && is_mutable_literal(ctx, value)
    {
        ctx.report(
            value,
            "mutable default argument is shared between calls; use None and create it inside",
        );
    }
}

/// PY104.
pub(crate) fn duplicate_keys(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut c = node.walk();
    for pair in node.named_children(&mut c) {
        if pair.kind() != "pair" {
            continue;
        }
        let Some(key) = pair.child_by_field_name("key") else {
            continue;
        };
        let literal = match key.kind() {
            "integer" | "float" | "true" | "false" | "none" => true,
            "string" => string_value(ctx, key).is_some(),
            _ => false,
        };
        if !literal {
            continue;
        }
        let text = ctx.text_of(key);
        if !seen.insert(text) {
            ctx.report(
                key,
                format!("dictionary key {text} repeated; the earlier value is lost"),
            );
        }
    }
}

/// PY105.
pub(crate) fn unreachable(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let mut c = node.walk();
    let mut after_jump = false;
    for stmt in node.named_children(&mut c) {
        if stmt.kind() == "comment" {
            continue;
        }
        if after_jump {
            ctx.report(stmt, "unreachable code");
            return;
        }
        after_jump = matches!(
            stmt.kind(),
            "return_statement" | "raise_statement" | "continue_statement" | "break_statement"
        );
    }
}

const BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "locals",
    "map",
    "max",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// PY106: a builtin shadowed by an assignment, a parameter or a function.
pub(crate) fn redefined_builtin(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let target = match node.kind() {
        "assignment" => node
            .child_by_field_name("left")
            .filter(|l| l.kind() == "identifier"),
        "function_definition" => node.child_by_field_name("name"),
        "parameters" | "lambda_parameters" => {
            let mut c = node.walk();
            for p in node.named_children(&mut c) {
                let name = match p.kind() {
                    "identifier" => Some(p),
                    // `getattr=getattr` binds the builtin itself for speed: nothing is hidden.
                    "default_parameter" | "typed_default_parameter" => {
                        p.child_by_field_name("name").filter(|n| {
                            p.child_by_field_name("value")
                                .is_none_or(|v| ctx.text_of(v) != ctx.text_of(*n))
                        })
                    }
                    "typed_parameter" => p.named_child(0).filter(|n| n.kind() == "identifier"),
                    _ => None,
                };
                if let Some(n) = name
                    && BUILTINS.binary_search(&ctx.text_of(n)).is_ok()
                {
                    let t = ctx.text_of(n);
                    ctx.report(n, format!("parameter '{t}' shadows a builtin"));
                }
            }
            return;
        }
        _ => None,
    };
    let Some(target) = target else { return };
    let name = ctx.text_of(target);
    if BUILTINS.binary_search(&name).is_err() {
        return;
    }
    // Methods and class attributes do not shadow anything.
    let owner = if node.kind() == "assignment" {
        node.parent().unwrap_or(node)
    } else {
        node
    };
    let owner = if owner
        .parent()
        .is_some_and(|p| p.kind() == "decorated_definition")
    {
        owner.parent().unwrap_or(owner)
    } else {
        owner
    };
    if in_class_body(owner) {
        return;
    }
    ctx.report(target, format!("'{name}' shadows a builtin"));
}

/// The two operands and the operator of a simple comparison `a OP b`.
fn simple_comparison(node: Node<'_>) -> Option<(Node<'_>, Node<'_>, Node<'_>)> {
    if node.named_child_count() != 2 {
        return None;
    }
    let left = node.named_child(0)?;
    let right = node.named_child(1)?;
    let op = node.child_by_field_name("operators")?;
    Some((left, op, right))
}

/// PY107 and PY108: `== None`, `== True`.
pub(crate) fn singleton_comparison(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some((left, op, right)) = simple_comparison(node) else {
        return;
    };
    let op_text = ctx.text_of(op);
    if op_text != "==" && op_text != "!=" {
        return;
    }
    let (other, lit) = if matches!(right.kind(), "none" | "true" | "false") {
        (left, right)
    } else if matches!(left.kind(), "none" | "true" | "false") {
        (right, left)
    } else {
        return;
    };
    let none_rule = super::RULE_NONE_CMP;
    let is_none = lit.kind() == "none";
    let rule_name = crate::engine::analysis::registry::table()[ctx.rule as usize].name;
    if (rule_name == none_rule) != is_none {
        return;
    }
    if is_none {
        let new_op = if op_text == "==" { "is" } else { "is not" };
        ctx.report_fix(
            node,
            format!("comparison to None should be '{new_op} None'"),
            fix(
                true,
                format!("use '{new_op}'"),
                op.start_byte(),
                op.end_byte(),
                new_op,
            ),
        );
    } else {
        let truthy = (lit.kind() == "true") == (op_text == "==");
        let operand = ctx.text_of(other);
        let replacement = if truthy {
            operand.to_owned()
        } else {
            format!("not {operand}")
        };
        let fix = node
            .parent()
            .filter(|p| matches!(p.kind(), "if_statement" | "elif_clause" | "while_statement"))
            .map(|_| {
                fix(
                    false,
                    "use the truth value",
                    node.start_byte(),
                    node.end_byte(),
                    replacement.clone(),
                )
            });
        let msg = format!(
            "comparison to {} should be '{replacement}'",
            ctx.text_of(lit)
        );
        match fix {
            Some(f) => ctx.report_fix(node, msg, f),
            None => ctx.report(node, msg),
        }
    }
}

/// PY111.
pub(crate) fn star_import(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if ctx.file.is_init {
        return;
    }
    let mut c = node.walk();
    if let Some(star) = node
        .children(&mut c)
        .find(|n| n.kind() == "wildcard_import")
    {
        let module = node
            .child_by_field_name("module_name")
            .map_or("", |m| ctx.text_of(m));
        ctx.report(
            star,
            format!("'from {module} import *' hides where names come from"),
        );
    }
}

/// PY112.
pub(crate) fn fstring_without_placeholders(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(start) = node.child(0).filter(|s| s.kind() == "string_start") else {
        return;
    };
    let prefix = ctx.text_of(start);
    if !prefix.contains(['f', 'F']) {
        return;
    }
    let mut c = node.walk();
    if node.children(&mut c).any(|ch| ch.kind() == "interpolation") {
        return;
    }
    let body = &ctx.text[start.end_byte()..node.end_byte()];
    let body = if prefix.contains(['r', 'R']) {
        body.to_owned()
    } else {
        body.replace("{{", "{").replace("}}", "}")
    };
    let new_prefix: String = prefix.chars().filter(|c| !matches!(c, 'f' | 'F')).collect();
    ctx.report_fix(
        node,
        "f-string without placeholders",
        fix(
            true,
            "remove the 'f' prefix",
            node.start_byte(),
            node.end_byte(),
            format!("{new_prefix}{body}"),
        ),
    );
}

/// PY113.
pub(crate) fn assert_outside_tests(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if !ctx.file.is_test {
        let kw = node.child(0).unwrap_or(node);
        ctx.report(
            kw,
            "assert is removed under 'python -O'; raise an exception instead",
        );
    }
}

/// PY114.
pub(crate) fn open_without_with(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if !matches!(callee(ctx, node), "open" | "io.open" | "codecs.open") {
        return;
    }
    let mut parent = node.parent();
    if parent.is_some_and(|p| p.kind() == "as_pattern") {
        parent = parent.and_then(|p| p.parent());
    }
    let managed = parent.is_some_and(|p| {
        matches!(
            p.kind(),
            "with_item"
                | "return_statement"
                | "argument_list"
                | "yield"
                | "keyword_argument"
                | "pair"
                | "list"
                | "tuple"
                | "parenthesized_expression"
        )
    });
    if !managed {
        ctx.report(node, "file opened outside a 'with' block may be left open");
    }
}

/// PY115.
pub(crate) fn mutable_class_attribute(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(body) = node.child_by_field_name("body") else {
        return;
    };
    let mut c = body.walk();
    for stmt in body.named_children(&mut c) {
        if stmt.kind() != "expression_statement" {
            continue;
        }
        let Some(asg) = stmt.named_child(0).filter(|a| a.kind() == "assignment") else {
            continue;
        };
        let Some(left) = asg
            .child_by_field_name("left")
            .filter(|l| l.kind() == "identifier")
        else {
            continue;
        };
        let name = ctx.text_of(left);
        if name.starts_with("__")
            || asg
                .child_by_field_name("type")
                .is_some_and(|t| ctx.text_of(t).contains("ClassVar"))
        {
            continue;
        }
        if let Some(right) = asg.child_by_field_name("right")
            && matches!(right.kind(), "list" | "dictionary" | "set")
        {
            ctx.report(
                right,
                format!("mutable class attribute '{name}' is shared by every instance"),
            );
        }
    }
}

/// PY116: `x is "literal"`.
pub(crate) fn is_literal(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some((left, op, right)) = simple_comparison(node) else {
        return;
    };
    let op_text = ctx.text_of(op);
    if op_text != "is" && op_text != "is not" {
        return;
    }
    let literal = |n: Node<'_>| {
        matches!(
            n.kind(),
            "string" | "integer" | "float" | "concatenated_string"
        )
    };
    if literal(left) || literal(right) {
        let new_op = if op_text == "is" { "==" } else { "!=" };
        ctx.report_fix(
            node,
            format!("'{op_text}' compares identity, not value; use '{new_op}'"),
            fix(
                true,
                format!("use '{new_op}'"),
                op.start_byte(),
                op.end_byte(),
                new_op,
            ),
        );
    }
}

/// PY117: `type(x) == T`.
pub(crate) fn type_comparison(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some((left, op, right)) = simple_comparison(node) else {
        return;
    };
    if !matches!(ctx.text_of(op), "==" | "!=") {
        return;
    }
    let is_type_call = |n: Node<'_>| n.kind() == "call" && callee(ctx, n) == "type";
    if is_type_call(left) || is_type_call(right) {
        ctx.report(node, "use isinstance() rather than comparing types");
    }
}

/// PY118: `x = x` in a function.
pub(crate) fn self_assignment(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if ctx.shared.scopes.last().is_none_or(|s| s.is_class) {
        return;
    }
    let (Some(l), Some(r)) = (
        node.child_by_field_name("left"),
        node.child_by_field_name("right"),
    ) else {
        return;
    };
    if matches!(l.kind(), "identifier" | "attribute")
        && l.kind() == r.kind()
        && ctx.text_of(l) == ctx.text_of(r)
    {
        ctx.report(node, format!("'{}' is assigned to itself", ctx.text_of(l)));
    }
}

/// PY119: `f = lambda ...`.
pub(crate) fn lambda_assignment(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if let (Some(l), Some(r)) = (
        node.child_by_field_name("left"),
        node.child_by_field_name("right"),
    ) && l.kind() == "identifier"
        && r.kind() == "lambda"
        && node.child_by_field_name("type").is_none()
    {
        let name = ctx.text_of(l);
        ctx.report(
            node,
            format!("'{name}' is a lambda assigned to a name; use 'def {name}(...)'"),
        );
    }
}

/// PY120: `not x in y` and `not x is y`.
pub(crate) fn negated_membership(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(arg) = node.child_by_field_name("argument") else {
        return;
    };
    let Some((left, op, right)) = (if arg.kind() == "comparison_operator" {
        simple_comparison(arg)
    } else {
        None
    }) else {
        return;
    };
    let new_op = match ctx.text_of(op) {
        "in" => "not in",
        "is" => "is not",
        _ => return,
    };
    let replacement = format!("{} {new_op} {}", ctx.text_of(left), ctx.text_of(right));
    ctx.report_fix(
        node,
        format!("use '{new_op}'"),
        fix(
            true,
            format!("use '{new_op}'"),
            node.start_byte(),
            node.end_byte(),
            replacement,
        ),
    );
}

/// PY121: `raise NotImplemented`.
pub(crate) fn raise_not_implemented(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(value) = node.named_child(0) else {
        return;
    };
    let target = if value.kind() == "call" {
        value.child_by_field_name("function")
    } else {
        Some(value)
    };
    if let Some(t) = target
        && ctx.text_of(t) == "NotImplemented"
    {
        ctx.report_fix(
            t,
            "'NotImplemented' is not an exception; raise 'NotImplementedError'",
            fix(
                true,
                "raise NotImplementedError",
                t.start_byte(),
                t.end_byte(),
                "NotImplementedError",
            ),
        );
    }
}

/// PY402.
pub(crate) fn print_in_library(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if !ctx.params.print_in_library
        || ctx.file.is_test
        || ctx.file.is_script
        || callee(ctx, node) != "print"
        || super::syntax::kwarg(ctx, node, "file").is_some()
    {
        return; // print(..., file=f) writes to a stream the caller chose
    }
    // Demo and entry-point code prints on purpose.
    let mut n = node.parent();
    while let Some(p) = n {
        match p.kind() {
            "if_statement"
                if p.child_by_field_name("condition")
                    .is_some_and(|c| ctx.text_of(c).contains("__name__")) =>
            {
                return;
            }
            "function_definition" => {
                let name = p.child_by_field_name("name").map_or("", |n| ctx.text_of(n));
                if matches!(name, "main" | "_main" | "_test" | "test" | "demo" | "_demo")
                    || name.starts_with("test")
                {
                    return;
                }
            }
            _ => {}
        }
        n = p.parent();
    }
    ctx.report(node, "print() left in library code; use logging");
}

/// PY401.
pub(crate) fn missing_docstring(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(name) = node.child_by_field_name("name") else {
        return;
    };
    let n = ctx.text_of(name);
    if n.starts_with('_') || ctx.file.is_test {
        return;
    }
    let outer = if node
        .parent()
        .is_some_and(|p| p.kind() == "decorated_definition")
    {
        node.parent().unwrap_or(node)
    } else {
        node
    };
    if outer.parent().is_none_or(|p| p.kind() != "module") {
        return;
    }
    if outer.kind() == "decorated_definition" && ctx.text_of(outer).contains("@overload") {
        return;
    }
    let Some(body) = node.child_by_field_name("body") else {
        return;
    };
    let first = {
        let mut c = body.walk();
        body.named_children(&mut c).find(|s| s.kind() != "comment")
    };
    let has_doc = first.is_some_and(|s| {
        s.kind() == "expression_statement"
            && s.named_child(0)
                .is_some_and(|e| matches!(e.kind(), "string" | "concatenated_string"))
    });
    if !has_doc {
        let what = if node.kind() == "class_definition" {
            "class"
        } else {
            "function"
        };
        ctx.report(name, format!("public {what} '{n}' has no docstring"));
    }
}

/// PY501: `in d.keys()`.
pub(crate) fn dict_keys(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let target = match node.kind() {
        "for_statement" | "for_in_clause" => node.child_by_field_name("right"),
        "comparison_operator" => simple_comparison(node)
            .filter(|(_, op, _)| matches!(ctx.text_of(*op), "in" | "not in"))
            .map(|(_, _, r)| r),
        _ => None,
    };
    let Some(call) = target.filter(|t| t.kind() == "call") else {
        return;
    };
    let Some(func) = call
        .child_by_field_name("function")
        .filter(|f| f.kind() == "attribute")
    else {
        return;
    };
    let args_empty = call
        .child_by_field_name("arguments")
        .is_some_and(|a| a.named_child_count() == 0);
    if func
        .child_by_field_name("attribute")
        .is_some_and(|a| ctx.text_of(a) == "keys")
        && args_empty
    {
        let Some(obj) = func.child_by_field_name("object") else {
            return;
        };
        ctx.report_fix(
            call,
            "iterate the dict itself rather than '.keys()'",
            fix(
                true,
                "remove '.keys()'",
                obj.end_byte(),
                call.end_byte(),
                "",
            ),
        );
    }
}

/// PY502: `dict()`, `list()`, `tuple()` with no arguments.
pub(crate) fn empty_collection_call(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let literal = match callee(ctx, node) {
        "dict" => "{}",
        "list" => "[]",
        "tuple" => "()",
        _ => return,
    };
    if node
        .child_by_field_name("arguments")
        .is_some_and(|a| a.kind() == "argument_list" && a.named_child_count() == 0)
    {
        let name = callee(ctx, node);
        ctx.report_fix(
            node,
            format!("'{name}()' is slower than the literal '{literal}'"),
            fix(
                true,
                format!("use '{literal}'"),
                node.start_byte(),
                node.end_byte(),
                literal,
            ),
        );
    }
}
