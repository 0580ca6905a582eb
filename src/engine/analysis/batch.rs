//! `kiln check` in the engine: walk paths (respecting .gitignore), analyse files in parallel,
//! reuse cached findings of unchanged files, optionally apply fixes with atomic writes. Bad
//! input never stops the run: it becomes a [`Note`].

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use super::cache::{Cache, Entry};
use super::file::{analyze_source, analyze_with, new_parser};
use super::file_kind::FileKind;
use super::finding::Finding;
use super::fix::{FixMode, fix_source};
use super::language::Language;
use super::lossless;
use super::note::{Note, NoteKind};
use super::registry::RuleSet;

/// What to check and how.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub paths: Vec<PathBuf>,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Parse every file as this language instead of detecting it.
    pub language: Option<Language>,
    pub fix: Option<FixMode>,
    /// Where findings of unchanged files are cached; `None` disables the cache.
    pub cache_file: Option<PathBuf>,
    /// Keep the text of files with findings (for code frames).
    pub keep_source: bool,
}

/// The findings of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub language: Language,
    pub findings: Vec<Finding>,
    /// Fixes applied to this file by `--fix`.
    pub fixed: usize,
    #[serde(skip)]
    pub source: Option<String>,
}

/// Everything a check produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckOutcome {
    /// Files with findings, sorted by path.
    pub files: Vec<FileReport>,
    pub files_checked: usize,
    pub cache_hits: usize,
    pub fixed: usize,
    /// Fixes found but not written because the write failed (a `write_failed` note says why).
    pub unwritten: usize,
    pub notes: Vec<Note>,
}

impl CheckOutcome {
    pub fn findings(&self) -> impl Iterator<Item = (&FileReport, &Finding)> {
        self.files
            .iter()
            .flat_map(|f| f.findings.iter().map(move |x| (f, x)))
    }
}

/// Checks `opts.paths`. Never fails on a bad file; only on a cache that cannot be written.
pub fn check_paths(opts: &CheckOptions, rules: &RuleSet) -> CheckOutcome {
    let mut notes = Vec::new();
    let files = collect(opts, &mut notes);
    let cache = opts
        .cache_file
        .as_deref()
        .filter(|_| opts.fix.is_none())
        .map(|p| Cache::load(p, rules.fingerprint()))
        .unwrap_or_default();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        opts.threads
    }
    .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::with_capacity(files.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut parsers = HashMap::new();
                let mut local = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, lang)) = files.get(i) else {
                        break;
                    };
                    local.push((
                        i,
                        check_file(path, *lang, opts, rules, &cache, &mut parsers),
                    ));
                }
                results
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(local);
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(i, _)| *i);
    let mut out = CheckOutcome::default();
    let mut new_cache = Cache::new(rules.fingerprint());
    let mut dirty = false;
    for (_, r) in results {
        notes.extend(r.notes);
        out.unwritten += r.unwritten;
        if r.checked {
            out.files_checked += 1;
        }
        if r.cache_hit {
            out.cache_hits += 1;
        } else if r.entry.is_some() {
            dirty = true;
        }
        if let Some((key, entry)) = r.entry {
            new_cache.entries.insert(key, entry);
        }
        if let Some(report) = r.report {
            out.fixed += report.fixed;
            if !report.findings.is_empty() || report.fixed > 0 {
                out.files.push(report);
            }
        }
    }
    if let Some(path) = &opts.cache_file
        && opts.fix.is_none()
        && (dirty || new_cache.entries.len() != cache.entries.len())
        && let Err(e) = new_cache.save(path)
    {
        tracing::warn!(path = %path.display(), "cannot write the analysis cache: {e}");
    }
    out.notes = notes;
    out
}

/// Expands directories into source files, in a stable order.
fn collect(opts: &CheckOptions, notes: &mut Vec<Note>) -> Vec<(PathBuf, Language)> {
    let mut out = Vec::new();
    for root in &opts.paths {
        let meta = std::fs::metadata(root);
        if meta.as_ref().is_ok_and(std::fs::Metadata::is_file) {
            let lang = opts.language.or_else(|| {
                let head = read_head(root);
                Language::detect(root, &head)
            });
            match lang {
                Some(l) => out.push((root.clone(), l)),
                None => notes.push(Note {
                    path: root.clone(),
                    kind: NoteKind::UnknownLanguage,
                    message: "skipped: no known language for this file (pass --language)".into(),
                }),
            }
            continue;
        }
        if let Err(e) = meta {
            notes.push(if e.kind() == std::io::ErrorKind::NotFound {
                Note::new(root, NoteKind::NotFound, "does not exist")
            } else {
                Note::new(root, NoteKind::Unreadable, format!("cannot read: {e}"))
            });
            continue;
        }
        let walker = ignore::WalkBuilder::new(root)
            .follow_links(true)
            .require_git(false)
            .build();
        let mut found = Vec::new();
        for entry in walker {
            match entry {
                Ok(e) => {
                    if e.file_type().is_some_and(|t| t.is_file()) {
                        let p = e.into_path();
                        let lang = opts.language.or_else(|| {
                            p.extension()
                                .and_then(|x| x.to_str())
                                .and_then(Language::from_extension)
                        });
                        if let Some(l) = lang {
                            found.push((p, l));
                        }
                    } else if e.path_is_symlink() && e.file_type().is_none() {
                        notes.push(Note {
                            path: e.into_path(),
                            kind: NoteKind::Unreadable,
                            message: "broken symbolic link".into(),
                        });
                    }
                }
                Err(e) => notes.push(walk_note(&e)),
            }
        }
        found.sort();
        out.extend(found);
    }
    out
}

fn walk_note(e: &ignore::Error) -> Note {
    let path = walk_error_path(e).unwrap_or_default();
    let (kind, message) = if is_loop(e) {
        (NoteKind::Walk, "skipped: symbolic link loop".to_owned())
    } else {
        (NoteKind::Unreadable, format!("cannot read: {e}"))
    };
    Note {
        path,
        kind,
        message,
    }
}

fn is_loop(e: &ignore::Error) -> bool {
    match e {
        ignore::Error::Loop { .. } => true,
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => is_loop(err),
        ignore::Error::Io(io) => io.raw_os_error() == Some(40), // ELOOP: a link to itself
        _ => false,
    }
}

fn walk_error_path(e: &ignore::Error) -> Option<PathBuf> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

fn read_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    buf.truncate(n);
    buf
}

#[derive(Default)]
struct Outcome {
    checked: bool,
    unwritten: usize,
    cache_hit: bool,
    report: Option<FileReport>,
    entry: Option<(String, Entry)>,
    notes: Vec<Note>,
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

fn check_file(
    path: &Path,
    lang: Language,
    opts: &CheckOptions,
    rules: &RuleSet,
    cache: &Cache,
    parsers: &mut HashMap<Language, tree_sitter::Parser>,
) -> Outcome {
    let mut out = Outcome::default();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.notes.push(Note::new(
                path,
                NoteKind::Unreadable,
                format!("cannot read: {e}"),
            ));
            return out;
        }
    };
    if meta.len() > rules.max_file_bytes {
        out.notes.push(Note::new(
            path,
            NoteKind::TooLarge,
            format!(
                "skipped: {} bytes is over analysis.max_file_bytes ({})",
                meta.len(),
                rules.max_file_bytes
            ),
        ));
        return out;
    }
    let key = path.to_string_lossy().into_owned();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    if let Some(entry) = cache.entries.get(&key)
        && entry.mtime_ns == mtime
        && entry.size == meta.len()
    {
        out.checked = true;
        out.cache_hit = true;
        out.notes.extend(entry.notes.iter().cloned());
        let source = (opts.keep_source && !entry.findings.is_empty())
            .then(|| std::fs::read(path).ok())
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        out.report = Some(FileReport {
            path: path.to_owned(),
            language: lang,
            findings: entry.findings.clone(),
            fixed: 0,
            source,
        });
        out.entry = Some((key, entry.clone()));
        return out;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            out.notes.push(Note::new(
                path,
                NoteKind::Unreadable,
                format!("cannot read: {e}"),
            ));
            return out;
        }
    };
    if memchr_nul(&bytes) {
        out.notes.push(Note::new(
            path,
            NoteKind::Binary,
            "skipped: binary file (contains NUL bytes)",
        ));
        return out;
    }
    let hash = content_hash(&bytes);
    // Touched but unchanged (same content): reuse the findings without parsing.
    if opts.fix.is_none()
        && let Some(entry) = cache.entries.get(&key)
        && entry.hash == hash
        && entry.size == meta.len()
    {
        out.checked = true;
        out.cache_hit = true;
        out.notes.extend(entry.notes.iter().cloned());
        let keep = opts.keep_source && !entry.findings.is_empty();
        out.report = Some(FileReport {
            path: path.to_owned(),
            language: lang,
            findings: entry.findings.clone(),
            fixed: 0,
            source: keep.then(|| String::from_utf8_lossy(&bytes).into_owned()),
        });
        let mut entry = entry.clone();
        entry.mtime_ns = mtime;
        out.entry = Some((key, entry));
        return out;
    }
    let kind = FileKind::of_path(path, rules);
    out.checked = true;
    if let Some(mode) = opts.fix {
        let fixed = fix_file(path, &bytes, lang, kind, rules, mode);
        out.unwritten = fixed.unwritten;
        out.notes = fixed.notes;
        out.report = fixed.report.map(|mut r| {
            if !opts.keep_source {
                r.source = None;
            }
            r
        });
        return out;
    }
    let mut file_notes = Vec::new();
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            file_notes.push(invalid_utf8_note(path, e.utf8_error().valid_up_to()));
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    let parser = match parsers.entry(lang) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => match new_parser(lang) {
            Ok(p) => v.insert(p),
            Err(e) => {
                out.notes
                    .push(Note::new(path, NoteKind::Unreadable, e.to_string()));
                return out;
            }
        },
    };
    match analyze_with(parser, &text, lang, kind, rules) {
        Ok(findings) => {
            out.entry = Some((
                key,
                Entry {
                    mtime_ns: mtime,
                    size: meta.len(),
                    hash,
                    findings: findings.clone(),
                    notes: file_notes.clone(),
                },
            ));
            let keep = opts.keep_source && !findings.is_empty();
            out.report = Some(FileReport {
                path: path.to_owned(),
                language: lang,
                findings,
                fixed: 0,
                source: keep.then_some(text),
            });
        }
        Err(e) => file_notes.push(Note::new(path, NoteKind::Unreadable, e.to_string())),
    }
    out.notes.extend(file_notes);
    out
}

pub(crate) fn invalid_utf8_note(path: &Path, at: usize) -> Note {
    Note::new(
        path,
        NoteKind::InvalidUtf8,
        format!("invalid UTF-8 at byte {at}; read with replacement characters"),
    )
}

/// What `--fix` did to one file.
struct Fixed {
    report: Option<FileReport>,
    notes: Vec<Note>,
    /// Fixes found but not written (the write failed).
    unwritten: usize,
}

/// A text with its fixes applied, not written anywhere yet.
pub(crate) struct FixedText {
    /// The text as read (invalid bytes escaped, see [`lossless`]).
    pub original: String,
    pub text: String,
    pub fixed: usize,
    /// The findings left in `text`.
    pub findings: Vec<Finding>,
    pub notes: Vec<Note>,
}

impl FixedText {
    /// The bytes to write: those a fix did not touch are the bytes that were read.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        lossless::encode(&self.text)
    }
}

/// Applies the fixes to the content of one file; `Err` carries the notes of a file that could
/// not be analysed at all.
pub(crate) fn fix_bytes(
    path: &Path,
    bytes: &[u8],
    lang: Language,
    kind: FileKind,
    rules: &RuleSet,
    mode: FixMode,
) -> Result<FixedText, Vec<Note>> {
    let mut notes = Vec::new();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_owned(),
        Err(e) => {
            notes.push(invalid_utf8_note(path, e.valid_up_to()));
            // Cannot round-trip: analyse without fixing rather than damage the bytes.
            lossless::decode(bytes).unwrap_or_else(|| {
                notes.push(Note::new(
                    path,
                    NoteKind::WriteFailed,
                    "fixes not applied: the file mixes invalid UTF-8 with characters kiln uses to keep such bytes",
                ));
                String::from_utf8_lossy(bytes).into_owned()
            })
        }
    };
    let can_fix = !notes.iter().any(|n| n.kind == NoteKind::WriteFailed);
    let result = if can_fix {
        fix_source(&text, lang, kind, rules, mode)
    } else {
        analyze_source(&text, lang, kind, rules).map(|f| (text.clone(), 0, f))
    };
    match result {
        Ok((fixed_text, fixed, findings)) => Ok(FixedText {
            original: text,
            text: fixed_text,
            fixed,
            findings,
            notes,
        }),
        Err(e) => {
            notes.push(Note::new(path, NoteKind::Unreadable, e.to_string()));
            Err(notes)
        }
    }
}

/// Fixes one file and writes it back. Bytes a fix does not touch are written back as they were
/// (invalid UTF-8 included, see [`lossless`]); a file that cannot be written keeps its content,
/// and its report shows the findings of that content with `fixed: 0`.
fn fix_file(
    path: &Path,
    bytes: &[u8],
    lang: Language,
    kind: FileKind,
    rules: &RuleSet,
    mode: FixMode,
) -> Fixed {
    let report = |findings, fixed, source| FileReport {
        path: path.to_owned(),
        language: lang,
        findings,
        fixed,
        source: Some(source),
    };
    let mut done = match fix_bytes(path, bytes, lang, kind, rules, mode) {
        Ok(d) => d,
        Err(notes) => {
            return Fixed {
                report: None,
                notes,
                unwritten: 0,
            };
        }
    };
    let n = done.fixed;
    if n == 0 {
        return Fixed {
            report: Some(report(done.findings, 0, done.text)),
            notes: done.notes,
            unwritten: 0,
        };
    }
    let Err(e) = crate::engine::fs::write_atomic(path, &done.bytes()) else {
        return Fixed {
            report: Some(report(done.findings, n, done.text)),
            notes: done.notes,
            unwritten: 0,
        };
    };
    let (kind_of_note, message, unwritten) = if e.is_read_only() {
        (NoteKind::ReadOnly, format!("skipped {n} fixes: {e}"), 0)
    } else {
        (
            NoteKind::WriteFailed,
            format!("{n} fixes not written: {e}"),
            n,
        )
    };
    done.notes.push(Note::new(path, kind_of_note, message));
    // Report what the file still says, not what the unwritten fix would have made of it.
    let findings = analyze_source(&done.original, lang, kind, rules).unwrap_or(done.findings);
    Fixed {
        report: Some(report(findings, 0, done.original)),
        notes: done.notes,
        unwritten,
    }
}

pub(crate) fn memchr_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0)
}
