//! Analysing one file: parse, walk each unit (a child of the root), finish file-level rules,
//! then resolve severities, suppressions and LSP ranges.

use std::collections::HashMap;

use tree_sitter::{Node, Parser, Tree};

use super::Error;
use super::context::{Ctx, FinishCtx, RawFinding, UnitFacts};
use super::file_kind::FileKind;
use super::finding::Finding;
use super::language::Language;
use super::lines::LineIndex;
use super::registry::{RuleSet, table};
use super::suppress::Suppressions;
use super::walk::walk;

/// The result of analysing one unit.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitResult {
    pub findings: Vec<RawFinding>,
    pub facts: UnitFacts,
}

impl UnitResult {
    pub(crate) fn shift(&mut self, delta: isize) {
        for f in &mut self.findings {
            f.shift(delta);
        }
        self.facts.shift(delta);
    }
}

pub(crate) fn new_parser(lang: Language) -> Result<Parser, Error> {
    let mut parser = Parser::new();
    parser
        .set_language(&lang.grammar())
        .map_err(|_| Error::Parse(lang))?;
    Ok(parser)
}

/// A unit of analysis: a child of the root walked whole, or the shell of a module-level
/// container (a Python class, a Rust impl/trait/mod, a JS/TS class: everything but the members
/// of its body, which are units of their own, so an edit in one method of a big class
/// re-analyses that method rather than the class).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitNode<'t> {
    pub node: Node<'t>,
    /// The class body whose children are not walked.
    pub skip: Option<Node<'t>>,
}

/// The body whose children become units of their own: a Python class, a Rust `impl`, `trait`
/// or inline `mod`, a JavaScript/TypeScript class (also when exported). `None` for anything
/// else, and for a container with a syntax error (its extent is not trustworthy).
fn split_body(node: Node<'_>, lang: Language) -> Option<Node<'_>> {
    let container = match (lang, node.kind()) {
        (Language::Python, "class_definition")
        | (Language::Rust, "impl_item" | "trait_item" | "mod_item")
        | (
            Language::JavaScript | Language::TypeScript | Language::Tsx,
            "class_declaration" | "abstract_class_declaration",
        ) => Some(node),
        (Language::Python, "decorated_definition") => node
            .child_by_field_name("definition")
            .filter(|d| d.kind() == "class_definition"),
        (Language::JavaScript | Language::TypeScript | Language::Tsx, "export_statement") => node
            .child_by_field_name("declaration")
            .filter(|d| matches!(d.kind(), "class_declaration" | "abstract_class_declaration")),
        _ => None,
    }?;
    if container.has_error() {
        return None;
    }
    container.child_by_field_name("body")
}

/// The units of a tree, in text order.
pub(crate) fn units_of(root: Node<'_>, lang: Language) -> Vec<UnitNode<'_>> {
    let mut out = Vec::with_capacity(root.child_count() as usize);
    let mut cursor = root.walk();
    if !cursor.goto_first_child() {
        if root.is_error() || root.is_missing() {
            out.push(UnitNode {
                node: root,
                skip: None,
            });
        }
        return out;
    }
    loop {
        let node = cursor.node();
        let body = split_body(node, lang);
        out.push(UnitNode { node, skip: body });
        if let Some(body) = body {
            let mut bc = body.walk();
            if bc.goto_first_child() {
                loop {
                    out.push(UnitNode {
                        node: bc.node(),
                        skip: None,
                    });
                    if !bc.goto_next_sibling() {
                        break;
                    }
                }
            }
        }
        if !cursor.goto_next_sibling() {
            break;
        }
    }
    out
}

pub(crate) fn analyze_unit(
    unit: UnitNode<'_>,
    text: &str,
    lang: Language,
    file: FileKind,
    rules: &RuleSet,
) -> UnitResult {
    let mut ctx = Ctx::new(text, file, &rules.params);
    walk(
        unit.node,
        unit.skip.map(|s| s.id()),
        rules.dispatch(lang),
        table(),
        &mut ctx,
    );
    UnitResult {
        findings: ctx.out,
        facts: ctx.facts,
    }
}

/// The file-level rules over the facts of every unit.
pub(crate) fn finish<'a>(
    units: impl Iterator<Item = &'a UnitResult> + Clone,
    used: &HashMap<u64, i32>,
    lang: Language,
    rules: &RuleSet,
) -> Vec<RawFinding> {
    let mut out = Vec::new();
    let d = rules.dispatch(lang);
    if d.finish.is_empty() {
        return out;
    }
    let imports = units
        .flat_map(|u| u.facts.imports.iter())
        .collect::<Vec<_>>();
    for &rule in &d.finish {
        if let Some(f) = table()[rule as usize].finish {
            let cx = FinishCtx {
                rule,
                imports: imports.clone(),
                used,
            };
            f(&cx, &mut out);
        }
    }
    out
}

/// Turns raw findings into sorted, suppression-filtered findings with LSP ranges.
pub(crate) fn resolve<'a>(
    raw: impl Iterator<Item = &'a RawFinding>,
    text: &str,
    lines: &LineIndex,
    lang: Language,
    rules: &RuleSet,
    supp: &Suppressions,
) -> Vec<Finding> {
    let all = table();
    let mut out: Vec<Finding> = raw
        .filter_map(|r| {
            let id = all[r.rule as usize].id;
            if supp.file_ignores(id) {
                return None;
            }
            let start = lines.position(text, r.start);
            if Suppressions::line_ignores(text, lines, start.line as usize, id, lang) {
                return None;
            }
            let end = lines.position(text, r.end);
            let fix = r.fix.clone().map(|mut f| {
                for e in &mut f.edits {
                    e.range.start = lines.position(text, e.start);
                    e.range.end = lines.position(text, e.end);
                }
                f
            });
            Some(Finding {
                rule: id.to_owned(),
                severity: rules.severity(r.rule),
                message: r.message.clone(),
                start: r.start,
                end: r.end,
                range: super::finding::Range { start, end },
                fix,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.start, a.end, &a.rule).cmp(&(b.start, b.end, &b.rule)));
    out.dedup_by(|a, b| a.start == b.start && a.end == b.end && a.rule == b.rule);
    out
}

/// Parses and analyses a whole text.
pub(crate) fn analyze_tree(
    tree: &Tree,
    text: &str,
    lang: Language,
    file: FileKind,
    rules: &RuleSet,
) -> Vec<Finding> {
    let units: Vec<UnitResult> = units_of(tree.root_node(), lang)
        .into_iter()
        .map(|u| analyze_unit(u, text, lang, file, rules))
        .collect();
    let mut used: HashMap<u64, i32> = HashMap::new();
    for u in &units {
        for &h in &u.facts.used {
            *used.entry(h).or_default() += 1;
        }
    }
    let fin = finish(units.iter(), &used, lang, rules);
    let lines = LineIndex::new(text);
    let supp = Suppressions::scan(text, lang);
    resolve(
        units
            .iter()
            .flat_map(|u| u.findings.iter())
            .chain(fin.iter()),
        text,
        &lines,
        lang,
        rules,
        &supp,
    )
}

/// Analyses `text` as `lang`, the way `kiln check` analyses a file.
pub fn analyze_source(
    text: &str,
    lang: Language,
    file: FileKind,
    rules: &RuleSet,
) -> Result<Vec<Finding>, Error> {
    let mut parser = new_parser(lang)?;
    analyze_with(&mut parser, text, lang, file, rules)
}

pub(crate) fn analyze_with(
    parser: &mut Parser,
    text: &str,
    lang: Language,
    file: FileKind,
    rules: &RuleSet,
) -> Result<Vec<Finding>, Error> {
    let tree = parser.parse(text, None).ok_or(Error::Parse(lang))?;
    Ok(analyze_tree(&tree, text, lang, file, rules))
}
