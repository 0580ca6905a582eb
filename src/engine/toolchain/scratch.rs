//! The scratch copy: the files under test copied from the project (plus generated files laid
//! over them) into a directory kiln owns, which the sandbox binds read-write as its workdir.
//!
//! Invariants: the project is only read; tool directories (`.git`, `.venv`, `node_modules`,
//! `target`, caches) are not copied (toolchains are bound read-only instead); symlinks are copied
//! as links (the sandbox only sees what is bound, so a link out leads nowhere); overlay paths are
//! relative and stay inside the copy; as root the copy belongs to [`SANDBOX_UID`], the uid the
//! sandbox runs programs as, so the sandbox can write it without the project being touched.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::Error;

/// The host uid (and gid) the sandbox runs programs as when kiln runs as root.
pub const SANDBOX_UID: u32 = 65534;

/// Directories never copied: version control, environments, build output, caches.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "node_modules",
    "target",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
];
/// A copy bigger than this is refused (a test run does not need the whole disk).
const MAX_FILES: usize = 50_000;
const MAX_BYTES: u64 = 1 << 30;

/// A scratch directory, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    work: PathBuf,
}

impl Scratch {
    /// Copies `root` (if it exists) and then `overlay` into a new directory under `parent`.
    /// `links` are symlinks made in the copy afterwards (relative path, absolute target).
    pub fn copy(
        root: &Path,
        overlay: &[(String, Vec<u8>)],
        parent: &Path,
        links: &[(String, PathBuf)],
    ) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("kiln-scratch-")
            .tempdir_in(parent)
            .map_err(Error::io(format!(
                "create a scratch directory in '{}'",
                parent.display()
            )))?;
        let name = root
            .file_name()
            .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
        let work = dir.path().join(name);
        std::fs::create_dir(&work).map_err(Error::io("create the scratch copy"))?;
        let mut budget = (MAX_FILES, MAX_BYTES);
        if root.is_dir() {
            copy_dir(root, &work, root, &mut budget)?;
        }
        for (path, content) in overlay {
            let rel = safe_relative(path)?;
            let dest = work.join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io("create a scratch directory"))?;
            }
            // A copied link at this path must not redirect the write.
            if dest
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                std::fs::remove_file(&dest).map_err(Error::io("replace a link"))?;
            }
            std::fs::write(&dest, content)
                .map_err(Error::io(format!("write '{path}' into the scratch copy")))?;
        }
        for (path, target) in links {
            let dest = work.join(safe_relative(path)?);
            if dest.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(target, &dest)
                    .map_err(Error::io("link into the copy"))?;
            }
        }
        let scratch = Self { dir, work };
        scratch.hand_to_sandbox()?;
        Ok(scratch)
    }

    /// The copy: the sandbox's working directory.
    pub fn path(&self) -> &Path {
        &self.work
    }

    /// As root, gives every file to the sandbox's uid; otherwise the sandbox runs as us.
    fn hand_to_sandbox(&self) -> Result<(), Error> {
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io("chmod the scratch directory"))?;
        if !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        chown_tree(&self.work)
    }
}

fn chown_tree(path: &Path) -> Result<(), Error> {
    std::os::unix::fs::lchown(path, Some(SANDBOX_UID), Some(SANDBOX_UID)).map_err(Error::io(
        format!("give '{}' to the sandbox uid", path.display()),
    ))?;
    let meta = path
        .symlink_metadata()
        .map_err(Error::io("stat the scratch copy"))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(Error::io("read the scratch copy"))? {
            let entry = entry.map_err(Error::io("read the scratch copy"))?;
            chown_tree(&entry.path())?;
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path, root: &Path, budget: &mut (usize, u64)) -> Result<(), Error> {
    let entries =
        std::fs::read_dir(from).map_err(Error::io(format!("read '{}'", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("read '{}'", from.display())))?;
        let name = entry.file_name();
        let src = entry.path();
        let dest = to.join(&name);
        let kind = entry
            .file_type()
            .map_err(Error::io(format!("stat '{}'", src.display())))?;
        if kind.is_dir() {
            if SKIP_DIRS.iter().any(|s| name == *s) {
                continue;
            }
            std::fs::create_dir(&dest).map_err(Error::io("create a scratch directory"))?;
            copy_dir(&src, &dest, root, budget)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src)
                .map_err(Error::io(format!("read link '{}'", src.display())))?;
            std::os::unix::fs::symlink(target, &dest).map_err(Error::io("copy a link"))?;
        } else if kind.is_file() {
            let meta = entry
                .metadata()
                .map_err(Error::io(format!("stat '{}'", src.display())))?;
            budget.0 = budget.0.checked_sub(1).ok_or_else(|| Error::TooBig {
                root: root.to_owned(),
                what: format!("more than {MAX_FILES} files"),
            })?;
            budget.1 = budget
                .1
                .checked_sub(meta.len())
                .ok_or_else(|| Error::TooBig {
                    root: root.to_owned(),
                    what: format!("more than {} MiB", MAX_BYTES >> 20),
                })?;
            std::fs::copy(&src, &dest).map_err(Error::io(format!("copy '{}'", src.display())))?;
            // Keep the executable bits; make it writable for the sandbox (it is our copy).
            let mode = (meta.permissions().mode() & 0o755) | 0o600;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
                .map_err(Error::io("chmod a scratch file"))?;
        }
        // Sockets, fifos and devices are not files under test.
    }
    Ok(())
}

/// `path` as a relative path that stays inside its root (no `/`, no `..`, no empty name).
pub(crate) fn safe_relative(path: &str) -> Result<&Path, Error> {
    let bad = |reason: &str| Error::BadPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let p = Path::new(path);
    if path.is_empty() {
        return Err(bad("empty"));
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(bad("'..' leaves the project")),
            Component::RootDir | Component::Prefix(_) => return Err(bad("absolute path")),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_skips_tool_dirs_and_lays_the_overlay_over() {
        let project = tempfile::tempdir().unwrap();
        let p = project.path();
        std::fs::write(p.join("a.py"), "old").unwrap();
        std::fs::create_dir_all(p.join(".venv/bin")).unwrap();
        std::fs::write(p.join(".venv/bin/python"), "").unwrap();
        std::fs::create_dir_all(p.join("pkg")).unwrap();
        std::fs::write(p.join("pkg/b.py"), "b").unwrap();
        let parent = tempfile::tempdir().unwrap();
        let s = Scratch::copy(
            p,
            &[
                ("a.py".into(), b"new".to_vec()),
                ("gen/c.py".into(), b"c".to_vec()),
            ],
            parent.path(),
            &[],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(s.path().join("a.py")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(s.path().join("pkg/b.py")).unwrap(),
            "b"
        );
        assert_eq!(
            std::fs::read_to_string(s.path().join("gen/c.py")).unwrap(),
            "c"
        );
        assert!(!s.path().join(".venv").exists());
        assert_eq!(std::fs::read_to_string(p.join("a.py")).unwrap(), "old");
        let gone = s.path().to_path_buf();
        drop(s);
        assert!(!gone.exists());
    }

    #[test]
    fn overlay_paths_may_not_leave_the_copy() {
        let parent = tempfile::tempdir().unwrap();
        for bad in ["../x.py", "/etc/x", "a/../../x", ""] {
            let e = Scratch::copy(
                Path::new("/nonexistent"),
                &[(bad.into(), b"x".to_vec())],
                parent.path(),
                &[],
            )
            .unwrap_err();
            assert!(matches!(e, Error::BadPath { .. }), "{bad}: {e}");
        }
    }
}
