//! Disk space for the store: a small reserve file beside the database, so that `kiln db prune`
//! can still free space when the disk is full, and the free-space check `kiln db vacuum` needs.
//!
//! Why a reserve: in WAL mode even a DELETE appends to the WAL, and committed frames that extend
//! the database cannot be checkpointed into a file that may not grow, so on a disk with no free
//! block at all SQLite cannot delete anything. `<db>-reserve` holds `store.reserve_mb` of real
//! (allocated, not sparse) blocks; prune releases it when SQLite reports the disk full, deletes,
//! and it is recreated by a later open once the disk has room again. Invariant: the reserve is
//! only created when the disk keeps at least [`HEADROOM`] times its size free afterwards, so it
//! never is what fills a disk.

use std::path::{Path, PathBuf};

use super::{Error, Store};

/// Free space (in multiples of the reserve) the disk must keep beyond the reserve to create it.
const HEADROOM: u64 = 8;

/// Bytes available to this user on the file system holding `path` (its directory if it does
/// not exist yet).
pub(super) fn available(path: &Path) -> Option<u64> {
    let dir = if path.exists() {
        path.to_owned()
    } else {
        path.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned()
    };
    let st = nix::sys::statvfs::statvfs(&dir).ok()?;
    Some(st.blocks_available() * st.fragment_size())
}

impl Store {
    /// `<db>-reserve`.
    pub fn reserve_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push("-reserve");
        PathBuf::from(p)
    }

    /// Creates the reserve file if it is missing and the disk has room for it to spare.
    pub(super) fn ensure_reserve(&self) {
        let size = self.config.reserve_mb.saturating_mul(1 << 20);
        let path = self.reserve_path();
        if size == 0 || path.exists() {
            return;
        }
        if available(&self.path).is_none_or(|free| free < size.saturating_mul(HEADROOM + 1)) {
            return;
        }
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|file| {
                nix::fcntl::posix_fallocate(&file, 0, size as libc::off_t)
                    .map_err(std::io::Error::from)
            });
        if let Err(e) = created {
            let _ = std::fs::remove_file(&path);
            tracing::debug!(
                "cannot create the store's space reserve '{}': {e}",
                path.display()
            );
        }
    }

    /// Deletes the reserve file; whether there was one.
    pub(super) fn release_reserve(&self) -> bool {
        let released = std::fs::remove_file(self.reserve_path()).is_ok();
        if released {
            tracing::warn!(db = %self.path.display(), "the disk is full: released the store's space reserve");
        }
        released
    }

    /// Fails with what `VACUUM` needs when the disk holding the database lacks room for it: a
    /// copy of the data in the WAL (and another in the temp directory, see the message).
    pub(super) fn check_vacuum_space(&self, used_bytes: u64) -> Result<(), Error> {
        // The rebuilt database passes through the WAL: its size, plus frame headers and a margin.
        let needed = used_bytes + used_bytes / 20 + (256 << 10);
        match available(&self.path) {
            Some(free) if free < needed => Err(Error::VacuumSpace {
                path: self.path.clone(),
                needed,
                available: free,
            }),
            _ => Ok(()),
        }
    }
}
