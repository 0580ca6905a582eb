//! Runs untrusted generated code with real isolation and limits.
//!
//! A run is supervised by three processes (see `docs/sandbox.md`):
//!
//! 1. the engine ([`Sandbox::start`]) creates a cgroup when the host allows it, spawns the *init
//!    program* (the `kiln` binary's hidden `__sandbox-init` entry point, or any binary that calls
//!    [`init_main`] first thing in `main`) with piped stdout/stderr, writes the [`spec`] to its
//!    stdin and keeps that pipe open as a lifeline;
//! 2. the init (single-threaded, so forking is safe) joins the cgroup, drops host root to an
//!    unprivileged uid, unshares user/mount/pid/net/ipc/uts/cgroup namespaces and forks
//! 3. the namespace's pid 1, which builds a fresh root, then forks and execs the program under
//!    rlimits, `no_new_privs`, Landlock and seccomp. Pid 1 enforces the wall-clock timeout,
//!    reaps everything, kills whatever is left when the program exits and reports the exit status
//!    and resource usage on fd 3.
//!
//! Invariants: nothing but fds 0-2 reaches the program; nothing it started survives the run
//! (pid 1 kills its namespace; the cgroup is emptied and removed); the engine never blocks on the
//! program (output is streamed with bounded buffers and capped).

#![allow(unsafe_code)] // fork/exec plumbing; every unsafe block carries a SAFETY note

mod cgroup;
pub mod fdpass;
mod host;
mod init;
mod limits;
mod outcome;
mod output;
mod ownership;
mod record;
mod run;
mod rundir;
mod seccomp;
mod spawn;
pub mod spec;
mod supervise;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use host::{HostSupport, doctor_checks};
pub use init::{INIT_ARG, init_main};
pub use limits::{ByteSize, HumanDuration};
pub use outcome::{Limit, MemoryEnforcement, Outcome, OutputLine, Phases, Stream, Termination};
pub use record::{QUEUE_BYTES, RecordReport, Recording, process_end, recorded_limits};
pub use run::{Isolation, RunHandle, RunSpec, Sandbox};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "this host cannot isolate generated code: {reason}. {how} (or pass --unsafe-no-isolation to run with rlimits only)"
    )]
    NoIsolation { reason: String, how: String },
    #[error("sandbox set-up failed: {0}")]
    Setup(String),
    #[error("cannot start the sandbox init program '{}': {source}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox: {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("invalid sandbox spec: {0}")]
    Invalid(String),
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_owned(),
        source,
    }
}

/// The `[sandbox]` section of the config: default limits of every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Wall-clock time before the whole run is killed.
    pub timeout: HumanDuration,
    /// CPU time of the whole run (all its processes together, enforced by the sandbox's pid 1)
    /// and of each process (RLIMIT_CPU).
    pub cpu: HumanDuration,
    /// Memory of the whole run (cgroup), or address space of each process (RLIMIT_AS) when the
    /// host offers no memory cgroup.
    pub memory: ByteSize,
    /// Processes and threads of the whole run (cgroup `pids.max`, else RLIMIT_NPROC).
    pub pids: u64,
    /// Output (stdout + stderr) kept before the run is killed.
    pub output: ByteSize,
    /// Output lines kept before the run is killed.
    pub output_lines: u64,
    /// Open files per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Size of the fresh work directory and of `/tmp` (each a capped tmpfs), and the largest
    /// file a process may write anywhere (RLIMIT_FSIZE).
    pub disk: ByteSize,
    /// Host paths bound read-only at the same path in every run (toolchains, venvs).
    pub ro: Vec<PathBuf>,
    /// Names of variables passed from kiln's environment in addition to the allowlist
    /// (`PATH`, `LANG`, `TERM`).
    pub env: Vec<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            timeout: HumanDuration(Duration::from_secs(10)),
            cpu: HumanDuration(Duration::from_secs(10)),
            memory: ByteSize(512 << 20),
            pids: 64,
            output: ByteSize(10 << 20),
            output_lines: 100_000,
            open_files: 256,
            disk: ByteSize(256 << 20),
            ro: Vec::new(),
            env: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_human_units() {
        let c: SandboxConfig =
            toml::from_str("timeout = \"1m\"\nmemory = \"1G\"\noutput = \"512K\"\npids = 9")
                .unwrap();
        assert_eq!(c.timeout.0, Duration::from_secs(60));
        assert_eq!(c.memory.0, 1 << 30);
        assert_eq!(c.output.0, 512 << 10);
        assert_eq!(c.pids, 9);
        assert_eq!(c.cpu, SandboxConfig::default().cpu);
    }

    #[test]
    fn config_rejects_unknown_keys() {
        assert!(toml::from_str::<SandboxConfig>("nope = 1").is_err());
    }
}
