//! The engine side of a run: prepares the run directory and cgroup, spawns the init, streams
//! output lines with caps, enforces cancellation and a backstop timeout, and builds the outcome.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cgroup::Cgroup;
use super::spec::{InitSpec, Mode, Report, WorkdirKind};
use super::{Error, INIT_ARG, SandboxConfig};
use crate::engine::env::Env;

/// Longest line delivered as one; longer lines are split.
const MAX_LINE: usize = 64 << 10;
/// How long past the timeout the engine waits for the sandbox's own pid 1 before killing it.
const BACKSTOP: Duration = Duration::from_secs(5);

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
}

impl RunSpec {
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

/// Output accounting shared by the two readers.
#[derive(Debug, Default)]
struct Counters {
    stdout_bytes: u64,
    stderr_bytes: u64,
    delivered_bytes: u64,
    lines: u64,
    dropped: u64,
    capped: bool,
}

struct Shared {
    counters: Mutex<Counters>,
    max_bytes: u64,
    max_lines: u64,
    capped: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_owned(),
        source,
    }
}

impl Sandbox {
    /// `init_program` is a binary whose `main` calls [`super::init_main`] when its first
    /// argument is [`INIT_ARG`] (the `kiln` binary does); run directories go in `runtime_dir`.
    pub fn new(init_program: impl Into<PathBuf>, runtime_dir: impl Into<PathBuf>) -> Self {
        Self {
            init_program: init_program.into(),
            runtime_dir: runtime_dir.into(),
        }
    }

    /// Starts a run. Must be called inside a tokio runtime.
    pub fn start(&self, spec: &RunSpec) -> Result<RunHandle, Error> {
        if spec.argv.is_empty() {
            return Err(Error::Invalid("no command given".into()));
        }
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

        sweep_stale_run_dirs(&self.runtime_dir);
        let rundir = tempfile::Builder::new()
            .prefix("kiln-run-")
            .tempdir_in(&self.runtime_dir)
            .map_err(io_err("create the run directory"))?;
        // Held for the whole run: a run directory whose lock is free belongs to a dead kiln.
        let lock = std::fs::File::create(rundir.path().join(LOCK_FILE))
            .map_err(io_err("create the run lock"))?;
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| io_err("lock the run directory")(e.into()))?;
        let make_dir = |p: &Path| -> Result<(), Error> {
            std::fs::create_dir_all(p).map_err(io_err("create the run directory"))?;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err("chmod the run directory"))
        };
        make_dir(rundir.path())?;
        let root_dir = rundir.path().join("root");
        make_dir(&root_dir)?;
        let (workdir, workdir_kind) = if let Some(w) = given_workdir {
            (w, WorkdirKind::HostBind)
        } else {
            let w = rundir.path().join("work");
            make_dir(&w)?;
            (w, WorkdirKind::FreshTmpfs)
        };

        let name = rundir
            .path()
            .file_name()
            .map_or_else(|| "kiln-run".into(), |n| n.to_string_lossy().into_owned());
        let cgroup = Cgroup::create(&name, spec.memory, spec.pids + 1);
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
            workdir: workdir.clone(),
            workdir_kind,
            root_dir,
            ro,
            rw,
            cgroup_procs: cgroup.procs_files(),
            timeout_ms: spec.timeout.as_millis() as u64,
            cpu_secs: spec.cpu.as_secs_f64().ceil() as u64,
            open_files: spec.open_files,
            disk_bytes: spec.disk,
            rlimit_as: (!cgroup.limits_memory()).then_some(spec.memory),
            rlimit_nproc: (!cgroup.limits_pids()).then_some(spec.pids),
        };
        let mut line = serde_json::to_vec(&init_spec).map_err(|e| Error::Invalid(e.to_string()))?;
        line.push(b'\n');

        let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err("create the report pipe")(e.into()))?;
        let report_w_raw = report_w.as_raw_fd();
        let mut cmd = tokio::process::Command::new(&self.init_program);
        cmd.arg(INIT_ARG)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: runs in the forked child before exec; dup2 and fcntl are async-signal-safe
        // and touch only fds.
        unsafe {
            cmd.pre_exec(move || {
                if report_w_raw == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(report_w_raw, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: self.init_program.clone(),
            source,
        })?;
        drop(report_w);
        let mut lifeline = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let shared = Arc::new(Shared {
            counters: Mutex::new(Counters::default()),
            max_bytes: spec.output_bytes,
            max_lines: spec.output_lines,
            capped: Notify::new(),
        });
        // 16 batches of at most one 64 KiB read each, per stream: bounded memory.
        let (tx, rx) = mpsc::channel(16);
        let readers = [
            tokio::spawn(read_stream(
                stdout,
                Stream::Stdout,
                shared.clone(),
                tx.clone(),
            )),
            tokio::spawn(read_stream(stderr, Stream::Stderr, shared.clone(), tx)),
        ];
        let report_task = tokio::task::spawn_blocking(move || read_report(report_r));

        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let timeout = spec.timeout;
        let cpu_limit = spec.cpu;
        let isolation = spec.isolation;
        let workdir_out = workdir.clone();
        let done = tokio::spawn(async move {
            let _rundir = rundir; // removed when the run is over
            let _lock = lock;
            let mut cgroup = cgroup;
            let setup = async {
                lifeline.write_all(&line).await?;
                lifeline.flush().await
            };
            let mut user_cancelled = false;
            if let Err(e) = setup.await {
                tracing::warn!("cannot send the spec to the sandbox init: {e}");
            }
            let backstop = tokio::time::sleep(timeout + BACKSTOP);
            tokio::pin!(backstop);
            let mut lifeline = Some(lifeline);
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    () = token.cancelled(), if lifeline.is_some() => {
                        user_cancelled = true;
                        lifeline = None; // pid 1 sees the hang-up, kills and reports
                    }
                    () = shared.capped.notified(), if lifeline.is_some() => {
                        lifeline = None;
                    }
                    () = &mut backstop => {
                        tracing::warn!("sandbox pid 1 missed its deadline; killing the init");
                        let _ = child.start_kill();
                        lifeline = None;
                    }
                }
            };
            drop(lifeline);
            let wall = started.elapsed();
            let _ = status;
            // Everything is dead; only an escaped process (no isolation) could hold the pipes.
            for reader in readers {
                let abort = reader.abort_handle();
                if tokio::time::timeout(Duration::from_secs(2), reader)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
            }
            let report = report_task.await.ok().flatten().unwrap_or_default();
            let cg_stats = cgroup.stats();
            tokio::task::spawn_blocking(move || cgroup.destroy())
                .await
                .ok();
            if let Some(error) = report.error {
                return Err(if report.no_namespaces {
                    no_isolation_error(error)
                } else {
                    Error::Setup(error)
                });
            }
            let counters = std::mem::take(&mut *shared.lock());
            let termination = match (report.exit_code, report.signal) {
                (Some(c), _) => Termination::Exited(c),
                (None, Some(s)) => Termination::Signaled(s),
                (None, None) => Termination::Signaled(libc::SIGKILL),
            };
            let cpu_used = Duration::from_micros(report.user_us + report.sys_us);
            let killed_by = |sig: i32| termination == Termination::Signaled(sig);
            let limit = if report.timed_out {
                Some(Limit::Timeout)
            } else if counters.capped {
                Some(Limit::Output)
            } else if killed_by(libc::SIGXCPU)
                || (killed_by(libc::SIGKILL) && cpu_used >= cpu_limit)
            {
                Some(Limit::Cpu)
            } else if cg_stats.oom_kills > 0 {
                Some(Limit::Memory)
            } else if report.disk_full {
                Some(Limit::Disk)
            } else if cg_stats.pids_max_hits > 0 {
                Some(Limit::Pids)
            } else {
                None
            };
            Ok(Outcome {
                termination,
                limit,
                cancelled: user_cancelled || (report.cancelled && !counters.capped),
                wall_ms: wall.as_millis() as u64,
                user_ms: report.user_us / 1000,
                sys_ms: report.sys_us / 1000,
                setup_ms: report.setup_us / 1000,
                max_rss_kb: report.max_rss_kb,
                stdout_bytes: counters.stdout_bytes,
                stderr_bytes: counters.stderr_bytes,
                lines: counters.lines,
                bytes_dropped: counters.dropped,
                memory_enforcement,
                pids_enforcement,
                isolation,
                landlock: report.landlock,
                workdir: workdir_out,
            })
        });
        Ok(RunHandle {
            lines: rx,
            buffered: std::collections::VecDeque::new(),
            cancel,
            done,
            workdir,
        })
    }
}

/// Name of the lock file in each run directory.
const LOCK_FILE: &str = ".lock";

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
        let Ok(lock) = std::fs::File::open(path.join(LOCK_FILE)) else {
            continue; // being created right now, or not ours to judge
        };
        if let Ok(held) = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        {
            tracing::debug!(dir = %path.display(), "removing a stale run directory");
            let _ = std::fs::remove_dir_all(&path);
            drop(held);
        }
    }
}

fn no_isolation_error(reason: String) -> Error {
    Error::NoIsolation {
        reason,
        how: "Enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian, user.max_user_namespaces > 0, and kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu); see docs/sandbox.md".into(),
    }
}

fn read_report(fd: OwnedFd) -> Option<Report> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn now_us() -> i64 {
    crate::engine::store::now_micros()
}

async fn read_stream(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<OutputLine>>,
) {
    let mut buf = vec![0u8; 64 << 10];
    let mut pending: Vec<u8> = Vec::new();
    let mut batch: Vec<OutputLine> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        ingest(&shared, stream, &buf[..n], &mut pending, &mut batch);
        if !batch.is_empty() {
            // A gone receiver only means nobody reads lines; keep draining the pipe.
            let _ = tx.send(std::mem::take(&mut batch)).await;
        }
    }
    if let Some(line) = last_line(&shared, stream, &pending) {
        let _ = tx.send(vec![line]).await;
    }
}

/// The unterminated last line, if the caps still allow it.
fn last_line(shared: &Shared, stream: Stream, pending: &[u8]) -> Option<OutputLine> {
    if pending.is_empty() {
        return None;
    }
    let mut c = shared.lock();
    let len = pending.len() as u64;
    if c.capped || c.delivered_bytes + len > shared.max_bytes || c.lines + 1 > shared.max_lines {
        c.dropped += len;
        return None;
    }
    c.delivered_bytes += len;
    c.lines += 1;
    Some(OutputLine {
        stream,
        ts_us: now_us(),
        text: String::from_utf8_lossy(pending).into_owned(),
    })
}

/// Splits freshly read bytes into lines, applying the output caps. Runs under the counters'
/// lock, never across an await.
fn ingest(
    shared: &Shared,
    stream: Stream,
    data: &[u8],
    pending: &mut Vec<u8>,
    batch: &mut Vec<OutputLine>,
) {
    let ts_us = now_us();
    let n = data.len();
    let mut c = shared.lock();
    match stream {
        Stream::Stdout => c.stdout_bytes += n as u64,
        Stream::Stderr => c.stderr_bytes += n as u64,
    }
    if c.capped {
        c.dropped += n as u64;
        return;
    }
    let mut rest = data;
    while !rest.is_empty() {
        let (piece, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) if pending.len() + i <= MAX_LINE => (&rest[..=i], true),
            _ => {
                let room = MAX_LINE.saturating_sub(pending.len()).min(rest.len());
                (&rest[..room], pending.len() + room >= MAX_LINE)
            }
        };
        let len = (pending.len() + piece.len()) as u64;
        if complete {
            if c.delivered_bytes + len > shared.max_bytes || c.lines + 1 > shared.max_lines {
                c.capped = true;
                c.dropped += (pending.len() + rest.len()) as u64;
                pending.clear();
                shared.capped.notify_one();
                return;
            }
            c.delivered_bytes += len;
            c.lines += 1;
            pending.extend_from_slice(piece);
            let mut text = std::mem::take(pending);
            if text.last() == Some(&b'\n') {
                text.pop();
            }
            batch.push(OutputLine {
                stream,
                ts_us,
                text: String::from_utf8(text)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            });
        } else {
            pending.extend_from_slice(piece);
        }
        rest = &rest[piece.len()..];
    }
}
