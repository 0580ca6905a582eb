//! What a run produces: output lines tagged by stream, the limit that stopped it, how the
//! program ended and the run's accounting ([`Outcome`]). Plain data shared by the engine side of
//! a run, the recording and the front-ends.

use std::path::PathBuf;

use serde::Serialize;

use super::run::Isolation;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of output (without its newline; invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputLine {
    pub stream: Stream,
    /// Microseconds since the Unix epoch, when kiln read it.
    pub ts_us: i64,
    pub text: String,
}

/// A limit that stopped the run (or, for pids and disk, was reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Timeout,
    Cpu,
    Memory,
    Output,
    Pids,
    Disk,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Timeout => "timeout",
            Limit::Cpu => "cpu",
            Limit::Memory => "memory",
            Limit::Output => "output",
            Limit::Pids => "pids",
            Limit::Disk => "disk",
        }
    }

    /// Whether hitting this limit kills the run (pids and disk only make calls fail).
    pub fn kills(self) -> bool {
        matches!(
            self,
            Limit::Timeout | Limit::Cpu | Limit::Memory | Limit::Output
        )
    }

    /// The documented `kiln sandbox run` exit code for a run this limit killed.
    pub fn exit_code(self) -> Option<u8> {
        match self {
            Limit::Timeout => Some(201),
            Limit::Cpu => Some(202),
            Limit::Memory => Some(203),
            Limit::Output => Some(204),
            Limit::Pids | Limit::Disk => None,
        }
    }
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
}

/// How the memory (and pids) limit was enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryEnforcement {
    CgroupV1,
    CgroupV2,
    Rlimit,
}

/// Where the time of a run went, in microseconds (`--format json` prints it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Phases {
    /// Path checks, run directory, cgroup and spec, before the init is spawned.
    pub prepare_us: u64,
    /// Spawning the init program (fork + exec of kiln).
    pub spawn_us: u64,
    /// From the init's start to the program's `execve` (namespaces, new root), per pid 1.
    pub setup_us: u64,
    /// From the init's spawn until it exited (setup, the program and its clean-up).
    pub sandbox_us: u64,
    /// After the init exited: draining the readers, the report, removing the cgroup.
    pub teardown_us: u64,
}

/// Everything known about a finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub termination: Termination,
    pub limit: Option<Limit>,
    pub cancelled: bool,
    pub wall_ms: u64,
    pub user_ms: u64,
    pub sys_ms: u64,
    pub setup_ms: u64,
    pub max_rss_kb: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub lines: u64,
    pub bytes_dropped: u64,
    pub memory_enforcement: MemoryEnforcement,
    pub pids_enforcement: MemoryEnforcement,
    pub isolation: Isolation,
    pub landlock: String,
    pub workdir: PathBuf,
    pub phases: Phases,
}

impl Outcome {
    /// The documented CLI exit code: the program's code, 128+signal, 201-204 for a limit kill,
    /// 130 when cancelled.
    pub fn exit_code(&self) -> u8 {
        if let Some(code) = self.limit.and_then(Limit::exit_code) {
            return code;
        }
        if self.cancelled {
            return 130;
        }
        match self.termination {
            Termination::Exited(c) => c as u8,
            Termination::Signaled(s) => 128 + s as u8,
        }
    }
}
