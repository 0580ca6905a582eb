//! What a rule hook sees while the walker visits one unit: the text, the file's kind, rule
//! parameters, the findings so far, and state shared between hooks (scopes, imports).

use std::collections::HashMap;

use tree_sitter::Node;

use super::config::Params;
use super::file_kind::FileKind;
use super::finding::{Edit, Fix};

/// A finding before severity, suppressions and LSP ranges are applied.
#[derive(Debug, Clone)]
pub(crate) struct RawFinding {
    pub rule: u16,
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub fix: Option<Fix>,
}

impl RawFinding {
    pub(crate) fn shift(&mut self, delta: isize) {
        self.start = self.start.saturating_add_signed(delta);
        self.end = self.end.saturating_add_signed(delta);
        if let Some(fix) = &mut self.fix {
            for e in &mut fix.edits {
                e.start = e.start.saturating_add_signed(delta);
                e.end = e.end.saturating_add_signed(delta);
            }
        }
    }
}

/// An imported name, for the file-level unused-import check.
#[derive(Debug, Clone)]
pub(crate) struct ImportFact {
    pub hash: u64,
    pub name: String,
    pub start: usize,
    pub end: usize,
    pub fix: Option<Fix>,
}

/// What one unit tells the file-level finish.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitFacts {
    pub imports: Vec<ImportFact>,
    /// Hashes of every name read in the unit.
    pub used: Vec<u64>,
}

impl UnitFacts {
    pub(crate) fn shift(&mut self, delta: isize) {
        for i in &mut self.imports {
            i.start = i.start.saturating_add_signed(delta);
            i.end = i.end.saturating_add_signed(delta);
            if let Some(fix) = &mut i.fix {
                for e in &mut fix.edits {
                    e.start = e.start.saturating_add_signed(delta);
                    e.end = e.end.saturating_add_signed(delta);
                }
            }
        }
    }
}

/// A function scope being walked (Python): complexity and local names.
#[derive(Debug, Default)]
pub(crate) struct FnScope {
    /// A class body: its assignments are attributes, not locals.
    pub is_class: bool,
    pub complexity: u32,
    /// Simple `name = value` targets: (hash, start, end).
    pub assigned: Vec<(u64, usize, usize)>,
    /// How often each name occurs in the scope (including nested scopes).
    pub seen: HashMap<u64, u32>,
}

/// Hook-shared state; reset for every unit.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub scopes: Vec<FnScope>,
    pub import_depth: u32,
    pub try_depth: u32,
    /// An identifier that is an assignment target, not a read.
    pub skip_ident: Option<usize>,
    pub error_depth: u32,
}

pub(crate) struct Ctx<'a> {
    pub text: &'a str,
    pub file: FileKind,
    pub params: &'a Params,
    pub rule: u16,
    pub out: Vec<RawFinding>,
    pub facts: UnitFacts,
    pub shared: Shared,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(text: &'a str, file: FileKind, params: &'a Params) -> Self {
        Self {
            text,
            file,
            params,
            rule: 0,
            out: Vec::new(),
            facts: UnitFacts::default(),
            shared: Shared::default(),
        }
    }

    /// The source text of a node.
    pub(crate) fn text_of(&self, node: Node<'_>) -> &'a str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    pub(crate) fn report(&mut self, node: Node<'_>, message: impl Into<String>) {
        self.report_span(node.start_byte(), node.end_byte(), message, None);
    }

    pub(crate) fn report_fix(&mut self, node: Node<'_>, message: impl Into<String>, fix: Fix) {
        self.report_span(node.start_byte(), node.end_byte(), message, Some(fix));
    }

    pub(crate) fn report_span(
        &mut self,
        start: usize,
        end: usize,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) {
        self.out.push(RawFinding {
            rule: self.rule,
            start,
            end,
            message: message.into(),
            fix,
        });
    }
}

/// A one-edit fix.
pub(crate) fn fix(
    safe: bool,
    title: impl Into<String>,
    start: usize,
    end: usize,
    text: impl Into<String>,
) -> Fix {
    Fix {
        safe,
        title: title.into(),
        edits: vec![Edit::new(start, end, text)],
    }
}

/// What the file-level finish sees.
pub(crate) struct FinishCtx<'a> {
    pub rule: u16,
    pub imports: Vec<&'a ImportFact>,
    pub used: &'a HashMap<u64, i32>,
}

/// FNV-1a: a fast, stable hash for identifiers.
pub(crate) fn name_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
