//! Applying quick fixes: non-overlapping edits in one pass, repeated until nothing applies
//! (a fix skipped for overlapping another is retried on the re-analysed text).

use super::Error;
use super::file::{analyze_with, new_parser};
use super::file_kind::FileKind;
use super::finding::Finding;
use super::language::Language;
use super::registry::RuleSet;

/// Which fixes `--fix` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixMode {
    SafeOnly,
    /// Also fixes marked unsafe (`--unsafe-fixes`).
    IncludeUnsafe,
}

/// Applies the fixes of `findings` that do not overlap each other; returns the new text and
/// how many fixes were applied.
pub fn apply_fixes(text: &str, findings: &[Finding], mode: FixMode) -> (String, usize) {
    let mut fixes: Vec<&super::finding::Fix> = findings
        .iter()
        .filter_map(|f| f.fix.as_ref())
        .filter(|f| f.safe || mode == FixMode::IncludeUnsafe)
        .filter(|f| !f.edits.is_empty())
        .collect();
    fixes.sort_by_key(|f| f.edits.iter().map(|e| e.start).min().unwrap_or(0));
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut edits = Vec::new();
    let mut applied = 0;
    for fix in fixes {
        let overlaps = fix.edits.iter().any(|e| {
            e.end > text.len()
                || !text.is_char_boundary(e.start)
                || !text.is_char_boundary(e.end)
                || taken
                    .iter()
                    .any(|&(s, t)| e.start < t && s < e.end || (e.start == s && e.end == t))
        });
        if overlaps {
            continue;
        }
        for e in &fix.edits {
            taken.push((e.start, e.end));
            edits.push(e);
        }
        applied += 1;
    }
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in edits {
        out.push_str(&text[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&text[at..]);
    (out, applied)
}

/// Fixes `text` until no fix applies (at most 10 rounds). Returns the fixed text, the number of
/// fixes applied and the findings left.
pub fn fix_source(
    text: &str,
    lang: Language,
    kind: FileKind,
    rules: &RuleSet,
    mode: FixMode,
) -> Result<(String, usize, Vec<Finding>), Error> {
    let mut parser = new_parser(lang)?;
    let mut current = text.to_owned();
    let mut total = 0;
    for _ in 0..10 {
        let findings = analyze_with(&mut parser, &current, lang, kind, rules)?;
        let (next, n) = apply_fixes(&current, &findings, mode);
        if n == 0 || next == current {
            return Ok((current, total, findings));
        }
        total += n;
        current = next;
    }
    let findings = analyze_with(&mut parser, &current, lang, kind, rules)?;
    Ok((current, total, findings))
}
