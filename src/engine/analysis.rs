//! Static analysis on tree-sitter: the rules behind `kiln check`, the LSP diagnostics and the
//! pipeline's quality gate.
//!
//! Invariants: every file is parsed once and its tree walked once per unit with a cursor; each
//! node is dispatched only to the rules registered for its kind ([`registry`]). A file is split
//! into units (the root's children), each analysed on its own, plus a cheap file-level finish
//! over facts the units collected; the incremental [`Document`] relies on this to re-run only
//! the units an edit touched. Findings carry byte ranges and LSP ranges (0-based line, UTF-16
//! column). The module never prints and never reads the environment.

mod batch;
mod cache;
mod config;
mod context;
mod document;
mod file;
mod file_kind;
mod finding;
mod fix;
mod language;
mod lines;
mod lossless;
mod note;
pub mod registry;
pub mod report;
mod rule;
mod rules;
mod source;
mod suppress;
mod walk;

pub use batch::{CheckOptions, CheckOutcome, FileReport, check_paths};
pub use config::{AnalysisConfig, Params, RuleOverride};
pub use document::{Document, TextChange};
pub use file::analyze_source;
pub use file_kind::FileKind;
pub use finding::{Category, Edit, Finding, Fix, Position, Range, Severity};
pub use fix::{FixMode, apply_fixes, fix_source};
pub use language::Language;
pub use lines::LineIndex;
pub use note::{Note, NoteKind};
pub use registry::{RuleSet, all_rules, rule_by_id};
pub use rule::{FixAvailability, Rule};
pub use source::{SourceOutcome, check_source};

use std::path::PathBuf;

/// Errors of the analysis module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("unknown rule '{0}'; `kiln rules` lists them")]
    UnknownRule(String),
    #[error("cannot parse the file as {0}")]
    Parse(Language),
    #[error("edit range {line}:{character} is outside the document")]
    EditOutOfRange { line: u32, character: u32 },
    #[error("cannot write '{}': {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
