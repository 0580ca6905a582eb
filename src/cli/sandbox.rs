//! `kiln sandbox run|check`: run a command in the sandbox, or self-test every layer.
//!
//! `run` streams the program's stdout and stderr to ours, prints a one-line summary on stderr
//! (JSON with `--format json`) and exits with the program's code, 128+signal when a signal killed
//! it, 201 timeout, 202 CPU, 203 memory, 204 output limit, 130 when cancelled, 125 when the
//! sandbox could not be set up (see docs/sandbox.md).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use kiln::engine::sandbox::{
    ByteSize, HumanDuration, Isolation, Limit, MemoryEnforcement, Outcome, OutputLine, Recording,
    RunSpec, Sandbox, Stream, Termination,
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
    let rt = tokio::runtime::Builder::new_current_thread()
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

async fn run_command(ctx: &Context, args: RunArgs) -> anyhow::Result<ExitCode> {
    let spec = spec_from_args(ctx, args)?;
    // Before anything is recorded or started.
    spec.validate()?;
    if spec.isolation == Isolation::UnsafeNone {
        eprintln!(
            "kiln sandbox: WARNING: --unsafe-no-isolation: this program runs with your user's full access to files, network and processes; only rlimits apply"
        );
    }
    let t_open = std::time::Instant::now();
    let store = ctx.open_store()?;
    let open_us = t_open.elapsed().as_micros() as u64;
    let t_record = std::time::Instant::now();
    let mut recording =
        Recording::start(&store, &spec, None).context("cannot record the sandbox run")?;
    let record_start_us = t_record.elapsed().as_micros() as u64;
    let process_id = recording.process_id();
    let limits = (spec.timeout, spec.cpu);
    let mut handle = match sandbox(ctx)?.start(&spec) {
        Ok(h) => h,
        Err(e) => return failed_to_start(recording, &e),
    };

    let cancel = handle.cancel_token();
    let signals = tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async { term.as_mut()?.recv().await } => {}
            Some(()) = async { hup.as_mut()?.recv().await } => {}
        }
        cancel.cancel();
    });

    // Program output is untrusted: on a terminal only its SGR colours pass, every other control
    // sequence is shown inert. Piped output stays byte-exact; so does the store.
    let out_tty = std::io::stdout().is_terminal();
    let err_tty = std::io::stderr().is_terminal();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let mut err = std::io::stderr().lock();
    let mut said_store_error = false;
    while let Some(batch) = handle.next_batch().await {
        for line in batch {
            let _ = match line.stream {
                Stream::Stdout => write_line(&mut out, &line, out_tty),
                Stream::Stderr => {
                    let _ = out.flush();
                    write_line(&mut err, &line, err_tty)
                }
            };
            recording.line(line);
        }
        if let Some(e) = recording.take_new_error() {
            said_store_error = true;
            let _ = out.flush();
            let _ = writeln!(
                err,
                "kiln sandbox: warning: cannot record the output (still shown here; retrying while the program runs): {e}"
            );
        }
        if handle.is_idle() {
            let _ = out.flush();
        }
    }
    let _ = out.flush();
    drop(out);
    drop(err);
    signals.abort();

    let outcome = match handle.wait().await {
        Ok(o) => o,
        Err(e) => return failed_to_start(recording, &e),
    };
    let t_finish = std::time::Instant::now();
    let recorded = recording
        .finish(Ok(&outcome))
        .context("cannot record the outcome")?;
    let record_finish_us = t_finish.elapsed().as_micros() as u64;
    if recorded.lines_dropped > 0 {
        eprintln!(
            "kiln sandbox: warning: {} output lines were not recorded{}; the run is marked failed in the database",
            recorded.lines_dropped,
            match &recorded.error {
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
            v["process_id"] = process_id.into();
            v["supervisor_max_rss_kb"] = supervisor_rss.into();
            v["log_lines_not_recorded"] = recorded.lines_dropped.into();
            // SQL statements this command ran (opening the store, recording; see docs/sandbox.md).
            v["db_statements"] = kiln::engine::store::statements_run().into();
            // The CLI's own phases around the engine's (see docs/sandbox.md).
            v["phases"]["db_open_us"] = open_us.into();
            v["phases"]["record_start_us"] = record_start_us.into();
            v["phases"]["record_finish_us"] = record_finish_us.into();
            eprintln!("{v}");
        }
        Format::Human => eprintln!("{}", summary(&outcome, limits, recorded.lines_dropped)),
    }
    Ok(ExitCode::from(outcome.exit_code()))
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

/// Records and reports a run the sandbox could not set up (exit 125).
fn failed_to_start(
    recording: Recording<'_>,
    e: &kiln::engine::sandbox::Error,
) -> anyhow::Result<ExitCode> {
    recording
        .finish(Err(e))
        .context("cannot record the failed start")?;
    eprintln!("kiln sandbox: {e}");
    Ok(ExitCode::from(125))
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
