//! Scope-aware Python rules: the internal state keeper (function scopes, imports, names read),
//! unused imports (file-level), unused locals, complexity and argument counts.

use tree_sitter::Node;

use super::syntax::statement_deletion;
use crate::engine::analysis::context::{
    Ctx, FinishCtx, FnScope, ImportFact, RawFinding, fix, name_hash,
};

/// Internal: keeps `Shared` up to date. Registered first, so its enter hooks run before the
/// rules' and its leave hooks after them.
pub(crate) fn state_enter(ctx: &mut Ctx<'_>, node: Node<'_>) {
    match node.kind() {
        "identifier" => {
            if ctx.shared.import_depth > 0 {
                return;
            }
            if ctx.shared.skip_ident == Some(node.id()) {
                ctx.shared.skip_ident = None;
                return;
            }
            let h = name_hash(ctx.text_of(node));
            ctx.facts.used.push(h);
            if let Some(scope) = ctx.shared.scopes.last_mut() {
                *scope.seen.entry(h).or_default() += 1;
            }
        }
        "function_definition" => ctx.shared.scopes.push(FnScope::default()),
        // Only class bodies inside functions need a scope; module-level ones have no locals.
        "class_definition" if !ctx.shared.scopes.is_empty() => ctx.shared.scopes.push(FnScope {
            is_class: true,
            ..FnScope::default()
        }),
        "call" => {
            // `__all__.extend([...])` / `__all__.append(...)` export names.
            if node
                .child_by_field_name("function")
                .is_some_and(|f| ctx.text_of(f).starts_with("__all__."))
                && let Some(args) = node.child_by_field_name("arguments")
            {
                string_names(ctx, args);
            }
        }
        "import_statement" | "import_from_statement" => ctx.shared.import_depth += 1,
        "try_statement" => ctx.shared.try_depth += 1,
        "if_statement"
        | "elif_clause"
        | "for_statement"
        | "while_statement"
        | "except_clause"
        | "boolean_operator"
        | "conditional_expression"
        | "for_in_clause"
        | "if_clause"
        | "case_clause" => {
            if let Some(scope) = ctx.shared.scopes.last_mut() {
                scope.complexity += 1;
            }
        }
        "type" => string_names(ctx, node),
        "assignment" | "augmented_assignment" => {
            if node
                .child_by_field_name("left")
                .is_some_and(|l| ctx.text_of(l) == "__all__")
                && let Some(r) = node.child_by_field_name("right")
            {
                string_names(ctx, r);
            }
        }
        _ => {}
    }
}

pub(crate) fn state_leave(ctx: &mut Ctx<'_>, node: Node<'_>) {
    match node.kind() {
        "function_definition" | "class_definition" => {
            let is_class = node.kind() == "class_definition";
            if ctx
                .shared
                .scopes
                .last()
                .is_none_or(|s| s.is_class != is_class)
            {
                return; // a module-level class pushed no scope
            }
            if let Some(done) = ctx.shared.scopes.pop()
                && let Some(parent) = ctx.shared.scopes.last_mut()
            {
                for (h, n) in done.seen {
                    *parent.seen.entry(h).or_default() += n;
                }
            }
        }
        "import_statement" | "import_from_statement" => {
            ctx.shared.import_depth = ctx.shared.import_depth.saturating_sub(1);
        }
        "try_statement" => ctx.shared.try_depth = ctx.shared.try_depth.saturating_sub(1),
        _ => {}
    }
}

/// Names inside string annotations and `__all__` entries count as reads.
fn string_names(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let text = ctx.text_of(node);
    if !text.contains(['"', '\'']) || text.len() > 4096 {
        return;
    }
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if !word.is_empty() {
            ctx.facts.used.push(name_hash(word));
        }
    }
}

/// PY109, per unit: record each imported name with a fix that removes it.
pub(crate) fn import_enter(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if ctx.file.is_init || ctx.shared.try_depth > 0 || !ctx.shared.scopes.is_empty() {
        return;
    }
    let from = node.kind() == "import_from_statement";
    if from
        && node
            .child_by_field_name("module_name")
            .is_some_and(|m| ctx.text_of(m) == "__future__")
    {
        return;
    }
    let mut c = node.walk();
    let names: Vec<Node<'_>> = node.children_by_field_name("name", &mut c).collect();
    for (i, &item) in names.iter().enumerate() {
        let (bound, shown) = if item.kind() == "aliased_import" {
            {
                let Some(alias) = item.child_by_field_name("alias") else {
                    continue;
                };
                let orig = item
                    .child_by_field_name("name")
                    .map_or("", |n| ctx.text_of(n));
                if orig == ctx.text_of(alias) {
                    continue; // `import x as x`: an explicit re-export
                }
                (ctx.text_of(alias), ctx.text_of(item))
            }
        } else {
            {
                let full = ctx.text_of(item);
                let first = if from {
                    full
                } else {
                    full.split('.').next().unwrap_or(full)
                };
                (first, full)
            }
        };
        let fix = if names.len() == 1 {
            let (s, e, with) = statement_deletion(ctx.text, node);
            fix(true, "remove the unused import", s, e, with)
        } else {
            // Remove `name, ` or, for the last name, `, name`.
            let (s, e) = if i + 1 < names.len() {
                (item.start_byte(), names[i + 1].start_byte())
            } else {
                (names[i - 1].end_byte(), item.end_byte())
            };
            fix(true, format!("remove '{shown}'"), s, e, "")
        };
        ctx.facts.imports.push(ImportFact {
            hash: name_hash(bound),
            name: shown.to_owned(),
            start: item.start_byte(),
            end: item.end_byte(),
            fix: Some(fix),
        });
    }
}

pub(crate) fn unused_imports(cx: &FinishCtx<'_>, out: &mut Vec<RawFinding>) {
    for imp in &cx.imports {
        if cx.used.get(&imp.hash).copied().unwrap_or(0) <= 0 {
            // Two imports binding the same name: both unused; the later one shadows.
            out.push(RawFinding {
                rule: cx.rule,
                start: imp.start,
                end: imp.end,
                message: format!("'{}' is imported but never used", imp.name),
                fix: imp.fix.clone(),
            });
        }
    }
}

/// PY110: `name = value` in a function.
pub(crate) fn assignment_enter(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if ctx.shared.scopes.last().is_none_or(|s| s.is_class)
        || node.child_by_field_name("type").is_some()
    {
        return;
    }
    let Some(left) = node.child_by_field_name("left") else {
        return;
    };
    if left.kind() != "identifier" {
        return;
    }
    let name = ctx.text_of(left);
    ctx.shared.skip_ident = Some(left.id());
    if name.starts_with('_') {
        return;
    }
    if let Some(scope) = ctx.shared.scopes.last_mut() {
        scope
            .assigned
            .push((name_hash(name), left.start_byte(), left.end_byte()));
    }
}

pub(crate) fn unused_locals(ctx: &mut Ctx<'_>, _node: Node<'_>) {
    let Some(scope) = ctx.shared.scopes.last() else {
        return;
    };
    if scope.seen.contains_key(&name_hash("locals")) || scope.seen.contains_key(&name_hash("vars"))
    {
        return;
    }
    let mut found = Vec::new();
    for &(h, s, e) in &scope.assigned {
        let reads = scope.seen.get(&h).copied().unwrap_or(0);
        if reads == 0 {
            found.push((s, e));
        }
    }
    for (s, e) in found {
        let name = ctx.text[s..e].to_owned();
        ctx.report_span(
            s,
            e,
            format!("local variable '{name}' is assigned but never used"),
            None,
        );
    }
}

/// PY301, on leaving a function: its cyclomatic complexity.
pub(crate) fn complexity_leave(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(scope) = ctx.shared.scopes.last() else {
        return;
    };
    let total = scope.complexity + 1;
    if total > ctx.params.complexity_threshold
        && let Some(name) = node.child_by_field_name("name")
    {
        let n = ctx.text_of(name);
        let limit = ctx.params.complexity_threshold;
        ctx.report(name, format!("'{n}' is too complex ({total} > {limit})"));
    }
    // The nested function's decisions are not the parent's.
}

/// PY302.
pub(crate) fn too_many_arguments(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(params) = node.child_by_field_name("parameters") else {
        return;
    };
    let mut c = params.walk();
    let count = params
        .named_children(&mut c)
        .filter(|p| {
            matches!(
                p.kind(),
                "identifier" | "typed_parameter" | "default_parameter" | "typed_default_parameter"
            ) && !matches!(ctx.text_of(*p), "self" | "cls")
                && !ctx.text_of(*p).starts_with('*')
        })
        .count() as u32;
    if count > ctx.params.max_arguments
        && let Some(name) = node.child_by_field_name("name")
    {
        let limit = ctx.params.max_arguments;
        ctx.report(name, format!("too many arguments ({count} > {limit})"));
    }
}
