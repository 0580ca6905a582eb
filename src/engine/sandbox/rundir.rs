//! The run directory: a private directory under the runtime dir holding the mount point of the
//! new root, the fresh work directory and a lock held for the run's whole life. Directories whose
//! lock is free belong to a kiln that died and are swept before each run.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::spec::WorkdirKind;
use super::{Error, io_err};

/// Name of the lock file in each run directory.
const LOCK_FILE: &str = ".lock";

/// One run's directory; removed (after the lock is released) when dropped.
#[derive(Debug)]
pub(super) struct RunDir {
    // Field order is drop order: release the lock, then remove the directory.
    _lock: Flock<File>,
    dir: tempfile::TempDir,
    /// The (empty) mount point the new root is built on.
    pub(super) root_dir: PathBuf,
    /// The program's working directory: the caller's, or `work` here.
    pub(super) workdir: PathBuf,
    pub(super) workdir_kind: WorkdirKind,
}

impl RunDir {
    /// Sweeps stale run directories, then creates and locks a fresh one in `runtime_dir`.
    pub(super) fn create(
        runtime_dir: &Path,
        given_workdir: Option<PathBuf>,
    ) -> Result<Self, Error> {
        sweep_stale_run_dirs(runtime_dir);
        let dir = tempfile::Builder::new()
            .prefix("kiln-run-")
            .tempdir_in(runtime_dir)
            .map_err(io_err("create the run directory"))?;
        // Held for the whole run: a run directory whose lock is free belongs to a dead kiln.
        let lock =
            File::create(dir.path().join(LOCK_FILE)).map_err(io_err("create the run lock"))?;
        let lock = Flock::lock(lock, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| io_err("lock the run directory")(e.into()))?;
        make_dir(dir.path())?;
        let root_dir = dir.path().join("root");
        make_dir(&root_dir)?;
        let (workdir, workdir_kind) = if let Some(w) = given_workdir {
            (w, WorkdirKind::HostBind)
        } else {
            let w = dir.path().join("work");
            make_dir(&w)?;
            (w, WorkdirKind::FreshTmpfs)
        };
        Ok(Self {
            _lock: lock,
            dir,
            root_dir,
            workdir,
            workdir_kind,
        })
    }

    /// The directory's unique name (also the run's cgroup name).
    pub(super) fn name(&self) -> String {
        self.dir
            .path()
            .file_name()
            .map_or_else(|| "kiln-run".into(), |n| n.to_string_lossy().into_owned())
    }
}

/// World-traversable, because the init enters it after dropping host root.
fn make_dir(p: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(p).map_err(io_err("create the run directory"))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err("chmod the run directory"))
}

/// Removes run directories left by a kiln that was killed (their lock is free). A live run's
/// directory is never touched: its owner holds the lock, and removing the mount point of its
/// root would tear down the sandbox.
fn sweep_stale_run_dirs(runtime_dir: &Path) {
    let Ok(dir) = std::fs::read_dir(runtime_dir) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for e in dir.flatten() {
        use std::os::unix::fs::MetadataExt;
        let path = e.path();
        // Young directories may belong to a run still taking its lock.
        let ours = e.metadata().is_ok_and(|m| {
            m.is_dir()
                && m.uid() == me
                && m.modified()
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 10))
        });
        if !ours || !e.file_name().to_string_lossy().starts_with("kiln-run-") {
            continue;
        }
        let Ok(lock) = File::open(path.join(LOCK_FILE)) else {
            continue; // being created right now, or not ours to judge
        };
        if let Ok(held) = Flock::lock(lock, FlockArg::LockExclusiveNonblock) {
            tracing::debug!(dir = %path.display(), "removing a stale run directory");
            let _ = std::fs::remove_dir_all(&path);
            drop(held);
        }
    }
}
