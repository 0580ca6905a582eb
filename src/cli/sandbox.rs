//! `kiln sandbox run|check`: run a command in the sandbox, or self-test every layer.
//!
//! `run` is a front-end of the engine's `Op::RunSandbox` (the engine records the run in the
//! project containing the working directory). It streams the program's stdout and stderr to
//! ours, prints a one-line summary on stderr
//! (JSON with `--format json`) and exits with the program's code, 128+signal when a signal killed
//! it, 201 timeout, 202 CPU, 203 memory, 204 output limit, 130 when cancelled, 125 when the
//! sandbox could not be set up (see docs/sandbox.md).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use kiln::engine::EngineHandle;
use kiln::engine::api::{Event, Events, Op, ProjectRef, SandboxParams};
use kiln::engine::ids::{OpId, ProcessId, RunId};
use kiln::engine::sandbox::{
    ByteSize, HumanDuration, Isolation, Limit, MemoryEnforcement, Outcome, OutputLine, RunSpec,
    Sandbox, Stream, Termination,
};

use kiln::engine::untrusted;

use super::{Context, Format, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Run a command in the sandbox: kiln sandbox run [OPTIONS] -- CMD ARGS...
    Run(Box<RunArgs>),
    /// Self-test every isolation layer on this host and print a table
    Check,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Wall-clock limit [default: sandbox.timeout]
    #[arg(long, value_name = "DURATION")]
    timeout: Option<HumanDuration>,
    /// CPU time per process [default: sandbox.cpu]
    #[arg(long, value_name = "DURATION")]
    cpu: Option<HumanDuration>,
    /// Memory of the run [default: sandbox.memory]
    #[arg(long, value_name = "SIZE")]
    memory: Option<ByteSize>,
    /// Processes and threads of the run [default: sandbox.pids]
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
    /// Output bytes kept before the run is killed [default: sandbox.output]
    #[arg(long, value_name = "SIZE")]
    output: Option<ByteSize>,
    /// Output lines kept before the run is killed [default: sandbox.output_lines]
    #[arg(long, value_name = "N")]
    output_lines: Option<u64>,
    /// Open files per process [default: sandbox.open_files]
    #[arg(long, value_name = "N")]
    open_files: Option<u64>,
    /// Size of the fresh work dir and of /tmp; largest file [default: sandbox.disk]
    #[arg(long, value_name = "SIZE")]
    disk: Option<ByteSize>,
    /// Bind a host path read-only at the same path (repeatable)
    #[arg(long, value_name = "PATH")]
    ro: Vec<PathBuf>,
    /// Bind a host path read-write at the same path (repeatable)
    #[arg(long, value_name = "PATH")]
    rw: Vec<PathBuf>,
    /// Set a variable for the program (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Pass a variable from kiln's environment (repeatable)
    #[arg(long, value_name = "NAME")]
    pass_env: Vec<String>,
    /// Working directory, bound read-write [default: a fresh temporary directory]
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Let this secret-looking variable (a model's key, *_API_KEY, *_TOKEN, *_SECRET) be passed
    /// with --pass-env/--env/sandbox.env (repeatable)
    #[arg(long, value_name = "NAME")]
    allow_secret: Vec<String>,
    /// Run WITHOUT namespaces, seccomp or Landlock: rlimits and a clean environment only
    #[arg(long)]
    unsafe_no_isolation: bool,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

pub(crate) fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    // Two workers: the engine records the run's output on a blocking thread that drives the
    // sandbox's futures, while this thread shows the output.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cmd {
        Command::Run(args) => rt.block_on(run_command(ctx, *args)),
        Command::Check => rt.block_on(check(ctx)),
    }
}

fn sandbox(ctx: &Context) -> anyhow::Result<Sandbox> {
    let exe = std::env::current_exe().context("cannot find the kiln executable")?;
    let tmp = ctx.env.get("TMPDIR").unwrap_or("/tmp");
    Ok(Sandbox::new(exe, tmp))
}

fn spec_from_args(ctx: &Context, args: RunArgs) -> anyhow::Result<RunSpec> {
    let config = &ctx.config.config.sandbox;
    let mut spec = RunSpec::new(args.command, config, &ctx.env);
    let mut extra = Vec::new();
    for kv in &args.env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--env '{kv}' is not KEY=VALUE"))?;
        extra.push((k.to_owned(), v.to_owned()));
    }
    let mut pass = config.env.clone();
    pass.extend(args.pass_env);
    spec.env = RunSpec::scrubbed_env(&ctx.env, &pass, &extra);
    let abs = |p: PathBuf| if p.is_absolute() { p } else { ctx.cwd.join(p) };
    spec.ro.extend(args.ro.into_iter().map(abs));
    spec.rw.extend(args.rw.into_iter().map(abs));
    spec.workdir = args.workdir.map(abs);
    if let Some(v) = args.timeout {
        spec.timeout = v.0;
    }
    if let Some(v) = args.cpu {
        spec.cpu = v.0;
    }
    if let Some(v) = args.memory {
        spec.memory = v.0;
    }
    if let Some(v) = args.pids {
        spec.pids = v;
    }
    if let Some(v) = args.output {
        spec.output_bytes = v.0;
    }
    if let Some(v) = args.output_lines {
        spec.output_lines = v;
    }
    if let Some(v) = args.open_files {
        spec.open_files = v;
    }
    if let Some(v) = args.disk {
        spec.disk = v.0;
    }
    if args.unsafe_no_isolation {
        spec.isolation = Isolation::UnsafeNone;
    }
    spec.allow_secrets = args.allow_secret;
    let model_keys: Vec<&str> = ctx
        .config
        .config
        .models
        .named
        .values()
        .filter_map(|m| m.api_key_env.as_deref())
        .collect();
    spec.refuse_secrets(&model_keys)?;
    Ok(spec)
}

/// `kiln sandbox run`: a front-end of `Op::RunSandbox`. The engine records the run (in the
/// project containing the working directory) and sends every output line here as it is read;
/// SIGINT, SIGTERM and SIGHUP cancel the run.
async fn run_command(ctx: &Context, args: RunArgs) -> anyhow::Result<ExitCode> {
    let spec = spec_from_args(ctx, args)?;
    // Before anything is recorded or started.
    spec.validate()?;
    if spec.isolation == Isolation::UnsafeNone {
        eprintln!(
            "kiln sandbox: WARNING: --unsafe-no-isolation: this program runs with your user's full access to files, network and processes; only rlimits apply"
        );
    }
    let limits = (spec.timeout, spec.cpu);
    let t_open = std::time::Instant::now();
    let engine = ctx.start_engine_without_feed()?;
    let open_us = t_open.elapsed().as_micros() as u64;
    let mut events = engine.subscribe();
    // A few batches in flight, like a pipe: more only holds output in memory.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let op = engine.submit(Op::RunSandbox(SandboxParams {
        spec,
        project: Some(ProjectRef::Containing(ctx.cwd.clone())),
        stream_output: false,
        output: Some(tx),
    }));
    let result = follow(&engine, &mut events, op, rx).await;
    // Close the database before exiting, whatever the outcome.
    engine.shutdown().await;
    let end = match result? {
        End::Finished(end) => *end,
        End::FailedToStart(error) => {
            eprintln!("kiln sandbox: {}", untrusted::inert(&error));
            return Ok(ExitCode::from(125));
        }
    };
    let Finished {
        process,
        outcome,
        lines_not_recorded,
        record_error,
        said_store_error,
        record_start_us,
        record_finish_us,
    } = end;
    if lines_not_recorded > 0 {
        eprintln!(
            "kiln sandbox: warning: {lines_not_recorded} output lines were not recorded{}; the run is marked failed in the database",
            match &record_error {
                Some(e) if !said_store_error => format!(" ({e})"),
                _ => String::new(),
            }
        );
    }
    let supervisor_rss = own_peak_rss_kb();
    match ctx.format {
        Format::Json => {
            let mut v = serde_json::to_value(&outcome)?;
            v["exit_code"] = outcome.exit_code().into();
            v["process_id"] = process.get().into();
            v["supervisor_max_rss_kb"] = supervisor_rss.into();
            v["log_lines_not_recorded"] = lines_not_recorded.into();
            // SQL statements this command ran (opening the store, recording; see docs/sandbox.md).
            v["db_statements"] = kiln::engine::store::statements_run().into();
            // The phases around the sandbox's own (see docs/sandbox.md): starting the engine
            // (opening the database), and the engine's recording.
            v["phases"]["db_open_us"] = open_us.into();
            v["phases"]["record_start_us"] = record_start_us.into();
            v["phases"]["record_finish_us"] = record_finish_us.into();
            eprintln!("{v}");
        }
        Format::Human => eprintln!("{}", summary(&outcome, limits, lines_not_recorded)),
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// How a sandboxed program ended, as the engine reported it.
struct Finished {
    process: ProcessId,
    outcome: Outcome,
    lines_not_recorded: u64,
    record_error: Option<String>,
    /// The store error was already said while the program ran.
    said_store_error: bool,
    record_start_us: u64,
    record_finish_us: u64,
}

enum End {
    Finished(Box<Finished>),
    /// The sandbox could not be set up: the engine's message.
    FailedToStart(String),
}

/// Copies the program's output to ours as the engine sends it and follows the operation's
/// events until it ends. A signal cancels the run.
async fn follow(
    engine: &EngineHandle,
    events: &mut Events,
    op: OpId,
    mut output: tokio::sync::mpsc::Receiver<Vec<OutputLine>>,
) -> anyhow::Result<End> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut cancelled = false;
    let mut run: Option<RunId> = None;
    let mut out = Output::new();
    let mut said_store_error = false;
    let mut finished: Option<Finished> = None;
    let mut failed_to_start = None;
    let mut output_open = true;
    loop {
        let envelope = tokio::select! {
            // Output first: every line is shown before the summary.
            biased;
            batch = output.recv(), if output_open => {
                match batch {
                    Some(batch) => out.show(&batch),
                    None => output_open = false,
                }
                continue;
            }
            envelope = events.next() => envelope,
            _ = &mut ctrl_c, if !cancelled => {
                cancelled = true;
                if let Some(run) = run {
                    engine.submit(Op::CancelRun { run });
                }
                continue;
            }
            Some(()) = async { term.as_mut()?.recv().await }, if !cancelled => {
                cancelled = true;
                if let Some(run) = run {
                    engine.submit(Op::CancelRun { run });
                }
                continue;
            }
            Some(()) = async { hup.as_mut()?.recv().await }, if !cancelled => {
                cancelled = true;
                if let Some(run) = run {
                    engine.submit(Op::CancelRun { run });
                }
                continue;
            }
        };
        let Some(envelope) = envelope else {
            anyhow::bail!("the engine stopped before the program ended");
        };
        if envelope.op != Some(op) {
            continue;
        }
        match envelope.event {
            Event::RunCreated { .. } => {
                run = envelope.run;
                if let Some(run) = run.filter(|_| cancelled) {
                    engine.submit(Op::CancelRun { run });
                }
            }
            Event::OutputNotRecorded { error, .. } => {
                said_store_error = true;
                out.flush();
                eprintln!(
                    "kiln sandbox: warning: cannot record the output (still shown here; retrying while the program runs): {error}"
                );
            }
            Event::ProcessFailedToStart { error, .. } => failed_to_start = Some(error),
            Event::SandboxFinished {
                process,
                outcome,
                lines_not_recorded,
                record_error,
                record_start_us,
                record_finish_us,
            } => {
                finished = Some(Finished {
                    process,
                    outcome: *outcome,
                    lines_not_recorded,
                    record_error,
                    said_store_error,
                    record_start_us,
                    record_finish_us,
                });
            }
            Event::OpDone | Event::OpFailed { .. } => {
                // The program's last lines were sent before its end was.
                while let Ok(batch) = output.try_recv() {
                    out.show(&batch);
                }
                out.flush();
                if let Some(error) = failed_to_start {
                    return Ok(End::FailedToStart(error));
                }
                if let Event::OpFailed { error, .. } = envelope.event {
                    anyhow::bail!(error);
                }
                return finished
                    .map(|f| End::Finished(Box::new(f)))
                    .context("the engine did not say how the program ended");
            }
            _ => {}
        }
    }
}

/// Our stdout and stderr, showing the program's lines. Program output is untrusted: on a
/// terminal only its SGR colours pass, every other control sequence is shown inert. Piped
/// output stays byte-exact; the store keeps the raw text.
struct Output {
    out: std::io::BufWriter<std::io::Stdout>,
    out_tty: bool,
    err_tty: bool,
}

impl Output {
    fn new() -> Self {
        Self {
            out: std::io::BufWriter::with_capacity(64 << 10, std::io::stdout()),
            out_tty: std::io::stdout().is_terminal(),
            err_tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, batch: &[OutputLine]) {
        let mut err = std::io::stderr().lock();
        for line in batch {
            let _ = match line.stream {
                Stream::Stdout => write_line(&mut self.out, line, self.out_tty),
                Stream::Stderr => {
                    let _ = self.out.flush();
                    write_line(&mut err, line, self.err_tty)
                }
            };
        }
        // A batch ends when the program goes quiet or the batch is full: show it now.
        let _ = self.out.flush();
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// Writes one line of the program's output: byte-exact, or for a terminal with only its SGR
/// colours kept.
fn write_line(w: &mut impl Write, line: &OutputLine, tty: bool) -> std::io::Result<()> {
    if tty {
        let text = untrusted::keep_sgr(&line.text);
        if line.newline {
            writeln!(w, "{text}")
        } else {
            write!(w, "{text}")
        }
    } else if line.is_text_line() {
        writeln!(w, "{}", line.text)
    } else {
        w.write_all(&line.exact_bytes())
    }
}

/// kiln's own peak resident memory in KiB (`VmHWM`). Not `getrusage`'s `ru_maxrss`: that
/// starts at the size of the process that spawned kiln (the parent's peak carries over through
/// `execve`), which made a busy test binary's 119-301 MB look like kiln's.
fn own_peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn secs(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

fn summary(o: &Outcome, (timeout, cpu): (Duration, Duration), not_recorded: u64) -> String {
    let how = match o.termination {
        Termination::Exited(c) => format!("exited {c}"),
        Termination::Signaled(s) => format!("killed by signal {s}"),
    };
    let mut parts = vec![how];
    match o.limit {
        Some(Limit::Timeout) => parts.push(format!(
            "TIMEOUT after {}",
            humantime::format_duration(timeout)
        )),
        Some(Limit::Cpu) => parts.push(format!("CPU LIMIT {}", humantime::format_duration(cpu))),
        Some(l) => parts.push(format!("{} LIMIT", l.as_str().to_uppercase())),
        None => {}
    }
    if o.cancelled {
        parts.push("cancelled".into());
    }
    parts.push(format!(
        "wall {} user {} sys {}",
        secs(o.wall_ms),
        secs(o.user_ms),
        secs(o.sys_ms)
    ));
    parts.push(format!("max rss {}K", o.max_rss_kb));
    parts.push(format!("{} lines", o.lines));
    if o.bytes_dropped > 0 {
        parts.push(format!("{} bytes dropped", o.bytes_dropped));
    }
    if not_recorded > 0 {
        parts.push(format!("{not_recorded} lines NOT RECORDED"));
    }
    let enforcement = |m: MemoryEnforcement| match m {
        MemoryEnforcement::CgroupV1 => "cgroup v1",
        MemoryEnforcement::CgroupV2 => "cgroup v2",
        MemoryEnforcement::Rlimit => "rlimit",
    };
    parts.push(format!(
        "memory/pids via {}/{}",
        enforcement(o.memory_enforcement),
        enforcement(o.pids_enforcement)
    ));
    if o.isolation == Isolation::UnsafeNone {
        parts.push("NO ISOLATION".into());
    }
    format!("kiln sandbox: {}", parts.join(" | "))
}

// ------------------------------------------------------------------------------ check

const PROBE: &str = r#"
echo "uid_map=$(tr -s ' ' < /proc/self/uid_map | sed 's/^ //' | tr ' ' ,)"
echo "pid=$$"
echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ,)"
test -e "$1" && echo home=visible || echo home=hidden
test -e "$2" && echo db=visible || echo db=hidden
if (echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null; then echo procsys=writable; else echo procsys=readonly; fi
test -e /sys/kernel && echo sys=visible || echo sys=hidden
grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status | tr -d '\t ' | tr ':' =
ls /proc/self/fd | tr '\n' , | sed 's/^/fds=/'; echo
echo "vars=$(env | cut -d= -f1 | sort | tr '\n' ,)"
"#;

#[derive(serde::Serialize)]
struct CheckRow {
    layer: &'static str,
    ok: bool,
    detail: String,
}

/// Every layer `check` reports, in table order.
const LAYERS: &[&str] = &[
    "start",
    "user namespace",
    "pid namespace",
    "network namespace",
    "fresh root",
    "/proc/sys read-only",
    "seccomp",
    "no_new_privs",
    "capabilities",
    "fds",
    "environment",
    "landlock",
    "memory cgroup",
    "pids cgroup",
];

/// Layers decided by one probe value: (layer, probe key, expected value, what the value is).
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    ("pid namespace", "pid", "2", "program is pid"),
    ("network namespace", "ifaces", "lo,", "interfaces:"),
    ("seccomp", "Seccomp", "2", "mode"),
    ("no_new_privs", "NoNewPrivs", "1", "NoNewPrivs"),
    ("fds", "fds", "0,1,2,3,", "open in a child:"),
];

/// One row per isolation layer, from the probe's `key=value` lines and the run's outcome.
fn layer_rows(vals: &std::collections::BTreeMap<String, String>, o: &Outcome) -> Vec<CheckRow> {
    let get = |k: &str| vals.get(k).cloned().unwrap_or_default();
    let row = |layer: &'static str, ok: bool, detail: String| CheckRow { layer, ok, detail };
    let map = get("uid_map");
    let outside = map.split(',').nth(1).unwrap_or("?").to_owned();
    let mut rows = vec![
        row(
            "start",
            o.termination == Termination::Exited(0),
            format!("setup {} ms, total {} ms", o.setup_ms, o.wall_ms),
        ),
        row(
            "user namespace",
            !map.is_empty() && outside != "0",
            format!("uid map {map} (host uid {outside})"),
        ),
    ];
    for &(layer, key, want, what) in EXPECTED {
        let got = get(key);
        rows.push(row(layer, got == want, format!("{what} {got}")));
    }
    rows.extend([
        row(
            "fresh root",
            get("home") == "hidden" && get("db") == "hidden",
            format!("home {}, database {}", get("home"), get("db")),
        ),
        row(
            "/proc/sys read-only",
            get("procsys") == "readonly" && get("sys") == "hidden",
            format!("/proc/sys {}, /sys {}", get("procsys"), get("sys")),
        ),
        row(
            "capabilities",
            get("CapEff").trim_start_matches('0').is_empty()
                && get("CapBnd").trim_start_matches('0').is_empty(),
            format!("effective {}, bounding {}", get("CapEff"), get("CapBnd")),
        ),
        row(
            "environment",
            !get("vars").contains("API_KEY") && get("vars").contains("KILN_SANDBOX"),
            format!("variables: {}", get("vars")),
        ),
        row("landlock", o.landlock != "none", o.landlock.clone()),
    ]);
    for (layer, m) in [
        ("memory cgroup", o.memory_enforcement),
        ("pids cgroup", o.pids_enforcement),
    ] {
        rows.push(row(layer, m != MemoryEnforcement::Rlimit, format!("{m:?}")));
    }
    rows.sort_by_key(|r| LAYERS.iter().position(|l| *l == r.layer));
    rows
}

async fn check(ctx: &Context) -> anyhow::Result<ExitCode> {
    let home = ctx.env.get("HOME").unwrap_or("/root").to_owned();
    let db = ctx.paths.db.display().to_string();
    let argv = ["/bin/sh", "-c", PROBE, "probe", &home, &db]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut spec = RunSpec::new(argv, &ctx.config.config.sandbox, &ctx.env);
    spec.env = RunSpec::scrubbed_env(&kiln::engine::env::Env::default(), &[], &[]);
    let mut rows = Vec::new();
    let failed_start = |e: &dyn std::fmt::Display| CheckRow {
        layer: "start",
        ok: false,
        detail: e.to_string(),
    };
    match sandbox(ctx)?.start(&spec) {
        Err(e) => rows.push(failed_start(&e)),
        Ok(mut handle) => {
            let mut vals = std::collections::BTreeMap::new();
            while let Some(line) = handle.next_line().await {
                if let Some((k, v)) = line.text.split_once('=') {
                    vals.insert(k.to_owned(), v.to_owned());
                }
            }
            match handle.wait().await {
                Err(e) => rows.push(failed_start(&e)),
                Ok(o) => rows.extend(layer_rows(&vals, &o)),
            }
        }
    }
    // Optional layers only warn: the run is still isolated without them.
    let optional = ["landlock", "memory cgroup", "pids cgroup"];
    let failed = rows.iter().any(|r| !r.ok && !optional.contains(&r.layer));
    match ctx.format {
        Format::Json => output::print_json(&rows)?,
        Format::Human => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let status = match (r.ok, optional.contains(&r.layer)) {
                        (true, _) => "ok",
                        (false, true) => "warn",
                        (false, false) => "FAIL",
                    };
                    vec![status.to_owned(), r.layer.to_owned(), r.detail.clone()]
                })
                .collect();
            output::print_table(&["STATUS", "LAYER", "DETAIL"], &table);
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
