//! Rewriting a user's file without damaging it: `kiln check --fix`, the analysis cache and the
//! pipeline's export.
//!
//! [`write_atomic`] writes a temporary file next to the target, gives it the target's owner and
//! mode (a new file: 0644, its directory created), syncs it and renames it over the target, so
//! a reader sees the old or the new content, never half of it. [`check_rewritable`] runs the
//! same refusals without writing, so a caller writing many files (export) can refuse before
//! the first write. What a plain rename would lose is kept or refused, never silently dropped:
//! - a symbolic link stays a link: the file it points to is rewritten;
//! - a read-only file (no write bit for anyone) is refused: the user marked it so;
//! - a file with several hard links is refused: a rename would split it from its other names;
//! - the owner and group are kept; when they cannot be (a file of another user, not root) the
//!   write is refused rather than leaving a file owned by whoever ran kiln.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file was not rewritten. Nothing was changed when one of these is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("'{}' is read-only; not rewritten (make it writable to apply fixes)", path.display())]
    ReadOnly { path: PathBuf },
    #[error("'{}' has {links} hard links; not rewritten, which would split it from its other names", path.display())]
    HardLinks { path: PathBuf, links: u64 },
    #[error("cannot keep the owner of '{}' ({source}); not rewritten", path.display())]
    Owner {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write '{}': {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the file was deliberately left alone (read-only) rather than failed to write.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::ReadOnly { .. })
    }
}

/// The mode of a file [`write_atomic`] creates (what `File::create` gives under umask 022).
const NEW_FILE_MODE: u32 = 0o644;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io { path, source }
}

/// The file a write to `path` replaces (a link's target: the rename must replace the file the
/// link points to) and its metadata, if it exists.
fn target_of(path: &Path) -> Result<(PathBuf, Option<std::fs::Metadata>), Error> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(io(path))?,
        _ => path.to_owned(),
    };
    match std::fs::metadata(&target) {
        Ok(m) => Ok((target, Some(m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((target, None)),
        Err(e) => Err(io(&target)(e)),
    }
}

/// Whether [`write_atomic`] would refuse `path` (read-only, hard-linked), without writing.
pub fn check_rewritable(path: &Path) -> Result<(), Error> {
    match target_of(path)? {
        (target, Some(meta)) => refuse(&target, &meta),
        (_, None) => Ok(()),
    }
}

/// Replaces the content of `path` with `bytes` atomically (see the module docs). A path that
/// does not exist yet is created with mode 0644, its missing directories too.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let (target, existing) = target_of(path)?;
    if let Some(meta) = &existing {
        refuse(&target, meta)?;
    }
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if existing.is_none() {
        std::fs::create_dir_all(dir).map_err(io(&target))?;
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiln-")
        .tempfile_in(dir)
        .map_err(io(&target))?;
    tmp.write_all(bytes).map_err(io(&target))?;
    if let Some(meta) = &existing {
        keep_owner_and_mode(tmp.as_file(), &target, meta)?;
    } else {
        set_new_file_mode(tmp.as_file()).map_err(io(&target))?;
    }
    tmp.as_file().sync_all().map_err(io(&target))?;
    tmp.persist(&target).map_err(|e| io(&target)(e.error))?;
    // The rename is durable once the directory is synced; failing that is not worth an error.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn set_new_file_mode(tmp: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tmp.set_permissions(std::fs::Permissions::from_mode(NEW_FILE_MODE))
}

#[cfg(not(unix))]
fn set_new_file_mode(_tmp: &std::fs::File) -> std::io::Result<()> {
    let _ = NEW_FILE_MODE;
    Ok(())
}

#[cfg(unix)]
fn refuse(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    // Root may write anything, so the mode bits, not access(2), say what the user wants.
    if meta.mode() & 0o222 == 0 {
        return Err(Error::ReadOnly {
            path: path.to_owned(),
        });
    }
    if meta.nlink() > 1 {
        return Err(Error::HardLinks {
            path: path.to_owned(),
            links: meta.nlink(),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    if meta.permissions().readonly() {
        return Err(Error::ReadOnly {
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn keep_owner_and_mode(
    tmp: &std::fs::File,
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<(), Error> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp_meta = tmp.metadata().map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if (tmp_meta.uid(), tmp_meta.gid()) != (meta.uid(), meta.gid()) {
        std::os::unix::fs::fchown(tmp, Some(meta.uid()), Some(meta.gid())).map_err(|source| {
            Error::Owner {
                path: path.to_owned(),
                source,
            }
        })?;
    }
    // After the chown, which clears set-id bits.
    tmp.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(not(unix))]
fn keep_owner_and_mode(
    tmp: &std::fs::File,
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<(), Error> {
    tmp.set_permissions(meta.permissions())
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn keeps_mode_and_writes_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.py");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o751)).unwrap();
        let link = dir.path().join("link.py");
        std::os::unix::fs::symlink("real.py", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o7777, 0o751);
        let names = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(names, 2, "no temp file left");
    }

    #[test]
    fn creates_new_files_with_their_directories_and_mode_0644() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/new.py");
        write_atomic(&p, b"x").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        let names = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(names, 1, "no temp file left");
    }

    #[test]
    fn refuses_read_only_and_hard_linked_files_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro.py");
        std::fs::write(&ro, "old").unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(check_rewritable(&ro).unwrap_err().is_read_only());
        assert!(write_atomic(&ro, b"new").unwrap_err().is_read_only());
        assert_eq!(std::fs::read(&ro).unwrap(), b"old");
        let a = dir.path().join("a.py");
        std::fs::write(&a, "old").unwrap();
        std::fs::hard_link(&a, dir.path().join("b.py")).unwrap();
        let e = write_atomic(&a, b"new").unwrap_err();
        assert!(matches!(e, Error::HardLinks { links: 2, .. }), "{e}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
    }
}
