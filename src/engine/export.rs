//! Export: a run's final artifacts against the project's files. [`plan`] computes, per file,
//! whether it is added, modified, unchanged or in conflict (the project's file changed since the
//! run read it, or exists while the run never read it) and a unified diff; [`apply`] writes the
//! files into the project, or commits them on a new git branch, and/or into a zip archive.
//!
//! Invariants: every path is resolved inside the project root component by component (no
//! absolute paths, no `..`, no symlinks, nothing in `.git`); nothing is written when any check
//! fails (all paths and conflicts are checked before the first write); each file is written
//! atomically by [`crate::engine::fs::write_atomic`] and keeps its mode and owner (a read-only or
//! hard-linked file is refused, before the first write); `--git-branch` never touches the user's worktree, index or
//! current branch (the commit is built with git's plumbing on a temporary index).

mod git;
mod paths;
mod zip;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::env::Env;
use crate::engine::fs::{check_rewritable, write_atomic};
use crate::engine::store::{self, Store};
pub use paths::resolve_inside;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("refused to export '{path}': {reason}; nothing was written")]
    Refused { path: String, reason: String },
    #[error(
        "refused to overwrite {} changed since run {run} read {}: {}; nothing was written (review with 'kiln export {run}', then pass --force to overwrite)",
        if paths.len() == 1 { "a file" } else { "files" },
        if paths.len() == 1 { "it" } else { "them" },
        paths.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(", ")
    )]
    Conflicts { run: i64, paths: Vec<String> },
    #[error("run {0} names no directory to export into (no project and no root recorded)")]
    NoRoot(i64),
    #[error("the project directory '{}' of run {run} is gone: {source}", root.display())]
    RootGone {
        run: i64,
        root: PathBuf,
        source: std::io::Error,
    },
    #[error("export: cannot {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "export to git branch '{branch}': {message}; the worktree and current branch were not changed"
    )]
    Git { branch: String, message: String },
    #[error("export to zip '{}': {message}", path.display())]
    Zip { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] crate::engine::fs::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// What exporting one file would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Modified,
    Unchanged,
    /// The project's file changed since the run read it (or exists, never read): not
    /// overwritten without `force`.
    Conflict,
}

/// One file of an export.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// Relative to the project root.
    pub path: String,
    pub change: Change,
    /// A unified diff from the project's file to the run's (empty when unchanged).
    pub diff: String,
    /// Why a conflict is one.
    pub conflict: Option<String>,
    #[serde(skip)]
    content: Vec<u8>,
    #[serde(skip)]
    target: PathBuf,
    /// The project file's SHA-256 when planned (`None`: absent), re-checked before writing.
    #[serde(skip)]
    current: Option<String>,
}

impl PlannedFile {
    pub fn content(&self) -> &[u8] {
        &self.content
    }
}

/// An export, checked and diffed, not written yet.
#[derive(Debug, Clone, Serialize)]
pub struct ExportPlan {
    pub run: i64,
    pub root: PathBuf,
    pub files: Vec<PlannedFile>,
}

impl ExportPlan {
    pub fn conflicts(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|f| f.change == Change::Conflict)
            .map(|f| f.path.clone())
            .collect()
    }
}

/// How to apply an export.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Overwrite files that changed since the run read them.
    pub force: bool,
    /// Commit the files on this new branch instead of writing them into the worktree.
    pub git_branch: Option<String>,
    /// Write the final files into this archive (alone: instead of the worktree).
    pub zip: Option<PathBuf>,
    /// PATH and HOME for `git`.
    pub env: Env,
}

/// What was written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// Project files written (or committed on the branch).
    pub files: Vec<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub zip: Option<PathBuf>,
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where run `run` exports to: its recorded root, else its project's root.
pub fn root_of(store: &Store, run: i64) -> Result<PathBuf, Error> {
    if let Some(root) = store.run_root(run)? {
        return Ok(root);
    }
    let r = store.run(run)?;
    match r.project_id {
        Some(p) => Ok(store.project_by_id(p)?.root),
        None => Err(Error::NoRoot(run)),
    }
}

/// The export of run `run`'s latest artifacts.
pub fn plan(store: &Store, run: i64) -> Result<ExportPlan, Error> {
    let root = root_of(store, run)?;
    let root = std::fs::canonicalize(&root).map_err(|source| Error::RootGone {
        run,
        root: root.clone(),
        source,
    })?;
    let reads: BTreeMap<String, Option<String>> = store.run_reads(run)?;
    let mut files = Vec::new();
    for artifact in store.latest_artifacts(run)? {
        let target = resolve_inside(&root, &artifact.path)?;
        let current = match std::fs::symlink_metadata(&target) {
            Ok(m) if m.is_file() => Some(std::fs::read(&target).map_err(|source| Error::Io {
                what: format!("read '{}'", target.display()),
                source,
            })?),
            Ok(_) => {
                return Err(Error::Refused {
                    path: artifact.path,
                    reason: "it exists and is not a regular file".into(),
                });
            }
            Err(_) => None,
        };
        let current_sha = current.as_deref().map(sha);
        let unchanged = current.as_ref().is_some_and(|c| *c == artifact.content);
        let conflict = match reads.get(&artifact.path) {
            // Already what the run wants (e.g. exported before): nothing to protect.
            _ if unchanged => None,
            Some(base) if *base != current_sha => Some(match (base, &current_sha) {
                (None, _) => "created since the run started".to_owned(),
                (Some(_), None) => "deleted since the run read it".to_owned(),
                (Some(_), Some(_)) => "changed since the run read it".to_owned(),
            }),
            None if current.as_ref().is_some_and(|c| *c != artifact.content) => {
                Some("exists in the project and the run never read it".to_owned())
            }
            _ => None,
        };
        let change = match (&conflict, &current) {
            (Some(_), _) => Change::Conflict,
            (None, None) => Change::Added,
            (None, Some(c)) if *c == artifact.content => Change::Unchanged,
            (None, Some(_)) => Change::Modified,
        };
        let diff = if change == Change::Unchanged {
            String::new()
        } else {
            unified_diff(&artifact.path, current.as_deref(), &artifact.content)
        };
        files.push(PlannedFile {
            path: artifact.path,
            change,
            diff,
            conflict,
            content: artifact.content,
            target,
            current: current_sha,
        });
    }
    Ok(ExportPlan { run, root, files })
}

/// A unified diff from `old` (absent: `/dev/null`) to `new`.
pub fn unified_diff(path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    let (Ok(old_text), Ok(new_text)) = (
        std::str::from_utf8(old.unwrap_or_default()),
        std::str::from_utf8(new),
    ) else {
        return format!("Binary file '{path}' differs\n");
    };
    let from = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_owned()
    };
    similar::TextDiff::from_lines(old_text, new_text)
        .unified_diff()
        .context_radius(3)
        .header(&from, &format!("b/{path}"))
        .to_string()
}

/// Writes the plan: into the project (default), onto a new git branch, and/or into a zip.
pub fn apply(plan: &ExportPlan, options: &ApplyOptions) -> Result<Applied, Error> {
    let conflicts = plan.conflicts();
    if !conflicts.is_empty() && !options.force {
        return Err(Error::Conflicts {
            run: plan.run,
            paths: conflicts,
        });
    }
    let changed: Vec<&PlannedFile> = plan
        .files
        .iter()
        .filter(|f| f.change != Change::Unchanged)
        .collect();
    let mut applied = Applied::default();
    if let Some(branch) = &options.git_branch {
        let commit = git::commit_on_branch(plan, &changed, branch, &options.env)?;
        applied.branch = Some(branch.clone());
        applied.commit = Some(commit);
        applied.files = changed.iter().map(|f| f.path.clone()).collect();
    } else if options.zip.is_none() {
        // Re-check each file just before the first write: a file changed since the plan is a
        // conflict too, and one `write_atomic` would refuse (read-only, hard-linked) is refused
        // before anything is written.
        for f in &changed {
            let now = std::fs::read(&f.target).ok().map(|c| sha(&c));
            if now != f.current && !options.force {
                return Err(Error::Conflicts {
                    run: plan.run,
                    paths: vec![f.path.clone()],
                });
            }
            check_rewritable(&f.target)?;
        }
        for f in &changed {
            write_atomic(&f.target, &f.content)?;
            applied.files.push(f.path.clone());
        }
    }
    if let Some(path) = &options.zip {
        zip::write_archive(path, &plan.files)?;
        applied.zip = Some(path.clone());
    }
    Ok(applied)
}

/// The commit message of an export.
pub(crate) fn message(plan: &ExportPlan, files: &[&PlannedFile]) -> String {
    let mut m = format!("kiln: export run {}\n\n", plan.run);
    for f in files {
        let _ = writeln!(m, "- {} ({})", f.path, change_word(f.change));
    }
    m
}

fn change_word(c: Change) -> &'static str {
    match c {
        Change::Added => "added",
        Change::Modified => "modified",
        Change::Unchanged => "unchanged",
        Change::Conflict => "overwritten",
    }
}
