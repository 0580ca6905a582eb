//! The files a pipeline run produced, written into a scratch directory the sandbox can use:
//! what `kiln serve RUN` and the pipeline's `smoke` stage serve (the run's final version of
//! every path, as export would write it).
//!
//! Invariants: every path goes through `llm::parse::safe_path` (nothing lands outside the
//! scratch directory); the directory is kiln's own copy, removed when the returned guard drops,
//! and opened to the sandbox's unprivileged uid (0777 directories, 0666 files) so the app may
//! write next to itself (a SQLite file, a cache) without touching the project.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Error;
use crate::engine::store::Store;

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

fn open_to_sandbox(p: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// Writes `files` (project-relative path, content) into a fresh directory under `parent`.
pub fn materialise<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    parent: &Path,
) -> Result<tempfile::TempDir, Error> {
    let dir = tempfile::Builder::new()
        .prefix("kiln-serve-run-")
        .tempdir_in(parent)
        .map_err(io("create the run's scratch directory".into()))?;
    open_to_sandbox(dir.path(), 0o777)
        .map_err(io("open the scratch directory to the sandbox".into()))?;
    for (rel, content) in files {
        let path =
            crate::engine::llm::parse::safe_path(dir.path(), rel).map_err(|e| Error::RunFiles {
                message: e.to_string(),
            })?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("create the folder of '{rel}'")))?;
            let mut d = parent;
            while d.starts_with(dir.path()) && d != dir.path() {
                let _ = open_to_sandbox(d, 0o777);
                d = d.parent().unwrap_or(dir.path());
            }
        }
        std::fs::write(&path, content).map_err(io(format!("write '{rel}'")))?;
        let _ = open_to_sandbox(&path, 0o666);
    }
    Ok(dir)
}

/// The final files of run `run` (the newest version of each path its stages stored) in a
/// scratch directory under `parent`.
pub fn run_files(store: &Store, run: i64, parent: &Path) -> Result<tempfile::TempDir, Error> {
    let found = store.run(run).map_err(|e| Error::RunFiles {
        message: e.to_string(),
    })?;
    let artifacts = store
        .latest_artifacts(found.id)
        .map_err(|e| Error::RunFiles {
            message: e.to_string(),
        })?;
    if artifacts.is_empty() {
        return Err(Error::RunFiles {
            message: format!(
                "run {run} ({}, {}) stored no files; serve a directory instead: kiln serve PATH",
                found.kind, found.status
            ),
        });
    }
    materialise(
        artifacts
            .iter()
            .map(|a| (a.path.as_str(), a.content.as_slice())),
        parent,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_files_and_refuses_escapes() {
        let parent = tempfile::tempdir().unwrap();
        let d = materialise(
            [("app.py", &b"x"[..]), ("static/a/b.css", &b"y"[..])],
            parent.path(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(d.path().join("static/a/b.css")).unwrap(),
            b"y"
        );
        let mode = std::fs::metadata(d.path().join("static/a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o777);
        let e = materialise([("../evil.py", &b"x"[..])], parent.path()).unwrap_err();
        assert!(e.to_string().contains("evil"), "{e}");
    }
}
