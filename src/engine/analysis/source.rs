//! `kiln check -`: one source text that is not a file on disk (stdin from an editor, a
//! formatter or a pre-commit integration), named by `--stdin-filename` for language detection,
//! test/script classification and reports. Nothing is cached or written; with fixes the fixed
//! bytes are returned for the caller to print.

use std::path::Path;

use super::batch::{
    CheckOptions, CheckOutcome, FileReport, fix_bytes, invalid_utf8_note, memchr_nul,
};
use super::file::analyze_source;
use super::file_kind::FileKind;
use super::language::Language;
use super::note::{Note, NoteKind};
use super::registry::RuleSet;

/// What checking one source produced.
#[derive(Debug, Clone, Default)]
pub struct SourceOutcome {
    pub outcome: CheckOutcome,
    /// With `opts.fix`: the source with its fixes applied (the input's bytes where no fix
    /// touched them); the input unchanged when it could not be analysed.
    pub fixed: Option<Vec<u8>>,
}

/// Checks `bytes` as the content of `name` (`opts.paths`, the cache and `threads` are ignored).
pub fn check_source(
    name: &Path,
    bytes: &[u8],
    opts: &CheckOptions,
    rules: &RuleSet,
) -> SourceOutcome {
    let mut out = SourceOutcome {
        fixed: opts.fix.map(|_| bytes.to_vec()),
        ..SourceOutcome::default()
    };
    let notes = &mut out.outcome.notes;
    let head = &bytes[..bytes.len().min(256)];
    let Some(lang) = opts.language.or_else(|| Language::detect(name, head)) else {
        notes.push(Note::new(
            name,
            NoteKind::UnknownLanguage,
            "skipped: no known language for this input (pass --stdin-filename with an extension, or --language)",
        ));
        return out;
    };
    if bytes.len() as u64 > rules.max_file_bytes {
        notes.push(Note::new(
            name,
            NoteKind::TooLarge,
            format!(
                "skipped: {} bytes is over analysis.max_file_bytes ({})",
                bytes.len(),
                rules.max_file_bytes
            ),
        ));
        return out;
    }
    if memchr_nul(bytes) {
        notes.push(Note::new(
            name,
            NoteKind::Binary,
            "skipped: binary input (contains NUL bytes)",
        ));
        return out;
    }
    let kind = FileKind::of_path(name, rules);
    out.outcome.files_checked = 1;
    let report = |findings, fixed, source: String| FileReport {
        path: name.to_owned(),
        language: lang,
        findings,
        fixed,
        source: opts.keep_source.then_some(source),
    };
    if let Some(mode) = opts.fix {
        match fix_bytes(name, bytes, lang, kind, rules, mode) {
            Ok(done) => {
                out.fixed = Some(done.bytes());
                out.outcome.fixed = done.fixed;
                out.outcome.notes = done.notes;
                out.outcome
                    .files
                    .push(report(done.findings, done.fixed, done.text));
            }
            Err(notes) => out.outcome.notes = notes,
        }
        return out;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_owned(),
        Err(e) => {
            notes.push(invalid_utf8_note(name, e.valid_up_to()));
            String::from_utf8_lossy(bytes).into_owned()
        }
    };
    match analyze_source(&text, lang, kind, rules) {
        Ok(findings) => out.outcome.files.push(report(findings, 0, text)),
        Err(e) => {
            out.outcome.files_checked = 0;
            notes.push(Note::new(name, NoteKind::Unreadable, e.to_string()));
        }
    }
    out
}
