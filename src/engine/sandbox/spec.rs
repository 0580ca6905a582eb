//! The wire format between the engine and the sandbox init: one JSON line on the init's stdin
//! (the spec) and one JSON document on fd 3 (the report). Both ends are the same kiln version:
//! the init program is always the binary that started the run, or one built from this crate.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How much isolation the init sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Namespaces, fresh root, seccomp, Landlock, rlimits.
    Isolated,
    /// rlimits, a new session and a scrubbed environment only (`--unsafe-no-isolation`).
    Unisolated,
}

/// Where the program's working directory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkdirKind {
    /// A fresh tmpfs capped at `disk_bytes`, mounted at `workdir`; gone after the run.
    FreshTmpfs,
    /// The host directory `workdir`, bound read-write.
    HostBind,
}

/// Everything the init needs, decided by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitSpec {
    pub mode: Mode,
    pub argv: Vec<String>,
    /// The program's whole environment (already scrubbed by the engine).
    pub env: Vec<(String, String)>,
    pub workdir: PathBuf,
    pub workdir_kind: WorkdirKind,
    /// An empty host directory the new root is built on (mount point only).
    pub root_dir: PathBuf,
    pub ro: Vec<PathBuf>,
    pub rw: Vec<PathBuf>,
    /// Writable directories bound through an idmapped mount (kiln runs as root).
    pub idmaps: Vec<super::ownership::Idmap>,
    /// `cgroup.procs` files the init joins before dropping privileges.
    pub cgroup_procs: Vec<PathBuf>,
    pub timeout_ms: u64,
    /// RLIMIT_CPU of each process.
    pub cpu_secs: u64,
    /// CPU time of the whole run (all its processes), enforced by pid 1.
    pub cpu_ms: u64,
    pub open_files: u64,
    pub disk_bytes: u64,
    /// RLIMIT_AS per process, when no memory cgroup applies.
    pub rlimit_as: Option<u64>,
    /// RLIMIT_NPROC, when no pids cgroup applies.
    pub rlimit_nproc: Option<u64>,
}

/// What pid 1 (or, when set-up fails, the init) reports on fd 3.
#[allow(clippy::struct_excessive_bools)] // a flat wire record
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Set when the sandbox could not be built; nothing ran.
    pub error: Option<String>,
    /// Set with `error` when the failure means the host lacks namespaces.
    pub no_namespaces: bool,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// The whole run used up its CPU time; pid 1 killed it.
    pub cpu_exceeded: bool,
    pub cancelled: bool,
    /// The work dir or `/tmp` tmpfs was full when the program ended.
    pub disk_full: bool,
    pub user_us: u64,
    pub sys_us: u64,
    pub max_rss_kb: u64,
    /// Whether Landlock restricted the program (`full`, `partial`, `none`).
    pub landlock: String,
    pub setup_us: u64,
}
