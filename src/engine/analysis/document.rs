//! An open document for the LSP: takes LSP text changes, edits and re-parses the tree
//! incrementally, and re-runs the rules only on the units (children of the root) the edit or
//! the re-parse touched. Units that did not change keep their findings and facts, shifted by the
//! edit's byte delta; file-level rules re-run over the cached facts. The result is the same as
//! analysing the new text from scratch (tests check this).

use std::collections::HashMap;

use tree_sitter::{InputEdit, Parser, Point, Tree};

use super::Error;
use super::file::{UnitResult, analyze_unit, finish, new_parser, resolve, units_of};
use super::file_kind::FileKind;
use super::finding::{Finding, Range};
use super::language::Language;
use super::lines::LineIndex;
use super::registry::RuleSet;
use super::suppress::Suppressions;

/// One LSP `TextDocumentContentChangeEvent`: a range edit, or the whole text when `range` is
/// `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChange {
    pub range: Option<Range>,
    pub text: String,
}

#[derive(Debug)]
struct Unit {
    start: usize,
    end: usize,
    kind: (u16, bool),
    /// The 0-based line the unit starts on.
    line: usize,
    result: UnitResult,
    /// `result.findings` resolved (severity, suppressions, LSP ranges).
    resolved: Vec<Finding>,
}

/// Start, end, node kind and whether the unit is a class shell.
type UnitKey = (usize, usize, (u16, bool));

/// How a surviving unit moved: bytes and lines.
#[derive(Clone, Copy)]
struct Moved {
    result_delta: isize,
    line_delta: isize,
    /// Whether an edit touched the unit's first line (its columns may have changed).
    same_line: bool,
}

/// An open document.
pub struct Document {
    lang: Language,
    kind: FileKind,
    text: String,
    lines: LineIndex,
    parser: Parser,
    tree: Tree,
    units: Vec<Unit>,
    used: HashMap<u64, i32>,
    /// Findings of the file-level rules (unused imports).
    file_findings: Vec<Finding>,
    suppressions: Suppressions,
    /// Units re-analysed by the last update (for tests and benchmarks).
    last_reanalysed: usize,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("lang", &self.lang)
            .field("len", &self.text.len())
            .field("units", &self.units.len())
            .finish_non_exhaustive()
    }
}

impl Document {
    pub fn new(
        text: String,
        lang: Language,
        kind: FileKind,
        rules: &RuleSet,
    ) -> Result<Self, Error> {
        let mut parser = new_parser(lang)?;
        let tree = parser.parse(&text, None).ok_or(Error::Parse(lang))?;
        let mut doc = Self {
            lang,
            kind,
            lines: LineIndex::new(&text),
            text,
            parser,
            tree,
            units: Vec::new(),
            used: HashMap::new(),
            file_findings: Vec::new(),
            suppressions: Suppressions::default(),
            last_reanalysed: 0,
        };
        doc.reanalyse(&[], None, rules);
        Ok(doc)
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn language(&self) -> Language {
        self.lang
    }

    /// The findings of the current text: unit by unit in text order, then the file-level ones.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.units
            .iter()
            .flat_map(|u| u.resolved.iter())
            .chain(&self.file_findings)
    }

    /// The findings sorted by position, as [`super::analyze_source`] returns them.
    pub fn sorted_findings(&self) -> Vec<Finding> {
        let mut v: Vec<Finding> = self.findings().cloned().collect();
        v.sort_by(|a, b| (a.start, a.end, &a.rule).cmp(&(b.start, b.end, &b.rule)));
        v
    }

    /// How many units the text is split into (for tests and benchmarks).
    pub fn unit_count(&self) -> usize {
        self.units.len()
    }

    /// How many units the last update re-analysed.
    pub fn last_reanalysed(&self) -> usize {
        self.last_reanalysed
    }

    /// Re-analyses everything, e.g. after the configuration changed.
    pub fn refresh(&mut self, rules: &RuleSet) {
        self.units.clear();
        self.used.clear();
        self.reanalyse(&[], None, rules);
    }

    /// Applies LSP content changes in order, then updates the findings.
    pub fn apply_changes(&mut self, changes: &[TextChange], rules: &RuleSet) -> Result<(), Error> {
        let mut touched: Vec<(usize, usize)> = Vec::new();
        // Byte delta per unit start, applied when units are matched after the re-parse.
        let mut edits: Vec<InputEdit> = Vec::new();
        for change in changes {
            let Some(range) = change.range else {
                self.text.clone_from(&change.text);
                self.lines = LineIndex::new(&self.text);
                let tree = self
                    .parser
                    .parse(&self.text, None)
                    .ok_or(Error::Parse(self.lang))?;
                self.tree = tree;
                self.units.clear();
                self.used.clear();
                self.reanalyse(&[], None, rules);
                return Ok(());
            };
            let start = self.offset(range.start)?;
            let old_end = self.offset(range.end)?.max(start);
            let new_end = start + change.text.len();
            let edit = InputEdit {
                start_byte: start,
                old_end_byte: old_end,
                new_end_byte: new_end,
                start_position: self.point(start),
                old_end_position: self.point(old_end),
                new_end_position: point_after(self.point(start), &change.text),
            };
            self.text.replace_range(start..old_end, &change.text);
            self.lines
                .edit(start, old_end, &change.text, self.text.len());
            self.tree.edit(&edit);
            for t in &mut touched {
                t.0 = shift_pos(t.0, &edit);
                t.1 = shift_pos(t.1, &edit);
            }
            touched.push((start, new_end));
            edits.push(edit);
        }
        let old_tree = self.tree.clone();
        let tree = self
            .parser
            .parse(&self.text, Some(&old_tree))
            .ok_or(Error::Parse(self.lang))?;
        touched.extend(
            old_tree
                .changed_ranges(&tree)
                .map(|r| (r.start_byte, r.end_byte)),
        );
        self.tree = tree;
        self.reanalyse(&touched, Some(&edits), rules);
        Ok(())
    }

    fn offset(&self, pos: super::finding::Position) -> Result<usize, Error> {
        self.lines
            .offset(&self.text, pos)
            .ok_or(Error::EditOutOfRange {
                line: pos.line,
                character: pos.character,
            })
    }

    fn point(&self, byte: usize) -> Point {
        let row = self.lines.line_of(byte);
        Point {
            row,
            column: byte - self.lines.line_start(row),
        }
    }

    /// Re-runs the units overlapping `touched` (all when `edits` is `None`), reuses the rest.
    fn reanalyse(
        &mut self,
        touched: &[(usize, usize)],
        edits: Option<&[InputEdit]>,
        rules: &RuleSet,
    ) {
        // Move old units to their post-edit positions; drop those an edit landed in.
        let mut old: HashMap<UnitKey, (Unit, Moved)> = HashMap::new();
        let mut dropped: Vec<UnitResult> = Vec::new();
        for mut u in std::mem::take(&mut self.units) {
            let mut alive = edits.is_some();
            let mut moved = Moved {
                result_delta: 0,
                line_delta: 0,
                same_line: false,
            };
            let (mut s, mut e) = (u.start, u.end);
            for edit in edits.unwrap_or(&[]) {
                if e < edit.start_byte {
                    continue;
                }
                if s > edit.old_end_byte {
                    let delta = edit.new_end_byte as isize - edit.old_end_byte as isize;
                    s = s.saturating_add_signed(delta);
                    e = e.saturating_add_signed(delta);
                    u.result.shift(delta);
                    moved.result_delta += delta;
                    moved.same_line |=
                        edit.old_end_position.row >= u.line.saturating_add_signed(moved.line_delta);
                    moved.line_delta +=
                        edit.new_end_position.row as isize - edit.old_end_position.row as isize;
                } else {
                    alive = false;
                }
            }
            if alive {
                old.insert((s, e, u.kind), (u, moved));
            } else {
                dropped.push(u.result);
            }
        }
        let suppressions = Suppressions::scan(&self.text, self.lang);
        let all_stale = suppressions != self.suppressions;
        self.suppressions = suppressions;
        let root = self.tree.root_node();
        let mut units: Vec<Unit> = Vec::with_capacity(root.child_count() as usize);
        let mut reanalysed = 0;
        let nodes = units_of(root, self.lang);
        // A suppression comment in a unit can silence the next unit's first line.
        let mut previous_fresh = false;
        for unit_node in nodes {
            let node = unit_node.node;
            let (s, e) = (node.start_byte(), node.end_byte());
            // Shells and whole units of the same node are different results.
            let kind = (node.kind_id(), unit_node.skip.is_some());
            let line = node.start_position().row;
            let hit = touched.iter().any(|&(ts, te)| ts <= e && te >= s);
            let cached = if hit { None } else { old.remove(&(s, e, kind)) };
            let unit = match cached {
                Some((mut u, moved)) if !all_stale && !previous_fresh && !moved.same_line => {
                    for f in &mut u.resolved {
                        shift_finding(f, moved);
                    }
                    u.start = s;
                    u.end = e;
                    u.line = line;
                    previous_fresh = false;
                    u
                }
                Some((u, _)) => {
                    let resolved = resolve(
                        u.result.findings.iter(),
                        &self.text,
                        &self.lines,
                        self.lang,
                        rules,
                        &self.suppressions,
                    );
                    previous_fresh = true;
                    Unit {
                        start: s,
                        end: e,
                        kind,
                        line,
                        result: u.result,
                        resolved,
                    }
                }
                None => {
                    reanalysed += 1;
                    let r = analyze_unit(unit_node, &self.text, self.lang, self.kind, rules);
                    for &h in &r.facts.used {
                        *self.used.entry(h).or_default() += 1;
                    }
                    let resolved = resolve(
                        r.findings.iter(),
                        &self.text,
                        &self.lines,
                        self.lang,
                        rules,
                        &self.suppressions,
                    );
                    previous_fresh = true;
                    Unit {
                        start: s,
                        end: e,
                        kind,
                        line,
                        result: r,
                        resolved,
                    }
                }
            };
            units.push(unit);
        }
        for gone in dropped.iter().chain(old.values().map(|(u, _)| &u.result)) {
            for &h in &gone.facts.used {
                if let Some(c) = self.used.get_mut(&h) {
                    *c -= 1;
                }
            }
        }
        if !dropped.is_empty() || !old.is_empty() {
            self.used.retain(|_, c| *c > 0);
        }
        self.units = units;
        self.last_reanalysed = reanalysed;
        let fin = finish(
            self.units.iter().map(|u| &u.result),
            &self.used,
            self.lang,
            rules,
        );
        self.file_findings = resolve(
            fin.iter(),
            &self.text,
            &self.lines,
            self.lang,
            rules,
            &self.suppressions,
        );
    }
}

fn shift_finding(f: &mut Finding, moved: Moved) {
    let shift_line = |p: &mut super::finding::Position| {
        p.line = (p.line as isize + moved.line_delta) as u32;
    };
    f.start = f.start.saturating_add_signed(moved.result_delta);
    f.end = f.end.saturating_add_signed(moved.result_delta);
    shift_line(&mut f.range.start);
    shift_line(&mut f.range.end);
    if let Some(fix) = &mut f.fix {
        for e in &mut fix.edits {
            e.start = e.start.saturating_add_signed(moved.result_delta);
            e.end = e.end.saturating_add_signed(moved.result_delta);
            shift_line(&mut e.range.start);
            shift_line(&mut e.range.end);
        }
    }
}

fn shift_pos(p: usize, edit: &InputEdit) -> usize {
    if p >= edit.old_end_byte {
        p - edit.old_end_byte + edit.new_end_byte
    } else if p > edit.start_byte {
        edit.new_end_byte
    } else {
        p
    }
}

/// The point after inserting `text` at `start`.
fn point_after(start: Point, text: &str) -> Point {
    match text.rfind('\n') {
        None => Point {
            row: start.row,
            column: start.column + text.len(),
        },
        Some(i) => Point {
            row: start.row + text.bytes().filter(|&b| b == b'\n').count(),
            column: text.len() - i - 1,
        },
    }
}
