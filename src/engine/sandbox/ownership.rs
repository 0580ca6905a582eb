//! Who may write the caller's `--rw` and `--workdir` directories from inside the sandbox.
//!
//! The program never runs as host root: as root, kiln drops to uid 65534 first. A directory
//! owned by root would then be unwritable (or, at 0700, not even enterable), so the init binds
//! it through an *idmapped mount* that shows its owner as the sandbox user; files the program
//! creates there belong to that owner on the host. Everything else is decided before the run
//! starts: a directory the sandbox user could not write is refused with the reason and a fix,
//! instead of the program failing on EACCES later.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;

/// Unprivileged host uid/gid the program runs as when kiln itself runs as root.
pub(super) const NOBODY: u32 = 65534;

/// A directory to bind through an idmapped mount: on-disk `uid`/`gid` appear as the sandbox
/// user (65534) inside, and the sandbox user's new files get them on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idmap {
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
}

/// How the writable directories will be bound, or why the run cannot use one of them.
/// `euid` is kiln's effective uid; `as_root` says it is root of the host (it drops to 65534).
pub(super) fn plan(dirs: &[&Path], euid: u32, as_root: bool) -> Result<Vec<Idmap>, Error> {
    let mut idmaps = Vec::new();
    for dir in dirs {
        let meta = std::fs::metadata(dir)
            .map_err(|e| Error::Invalid(format!("path '{}': {e}", dir.display())))?;
        if !meta.is_dir() {
            continue; // a file bound read-write: its permissions apply as they are
        }
        let (sandbox_uid, fix) = if as_root {
            (
                NOBODY,
                "chown it to you (root), run kiln as the directory's owner, or bind it with --ro",
            )
        } else {
            (
                euid,
                "run kiln as the directory's owner, make it writable for you, or bind it with --ro",
            )
        };
        let world_writable = meta.mode() & 0o002 != 0 && meta.mode() & 0o001 != 0;
        if meta.uid() == sandbox_uid || world_writable {
            continue;
        }
        if as_root && meta.uid() == euid {
            idmaps.push(Idmap {
                path: dir.to_path_buf(),
                uid: meta.uid(),
                gid: meta.gid(),
            });
            continue;
        }
        if !as_root && nix::unistd::access(*dir, nix::unistd::AccessFlags::W_OK).is_ok() {
            continue; // writable through its group or mode
        }
        return Err(Error::Invalid(format!(
            "cannot bind '{}' read-write: it belongs to uid {} and the sandbox runs as uid {sandbox_uid}, which could not write there; {fix}",
            dir.display(),
            meta.uid()
        )));
    }
    Ok(idmaps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn own_and_world_writable_dirs_need_no_map() {
        let d = tempfile::tempdir().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(plan(&[d.path()], me, false).unwrap(), []);
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(plan(&[d.path()], me + 1, false).unwrap(), []);
    }

    #[test]
    fn roots_own_dirs_are_idmapped_as_root() {
        let d = tempfile::tempdir().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let maps = plan(&[d.path()], me, true).unwrap();
        if me == NOBODY {
            assert_eq!(maps, []);
        } else {
            assert_eq!(maps.len(), 1);
            assert_eq!(maps[0].uid, me);
        }
    }

    #[test]
    fn someone_elses_dir_is_refused_with_the_reason() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        // Planned for a different (root) caller, the directory belongs to a third user.
        let err = plan(&[d.path()], me + 7, true).unwrap_err().to_string();
        assert!(err.contains(&format!("belongs to uid {me}")), "{err}");
        assert!(err.contains("--ro"), "{err}");
    }
}
