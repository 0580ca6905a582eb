//! Notes: why a file was skipped or only partly trusted. A bad file never stops a check; it
//! becomes a note that every report format shows.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a file was skipped or only partly trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Binary,
    InvalidUtf8,
    TooLarge,
    Unreadable,
    Walk,
    UnknownLanguage,
    WriteFailed,
    /// `--fix` left a read-only file alone.
    ReadOnly,
    /// A path named on the command line does not exist.
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub path: PathBuf,
    pub kind: NoteKind,
    pub message: String,
}

impl Note {
    pub(crate) fn new(path: &Path, kind: NoteKind, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            kind,
            message: message.into(),
        }
    }
}
