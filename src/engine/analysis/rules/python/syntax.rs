//! Small Python syntax helpers shared by the rule hooks.

use tree_sitter::Node;

use crate::engine::analysis::context::Ctx;

/// The callee text of a call (`os.system`, `eval`), or "".
pub(crate) fn callee<'a>(ctx: &Ctx<'a>, call: Node<'_>) -> &'a str {
    call.child_by_field_name("function")
        .map_or("", |f| ctx.text_of(f))
}

/// The keyword argument `name=` of a call, as its value node.
pub(crate) fn kwarg<'t>(ctx: &Ctx<'_>, call: Node<'t>, name: &str) -> Option<Node<'t>> {
    let args = call.child_by_field_name("arguments")?;
    let mut c = args.walk();
    args.named_children(&mut c).find_map(|a| {
        (a.kind() == "keyword_argument"
            && a.child_by_field_name("name")
                .is_some_and(|n| ctx.text_of(n) == name))
        .then(|| a.child_by_field_name("value"))
        .flatten()
    })
}

/// Whether the call passes `**kwargs` (so a keyword may be hidden in it).
pub(crate) fn has_kwargs_splat(call: Node<'_>) -> bool {
    call.child_by_field_name("arguments").is_some_and(|args| {
        let mut c = args.walk();
        args.named_children(&mut c)
            .any(|a| a.kind() == "dictionary_splat")
    })
}

/// The first positional argument of a call.
pub(crate) fn first_arg(call: Node<'_>) -> Option<Node<'_>> {
    let args = call.child_by_field_name("arguments")?;
    let mut c = args.walk();
    args.named_children(&mut c)
        .find(|a| a.kind() != "comment" && a.kind() != "keyword_argument")
}

/// A plain string literal (no interpolation), as its content.
pub(crate) fn string_value<'a>(ctx: &Ctx<'a>, node: Node<'_>) -> Option<&'a str> {
    if node.kind() != "string" {
        return None;
    }
    let mut c = node.walk();
    let mut content = None;
    for ch in node.children(&mut c) {
        match ch.kind() {
            "interpolation" => return None,
            "string_content" => {
                if content.is_some() {
                    return None;
                }
                content = Some(ctx.text_of(ch));
            }
            "string_start" if ctx.text_of(ch).to_ascii_lowercase().contains('b') => return None,
            _ => {}
        }
    }
    Some(content.unwrap_or(""))
}

pub(crate) fn is_mutable_literal(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    match node.kind() {
        "list"
        | "dictionary"
        | "set"
        | "list_comprehension"
        | "dictionary_comprehension"
        | "set_comprehension" => true,
        "call" => matches!(
            callee(ctx, node),
            "list"
                | "dict"
                | "set"
                | "bytearray"
                | "collections.defaultdict"
                | "defaultdict"
                | "collections.OrderedDict"
                | "OrderedDict"
                | "collections.deque"
                | "deque"
        ),
        _ => false,
    }
}

/// Whether a statement sits directly in a class body.
pub(crate) fn in_class_body(stmt: Node<'_>) -> bool {
    stmt.parent()
        .filter(|b| b.kind() == "block")
        .and_then(|b| b.parent())
        .is_some_and(|c| c.kind() == "class_definition")
}

/// The span to delete a whole statement: its line(s) when nothing else is on them.
pub(crate) fn statement_deletion(text: &str, stmt: Node<'_>) -> (usize, usize, &'static str) {
    let (mut start, mut end) = (stmt.start_byte(), stmt.end_byte());
    // The only statement of a block must become `pass`.
    let alone = stmt.parent().is_some_and(|p| {
        p.kind() == "block" && {
            let mut c = p.walk();
            p.named_children(&mut c)
                .filter(|n| n.kind() != "comment")
                .count()
                == 1
        }
    });
    if alone {
        return (start, end, "pass");
    }
    let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
    if text[line_start..start].trim().is_empty() {
        let rest = &text[end..];
        let eol = rest.find('\n');
        if let Some(eol) = eol
            && rest[..eol].trim().is_empty()
        {
            start = line_start;
            end += eol + 1;
        } else if eol.is_none() && rest.trim().is_empty() {
            start = line_start;
            end = text.len();
        }
    }
    (start, end, "")
}
