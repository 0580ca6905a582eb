//! Reading model output robustly: fenced code blocks, multi-file answers, search/replace and
//! unified-diff edits, and JSON reviews with a fallback for malformed JSON.
//!
//! Models wrap answers in prose, forget closing fences and emit almost-JSON, so every parser
//! here is lenient about form and strict about effect: a path outside the project root (absolute,
//! `..`, or through a symlink) and an oversized file are rejected, and output that yields nothing
//! usable is an [`Error::Unparseable`] that keeps the raw response.

mod edit;
mod fence;
mod review;

use std::path::{Component, Path, PathBuf};

pub use edit::{Edit, apply_edits, edits};
pub use fence::{CodeBlock, FileOut, code_blocks, files};
pub use review::{Issue, Review, ReviewSource, Severity, review};

/// Default cap on one file from a model (1 MiB).
pub const DEFAULT_MAX_FILE_BYTES: usize = 1024 * 1024;

/// Errors of output parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the model's answer contains no {what} ({} bytes of raw response kept)", raw.len())]
    Unparseable { what: &'static str, raw: String },
    #[error("the model named a path outside the project root: '{path}' ({why})")]
    UnsafePath { path: String, why: &'static str },
    #[error("the model's file '{path}' is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        path: String,
        size: usize,
        max: usize,
    },
    #[error("edit to '{path}' does not apply: {why}")]
    EditMismatch { path: String, why: String },
    #[error("cannot read '{path}' to apply an edit: {reason}")]
    Read { path: String, reason: String },
}

impl Error {
    /// The raw model response, when parsing found nothing usable.
    pub fn raw(&self) -> Option<&str> {
        match self {
            Self::Unparseable { raw, .. } => Some(raw),
            _ => None,
        }
    }
}

/// `rel` joined to `root` if it stays inside it: not absolute, no `..`, and no symlink on the way
/// that leads out. Components that do not exist yet are fine (new files).
pub fn safe_path(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let unsafe_path = |why| Error::UnsafePath {
        path: rel.to_owned(),
        why,
    };
    let trimmed = rel.trim();
    if trimmed.is_empty() {
        return Err(unsafe_path("empty path"));
    }
    let path = Path::new(trimmed);
    if path.is_absolute() || trimmed.starts_with('~') {
        return Err(unsafe_path("absolute path"));
    }
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => clean.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_path("'..' component")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_path("absolute path"));
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(unsafe_path("empty path"));
    }
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut cursor = canonical_root.clone();
    for c in clean.components() {
        cursor.push(c);
        match std::fs::symlink_metadata(&cursor) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = cursor
                    .canonicalize()
                    .map_err(|_| unsafe_path("dangling symlink"))?;
                if !target.starts_with(&canonical_root) {
                    return Err(unsafe_path("symlink leading outside the project"));
                }
            }
            Ok(_) => {}
            Err(_) => break, // does not exist yet: nothing below it can be a symlink
        }
    }
    Ok(root.join(clean))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(safe_path(root, "src/a.rs").unwrap(), root.join("src/a.rs"));
        assert_eq!(safe_path(root, "./b.rs").unwrap(), root.join("b.rs"));
        for bad in ["/etc/passwd", "../x", "src/../../x", "", "~/.bashrc"] {
            assert!(safe_path(root, bad).is_err(), "{bad}");
        }
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let err = safe_path(root, "link/evil.rs").unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("inside")).unwrap();
        assert!(safe_path(root, "inside/ok.rs").is_ok());
    }
}
