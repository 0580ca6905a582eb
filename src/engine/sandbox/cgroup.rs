//! A per-run cgroup for the memory and pids limits, where the host lets kiln create one.
//!
//! cgroup v2 is used when `/sys/fs/cgroup` (or the hybrid `/sys/fs/cgroup/unified`) has the
//! `memory` and `pids` controllers enabled for kiln's own cgroup; otherwise the v1 `memory` and
//! `pids` hierarchies. The run's cgroup is created under kiln's current cgroup in each hierarchy
//! (so delegation, e.g. a systemd user slice, is respected) and only if that directory is
//! writable. Whatever is missing falls back to rlimits, and the outcome says which was used.
//! The engine (not the sandbox) owns the cgroup: it reads the counters after the run, kills
//! anything still inside and removes it.

use std::fs;
use std::path::{Path, PathBuf};

/// The cgroup directories of one run.
#[derive(Debug, Default)]
pub(super) struct Cgroup {
    /// Directories holding `memory.*` files (v1 memory or the v2 group).
    memory: Option<PathBuf>,
    /// Directories holding `pids.*` files.
    pids: Option<PathBuf>,
    v2: bool,
    created: Vec<PathBuf>,
}

/// Counters read after a run.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Stats {
    pub(super) oom_kills: u64,
    pub(super) memory_peak: Option<u64>,
    pub(super) pids_max_hits: u64,
}

/// The path of this process's cgroup in hierarchy `controller` (v1) or the unified one (`""`).
fn own_path(controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        matches.then(|| PathBuf::from(path.trim_start_matches('/')))
    })
}

fn writable(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
}

fn v2_parent() -> Option<PathBuf> {
    let own = own_path("")?;
    for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let dir = Path::new(mount).join(&own);
        let Ok(ctrls) = fs::read_to_string(dir.join("cgroup.subtree_control")) else {
            continue;
        };
        let has = |c: &str| ctrls.split_whitespace().any(|x| x == c);
        if has("memory") && has("pids") && writable(&dir) {
            return Some(dir);
        }
    }
    None
}

fn v1_parent(controller: &str) -> Option<PathBuf> {
    let own = own_path(controller)?;
    let dir = Path::new("/sys/fs/cgroup").join(controller).join(own);
    (dir.join("cgroup.procs").exists() && writable(&dir)).then_some(dir)
}

/// What the host would give a run, without creating anything (for doctor and summaries).
pub(super) fn available() -> (bool, bool, bool) {
    if v2_parent().is_some() {
        return (true, true, true);
    }
    (
        v1_parent("memory").is_some(),
        v1_parent("pids").is_some(),
        false,
    )
}

/// Removes run cgroups a killed kiln left behind. `rmdir` fails on a cgroup that still has
/// processes, and the age check spares one a concurrent run has just created but not joined.
fn sweep_stale(parent: &Path) {
    let Ok(dir) = fs::read_dir(parent) else {
        return;
    };
    for e in dir.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with("kiln-run-")
            && e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60));
        if stale {
            let _ = fs::remove_dir(e.path());
        }
    }
}

impl Cgroup {
    /// Creates `name` with the given limits in every hierarchy that allows it. Never fails:
    /// a hierarchy that refuses is skipped (the caller then uses rlimits).
    pub(super) fn create(name: &str, memory: u64, pids: u64) -> Self {
        let mut cg = Self::default();
        if let Some(parent) = v2_parent() {
            sweep_stale(&parent);
            let dir = parent.join(name);
            if fs::create_dir(&dir).is_ok() {
                cg.created.push(dir.clone());
                cg.v2 = true;
                let ok_mem = fs::write(dir.join("memory.max"), memory.to_string()).is_ok();
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                let ok_pids = fs::write(dir.join("pids.max"), pids.to_string()).is_ok();
                cg.memory = ok_mem.then(|| dir.clone());
                cg.pids = ok_pids.then(|| dir.clone());
                return cg;
            }
        }
        if let Some(parent) = v1_parent("memory") {
            sweep_stale(&parent);
            let dir = parent.join(name);
            if fs::create_dir(&dir).is_ok() {
                cg.created.push(dir.clone());
                if fs::write(dir.join("memory.limit_in_bytes"), memory.to_string()).is_ok() {
                    let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), memory.to_string());
                    cg.memory = Some(dir);
                }
            }
        }
        if let Some(parent) = v1_parent("pids") {
            sweep_stale(&parent);
            let dir = parent.join(name);
            if fs::create_dir(&dir).is_ok() {
                cg.created.push(dir.clone());
                if fs::write(dir.join("pids.max"), pids.to_string()).is_ok() {
                    cg.pids = Some(dir);
                }
            }
        }
        cg
    }

    pub(super) fn limits_memory(&self) -> bool {
        self.memory.is_some()
    }

    pub(super) fn limits_pids(&self) -> bool {
        self.pids.is_some()
    }

    pub(super) fn is_v2(&self) -> bool {
        self.v2
    }

    /// The `cgroup.procs` files the init must join.
    pub(super) fn procs_files(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<&PathBuf> = self.memory.iter().chain(self.pids.iter()).collect();
        dirs.dedup();
        dirs.into_iter().map(|d| d.join("cgroup.procs")).collect()
    }

    pub(super) fn stats(&self) -> Stats {
        let field = |file: PathBuf, key: &str| -> u64 {
            fs::read_to_string(file)
                .ok()
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        let (k, v) = l.split_once(' ')?;
                        (k == key).then(|| v.trim().parse().ok())?
                    })
                })
                .unwrap_or(0)
        };
        let number =
            |file: PathBuf| -> Option<u64> { fs::read_to_string(file).ok()?.trim().parse().ok() };
        let mut s = Stats::default();
        if let Some(d) = &self.memory {
            if self.v2 {
                s.oom_kills = field(d.join("memory.events"), "oom_kill");
                s.memory_peak = number(d.join("memory.peak"));
            } else {
                s.oom_kills = field(d.join("memory.oom_control"), "oom_kill");
                s.memory_peak = number(d.join("memory.max_usage_in_bytes"));
            }
        }
        if let Some(d) = &self.pids {
            s.pids_max_hits = field(d.join("pids.events"), "max");
        }
        s
    }

    /// Kills anything still inside (nothing should be) and removes the directories.
    pub(super) fn destroy(&mut self) {
        for dir in self.created.drain(..).rev() {
            for _ in 0..100 {
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                if procs.trim().is_empty() && fs::remove_dir(&dir).is_ok() {
                    break;
                }
                for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.destroy();
    }
}
