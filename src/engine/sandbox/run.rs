//! The engine side of a run: what to run ([`RunSpec`]), the [`Sandbox`] that starts runs and the
//! [`RunHandle`] a caller reads lines and the outcome from. [`Sandbox::start`] validates paths,
//! prepares the run directory ([`super::rundir`]) and cgroup, spawns the init
//! ([`super::spawn`]), starts the output readers ([`super::output`]) and hands everything to the
//! supervising task ([`super::supervise`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cgroup::Cgroup;
use super::outcome::{MemoryEnforcement, Outcome, OutputLine, Stream};
use super::output::{Shared, read_stream};
use super::ownership;
use super::rundir::RunDir;
use super::spawn::spawn_init;
use super::spec::{InitSpec, Mode};
use super::supervise::{Supervisor, read_report};
use super::{Error, SandboxConfig};
use crate::engine::env::Env;

/// Whether the run is isolated. Only an explicit user opt-in gives [`Isolation::UnsafeNone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    Full,
    /// rlimits, a new session and a scrubbed environment only.
    UnsafeNone,
}

/// What to run and under which limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSpec {
    pub argv: Vec<String>,
    /// Host directory bound read-write at the same path and used as the working directory;
    /// `None` means a fresh tmpfs of `disk` bytes, gone after the run.
    pub workdir: Option<PathBuf>,
    pub ro: Vec<PathBuf>,
    pub rw: Vec<PathBuf>,
    /// The program's whole environment; build it with [`RunSpec::scrubbed_env`].
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub cpu: Duration,
    pub memory: u64,
    pub pids: u64,
    pub output_bytes: u64,
    pub output_lines: u64,
    pub open_files: u64,
    pub disk: u64,
    pub isolation: Isolation,
    /// Secret-looking variable names the user explicitly allowed into `env` (`--allow-secret`).
    pub allow_secrets: Vec<String>,
}

/// The smallest memory limit a program can start under.
const MIN_MEMORY: u64 = 1 << 20;

impl RunSpec {
    /// Rejects limits no run can work under (zero, or memory below 1M), naming the limit and
    /// how to set it. [`Sandbox::start`] calls it; front-ends may call it before recording.
    pub fn validate(&self) -> Result<(), Error> {
        let zero = |name: &str, what: &str| {
            Error::Invalid(format!(
                "limit '{name}' is 0: {what}; set --{flag} or sandbox.{key} to a positive value",
                flag = name.replace('_', "-"),
                key = name
            ))
        };
        let checks = [
            (
                self.timeout.is_zero(),
                "timeout",
                "the run would be killed at once",
            ),
            (
                self.cpu.is_zero(),
                "cpu",
                "the program would be killed at once",
            ),
            (
                self.pids == 0,
                "pids",
                "not even the program itself could start",
            ),
            (
                self.output_bytes == 0,
                "output",
                "any output would kill the run",
            ),
            (
                self.output_lines == 0,
                "output_lines",
                "any output would kill the run",
            ),
            (
                self.open_files == 0,
                "open_files",
                "the program could not open anything",
            ),
            (
                self.disk == 0,
                "disk",
                "no file could be written, not even in /tmp",
            ),
        ];
        if let Some((_, name, what)) = checks.into_iter().find(|c| c.0) {
            return Err(zero(name, what));
        }
        self.refuse_secrets(&[])?;
        if self.memory < MIN_MEMORY {
            return Err(Error::Invalid(format!(
                "limit 'memory' is {} bytes: no program starts in less than 1M; set --memory or sandbox.memory (e.g. 512M)",
                self.memory
            )));
        }
        Ok(())
    }

    /// A spec with the configured default limits and read-only paths.
    pub fn new(argv: Vec<String>, config: &SandboxConfig, env: &Env) -> Self {
        Self {
            argv,
            workdir: None,
            ro: config.ro.clone(),
            rw: Vec::new(),
            env: Self::scrubbed_env(env, &config.env, &[]),
            timeout: config.timeout.0,
            cpu: config.cpu.0,
            memory: config.memory.0,
            pids: config.pids,
            output_bytes: config.output.0,
            output_lines: config.output_lines,
            open_files: config.open_files,
            disk: config.disk.0,
            isolation: Isolation::Full,
            allow_secrets: Vec::new(),
        }
    }

    /// Refuses a run whose environment carries a secret: a variable a model uses for its key
    /// (`model_keys`) or any `*_API_KEY`, `*_TOKEN`, `*_SECRET`, unless it is in
    /// [`RunSpec::allow_secrets`]. Generated code must never see API keys.
    pub fn refuse_secrets(&self, model_keys: &[&str]) -> Result<(), Error> {
        let secret = |name: &str| {
            let upper = name.to_ascii_uppercase();
            model_keys.contains(&name)
                || ["_API_KEY", "_TOKEN", "_SECRET"]
                    .iter()
                    .any(|s| upper.ends_with(s))
        };
        match self
            .env
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| secret(k) && !self.allow_secrets.iter().any(|a| a == k))
        {
            Some(name) => Err(Error::Invalid(format!(
                "refusing to pass '{name}' into the sandbox: it looks like a secret (a model's key variable, or *_API_KEY, *_TOKEN, *_SECRET) and generated code must not see keys; if this program really needs it, add --allow-secret {name}"
            ))),
            None => Ok(()),
        }
    }

    /// The allowlist (`PATH`, `LANG`, `TERM` from `env`), the variables named in `pass`, then
    /// `extra` pairs, then `HOME=/tmp`, `KILN_SANDBOX=1` and `KILN_NETWORK=off`.
    pub fn scrubbed_env(
        env: &Env,
        pass: &[String],
        extra: &[(String, String)],
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: &str| {
            out.retain(|(key, _)| key != k);
            out.push((k.to_owned(), v.to_owned()));
        };
        set(
            "PATH",
            env.get("PATH").unwrap_or("/usr/local/bin:/usr/bin:/bin"),
        );
        for name in ["LANG", "TERM"]
            .iter()
            .copied()
            .chain(pass.iter().map(String::as_str))
        {
            if let Some(v) = env.get(name) {
                set(name, v);
            }
        }
        for (k, v) in extra {
            set(k, v);
        }
        set("HOME", "/tmp");
        set("KILN_SANDBOX", "1");
        set("KILN_NETWORK", "off");
        out
    }
}

/// Starts sandboxed runs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    init_program: PathBuf,
    runtime_dir: PathBuf,
}

/// A started run: its output lines, cancellation and outcome.
#[derive(Debug)]
pub struct RunHandle {
    /// Lines travel in batches (one per pipe read) to keep per-line overhead low.
    lines: mpsc::Receiver<Vec<OutputLine>>,
    buffered: std::collections::VecDeque<OutputLine>,
    cancel: CancellationToken,
    done: JoinHandle<Result<Outcome, Error>>,
    workdir: PathBuf,
}

impl RunHandle {
    /// The next output line, in the order kiln read them; `None` once all output is read.
    pub async fn next_line(&mut self) -> Option<OutputLine> {
        while self.buffered.is_empty() {
            self.buffered.extend(self.lines.recv().await?);
        }
        self.buffered.pop_front()
    }

    /// The next lines read together (never empty), in order; `None` once all output is read.
    pub async fn next_batch(&mut self) -> Option<Vec<OutputLine>> {
        if !self.buffered.is_empty() {
            return Some(self.buffered.drain(..).collect());
        }
        loop {
            let batch = self.lines.recv().await?;
            if !batch.is_empty() {
                return Some(batch);
            }
        }
    }

    /// Whether no line is waiting right now (a good moment to flush a writer).
    pub fn is_idle(&self) -> bool {
        self.buffered.is_empty() && self.lines.is_empty()
    }

    /// Asks the sandbox to stop the run; the outcome then says `cancelled`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The program's working directory (inside and outside the sandbox).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Waits for the run to end, discarding lines nobody read.
    pub async fn wait(mut self) -> Result<Outcome, Error> {
        while self.lines.recv().await.is_some() {}
        self.done
            .await
            .unwrap_or_else(|e| Err(Error::Setup(format!("supervisor task: {e}"))))
    }
}

impl Sandbox {
    /// `init_program` is a binary whose `main` calls [`super::init_main`] when its first
    /// argument is [`super::INIT_ARG`] (the `kiln` binary does); run directories go in `runtime_dir`.
    pub fn new(init_program: impl Into<PathBuf>, runtime_dir: impl Into<PathBuf>) -> Self {
        Self {
            init_program: init_program.into(),
            runtime_dir: runtime_dir.into(),
        }
    }

    /// The init program (the `kiln` binary, which is also the serve forwarder).
    pub fn init_program(&self) -> &Path {
        &self.init_program
    }

    /// Starts a run. Must be called inside a tokio runtime.
    pub fn start(&self, spec: &RunSpec) -> Result<RunHandle, Error> {
        let entered = Instant::now();
        if spec.argv.is_empty() {
            return Err(Error::Invalid("no command given".into()));
        }
        spec.validate()?;
        let absolute = |p: &PathBuf| -> Result<PathBuf, Error> {
            std::fs::canonicalize(p)
                .map_err(|e| Error::Invalid(format!("path '{}': {e}", p.display())))
        };
        let ro = spec
            .ro
            .iter()
            .map(absolute)
            .collect::<Result<Vec<_>, _>>()?;
        let rw = spec
            .rw
            .iter()
            .map(absolute)
            .collect::<Result<Vec<_>, _>>()?;
        let given_workdir = spec.workdir.as_ref().map(absolute).transpose()?;

        let writable: Vec<&Path> = rw
            .iter()
            .chain(&given_workdir)
            .map(PathBuf::as_path)
            .collect();
        let euid = nix::unistd::geteuid().as_raw();
        let idmaps = match spec.isolation {
            // As root kiln drops to 65534, except in a container's user namespace (see init).
            Isolation::Full => ownership::plan(&writable, euid, euid == 0 && in_initial_userns())?,
            Isolation::UnsafeNone => Vec::new(),
        };
        let rundir = RunDir::create(&self.runtime_dir, given_workdir)?;
        let cgroup = Cgroup::create(&rundir.name(), spec.memory, spec.pids + 1);
        let enforcement = |limited: bool| match (limited, cgroup.is_v2()) {
            (false, _) => MemoryEnforcement::Rlimit,
            (true, true) => MemoryEnforcement::CgroupV2,
            (true, false) => MemoryEnforcement::CgroupV1,
        };
        let memory_enforcement = enforcement(cgroup.limits_memory());
        let pids_enforcement = enforcement(cgroup.limits_pids());

        let init_spec = InitSpec {
            mode: match spec.isolation {
                Isolation::Full => Mode::Isolated,
                Isolation::UnsafeNone => Mode::Unisolated,
            },
            argv: spec.argv.clone(),
            env: spec.env.clone(),
            workdir: rundir.workdir.clone(),
            workdir_kind: rundir.workdir_kind,
            root_dir: rundir.root_dir.clone(),
            ro,
            rw,
            idmaps,
            cgroup_procs: cgroup.procs_files(),
            timeout_ms: spec.timeout.as_millis() as u64,
            cpu_secs: spec.cpu.as_secs_f64().ceil() as u64,
            cpu_ms: spec.cpu.as_millis() as u64,
            open_files: spec.open_files,
            disk_bytes: spec.disk,
            rlimit_as: (!cgroup.limits_memory()).then_some(spec.memory),
            rlimit_nproc: (!cgroup.limits_pids()).then_some(spec.pids),
        };
        let mut spec_line =
            serde_json::to_vec(&init_spec).map_err(|e| Error::Invalid(e.to_string()))?;
        spec_line.push(b'\n');

        let prepare = entered.elapsed();
        let started = Instant::now();
        let spawned = spawn_init(&self.init_program)?;
        let spawn = started.elapsed();
        let shared = Arc::new(Shared::new(spec.output_bytes, spec.output_lines));
        // 16 batches of at most one 64 KiB read each, per stream: bounded memory.
        let (tx, rx) = mpsc::channel(16);
        let readers = [
            tokio::spawn(read_stream(
                spawned.stdout,
                Stream::Stdout,
                shared.clone(),
                tx.clone(),
            )),
            tokio::spawn(read_stream(
                spawned.stderr,
                Stream::Stderr,
                shared.clone(),
                tx,
            )),
        ];
        let report_fd = spawned.report;
        let report = tokio::task::spawn_blocking(move || read_report(report_fd));
        let cancel = CancellationToken::new();
        let workdir = rundir.workdir.clone();
        let supervisor = Supervisor {
            rundir,
            cgroup,
            child: spawned.child,
            lifeline: spawned.lifeline,
            spec_line,
            readers,
            report,
            shared,
            cancel: cancel.clone(),
            started,
            prepare,
            spawn,
            timeout: spec.timeout,
            cpu_limit: spec.cpu,
            isolation: spec.isolation,
            memory_enforcement,
            pids_enforcement,
        };
        Ok(RunHandle {
            lines: rx,
            buffered: std::collections::VecDeque::new(),
            cancel,
            done: tokio::spawn(supervisor.run()),
            workdir,
        })
    }
}

/// Whether kiln runs in the host's user namespace (identity map of every uid).
pub(super) fn in_initial_userns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

pub(super) fn no_isolation_error(reason: String) -> Error {
    Error::NoIsolation {
        reason,
        how: "Enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian, user.max_user_namespaces > 0, and kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu); see docs/sandbox.md".into(),
    }
}
