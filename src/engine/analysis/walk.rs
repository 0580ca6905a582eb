//! The one walk: a tree cursor visits every node of a unit once, calling the enter hooks
//! registered for its kind on the way down and the leave hooks on the way up. No recursion, so
//! 10,000-deep nesting cannot overflow the stack.

use tree_sitter::Node;

use super::context::Ctx;
use super::registry::Dispatch;
use super::rule::Rule;

/// Walks `unit`; the children of `skip` (a class body split into units of its own) are not
/// visited, though `skip` itself is.
pub(crate) fn walk(
    unit: Node<'_>,
    skip: Option<usize>,
    d: &Dispatch,
    rules: &[Rule],
    ctx: &mut Ctx<'_>,
) {
    let mut cursor = unit.walk();
    loop {
        let node = cursor.node();
        enter(node, d, rules, ctx);
        if Some(node.id()) != skip && cursor.goto_first_child() {
            continue;
        }
        loop {
            leave(cursor.node(), d, rules, ctx);
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}

fn enter(node: Node<'_>, d: &Dispatch, rules: &[Rule], ctx: &mut Ctx<'_>) {
    if node.is_error() {
        if ctx.shared.error_depth == 0
            && let Some(rule) = d.syntax
        {
            ctx.rule = rule;
            syntax_error(node, ctx);
        }
        ctx.shared.error_depth += 1;
        return;
    }
    if node.is_missing() {
        if let Some(rule) = d.syntax {
            ctx.rule = rule;
            let kind = node.kind();
            ctx.report_span(
                node.start_byte(),
                node.end_byte(),
                format!("syntax error: missing '{kind}'"),
                None,
            );
        }
        return;
    }
    if let Some(hooks) = d.enter.get(node.kind_id() as usize) {
        for &i in hooks {
            if let Some(hook) = rules[i as usize].on_enter {
                ctx.rule = i;
                hook(ctx, node);
            }
        }
    }
}

fn leave(node: Node<'_>, d: &Dispatch, rules: &[Rule], ctx: &mut Ctx<'_>) {
    if node.is_error() {
        ctx.shared.error_depth = ctx.shared.error_depth.saturating_sub(1);
        return;
    }
    if let Some(hooks) = d.leave.get(node.kind_id() as usize) {
        for &i in hooks {
            if let Some(hook) = rules[i as usize].on_leave {
                ctx.rule = i;
                hook(ctx, node);
            }
        }
    }
}

/// An ERROR node: report its first token, up to the end of its first line.
fn syntax_error(node: Node<'_>, ctx: &mut Ctx<'_>) {
    let start = node.start_byte();
    let text = ctx.text.get(node.byte_range()).unwrap_or("");
    let first_line = text.split('\n').next().unwrap_or("");
    let token = node
        .child(0)
        .map(|c| ctx.text_of(c))
        .filter(|t| !t.is_empty())
        .unwrap_or(first_line)
        .trim();
    let token: String = token.chars().take(30).collect();
    let end = start + first_line.len().max(1).min(text.len().max(1));
    let message = if token.is_empty() {
        "syntax error".to_owned()
    } else {
        format!("syntax error: unexpected '{token}'")
    };
    ctx.report_span(start, end.min(ctx.text.len()).max(start), message, None);
}
