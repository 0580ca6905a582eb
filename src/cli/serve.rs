//! `kiln serve RUN|PATH`: serve a project directory, or the final files of a pipeline run, as
//! a long-running sandboxed service on 127.0.0.1.
//!
//! A directory is bound read-only; a run's files are written into a scratch copy kiln owns
//! (writable by the app, removed when the service ends). An argument that names an existing
//! directory is a PATH, even when it looks like a number.
//!
//! Streams the service's logs to stderr, prints the URL on stdout once the health check passes
//! (a JSON event per line with `--format json`), and runs until the service exits, `kiln stop`
//! or a signal. Exit codes: 0 stopped on request (or the app exited 0), 1 the service failed
//! (never healthy, or exited non-zero), 2 usage error, 125 the sandbox could not be set up.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::sandbox::{ByteSize, HumanDuration, OutputLine, Recording, RunSpec, Sandbox};
use kiln::engine::serve::{self, Health, Prepared, ServeSpec};
use kiln::engine::store::{NewRun, NewService, RunKind, Status, Store};
use kiln::engine::untrusted;

use super::{Context, Format};

/// Lines of the service's log repeated in the error when it never became healthy.
const TAIL: usize = 20;
/// Start-up lines kept too: health-check requests can push them out of the tail.
const HEAD: usize = 10;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A pipeline run id (its final files are served from a scratch copy) or the project
    /// directory to serve (bound read-only; the app's working directory)
    #[arg(value_name = "RUN|PATH")]
    target: String,
    /// Host port on 127.0.0.1 [default: a free port]
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// The start command, run by `sh -c` in the sandbox ($PORT and $HOST are set)
    /// [default: inferred from the project]
    #[arg(long, value_name = "COMMAND")]
    cmd: Option<String>,
    /// Where the app listens inside the sandbox (its PORT)
    #[arg(long, value_name = "N", default_value_t = 8000)]
    app_port: u16,
    /// HTTP path whose 2xx/3xx answer means "up" [default: a TCP connect]
    #[arg(long, value_name = "PATH")]
    health: Option<String>,
    /// How long the service may take to become healthy
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    health_timeout: HumanDuration,
    /// CPU time per process [default: sandbox.cpu]
    #[arg(long, value_name = "DURATION")]
    cpu: Option<HumanDuration>,
    /// Memory of the service [default: sandbox.memory]
    #[arg(long, value_name = "SIZE")]
    memory: Option<ByteSize>,
    /// Processes and threads of the service [default: sandbox.pids]
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
    /// Bind a host path read-only at the same path (repeatable): a venv, a toolchain
    #[arg(long, value_name = "PATH")]
    ro: Vec<PathBuf>,
    /// Set a variable for the service (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    env: Vec<String>,
}

pub(crate) fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve_dir(ctx, args))
}

fn abs(ctx: &Context, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        ctx.cwd.join(p)
    }
}

/// The app's command and a note on where it came from.
fn command(ctx: &Context, args: &Args, dir: &Path) -> anyhow::Result<(Vec<String>, String)> {
    if let Some(cmd) = &args.cmd {
        return Ok((vec!["sh".into(), "-c".into(), cmd.clone()], "--cmd".into()));
    }
    let path_var = ctx
        .env
        .get("PATH")
        .unwrap_or("/usr/local/bin:/usr/bin:/bin");
    let dirs: Vec<&Path> = path_var.split(':').map(Path::new).collect();
    let found = serve::infer(dir, args.app_port, &dirs).with_context(|| {
        format!(
            "cannot tell how to start '{}': no Flask or FastAPI app (app.py, main.py, server.py), no package.json start script and no index.html; pass --cmd \"...\"",
            dir.display()
        )
    })?;
    Ok((found.argv, format!("inferred: {}", found.reason)))
}

fn spec(
    ctx: &Context,
    args: &Args,
    dir: PathBuf,
    command: Vec<String>,
) -> anyhow::Result<ServeSpec> {
    let config = &ctx.config.config.sandbox;
    let mut run = RunSpec::new(Vec::new(), config, &ctx.env);
    let mut extra = Vec::new();
    for kv in &args.env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--env '{kv}' is not KEY=VALUE"))?;
        extra.push((k.to_owned(), v.to_owned()));
    }
    run.env = RunSpec::scrubbed_env(&ctx.env, &config.env, &extra);
    run.ro.extend(args.ro.iter().map(|p| abs(ctx, p)));
    if let Some(v) = args.cpu {
        run.cpu = v.0;
    }
    if let Some(v) = args.memory {
        run.memory = v.0;
    }
    if let Some(v) = args.pids {
        run.pids = v;
    }
    let tmp = PathBuf::from(ctx.env.get("TMPDIR").unwrap_or("/tmp"));
    Ok(ServeSpec {
        dir,
        writable: false,
        command,
        app_port: args.app_port,
        run,
        kiln_exe: std::env::current_exe().context("cannot find the kiln executable")?,
        scratch_parent: tmp,
    })
}

/// Prints one service log line on stderr, made inert for a terminal.
fn echo(line: &OutputLine, tty: bool) {
    let text = if tty {
        untrusted::keep_sgr(&line.text)
    } else {
        line.text.as_str().into()
    };
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn event(ctx: &Context, value: &serde_json::Value, human: &str) {
    match ctx.format {
        Format::Json => println!("{value}"),
        Format::Human => println!("{human}"),
    }
    let _ = std::io::stdout().flush();
}

/// What is served: a directory, or a run's files in a scratch copy (kept alive with it).
struct Target {
    dir: PathBuf,
    run: Option<(i64, tempfile::TempDir)>,
}

fn target(ctx: &Context, store: &Store, arg: &str) -> anyhow::Result<Target> {
    let given = abs(ctx, Path::new(arg));
    if let Some(dir) = std::fs::canonicalize(&given).ok().filter(|d| d.is_dir()) {
        return Ok(Target { dir, run: None });
    }
    let Ok(id) = arg.parse::<i64>() else {
        anyhow::bail!(
            "'{}' is neither a directory nor a run id; pass the project directory or a run id (kiln runs)",
            given.display()
        );
    };
    let tmp = PathBuf::from(ctx.env.get("TMPDIR").unwrap_or("/tmp"));
    let scratch = serve::run_files(store, id, &tmp)?;
    let dir = std::fs::canonicalize(scratch.path())
        .context("cannot resolve the run's scratch directory")?;
    Ok(Target {
        dir,
        run: Some((id, scratch)),
    })
}

async fn serve_dir(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let served = target(ctx, &store, &args.target)?;
    let dir = served.dir.clone();
    let source_run = served.run.as_ref().map(|(id, _)| *id);
    let listener = serve::bind(args.port)?;
    let (command, origin) = command(ctx, &args, &dir)?;
    let health = args.health.clone().map_or(Health::Tcp, Health::Http);
    let mut serve_spec = spec(ctx, &args, dir.clone(), command.clone())?;
    serve_spec.writable = source_run.is_some();
    let prepared = Prepared::new(serve_spec, listener)?;
    let url = format!("http://127.0.0.1:{}", prepared.port());
    let what = source_run.map_or_else(
        || format!("'{}'", dir.display()),
        |id| format!("run {id}'s files"),
    );
    eprintln!(
        "kiln serve: starting {} ({origin}) for {what} in the sandbox; app port {} inside, {url} outside",
        untrusted::inert(&shell_words(&command)),
        args.app_port
    );

    let run = store.start_run(&NewRun {
        project_id: None,
        request_id: None,
        kind: RunKind::Service,
    })?;
    let mut recording = Recording::start(&store, &prepared.run, Some((run.id, None)))
        .context("cannot record the service")?;
    let me = std::process::id();
    let service_id = store.insert_service(&NewService {
        run_id: run.id,
        dir: &dir,
        command: &command,
        url: &url,
        host_port: prepared.port(),
        app_port: args.app_port,
        pid: me,
        pid_start: serve::process_start(me),
    })?;
    let sandbox = Sandbox::new(
        std::env::current_exe().context("cannot find the kiln executable")?,
        ctx.env.get("TMPDIR").unwrap_or("/tmp"),
    );
    let (service, mut handle) = match prepared.start(&sandbox) {
        Ok(started) => started,
        Err(e) => {
            let msg = e.to_string();
            let _ = store.service_ended(service_id, None, Some(&msg));
            let _ = store.finish_run(run.id, Status::Failed, Some(&msg));
            eprintln!("kiln serve: {e}");
            return Ok(ExitCode::from(125));
        }
    };

    let cancel = handle.cancel_token();
    let stop_requested = tokio_util::sync::CancellationToken::new();
    let stopped = stop_requested.clone();
    let signals = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut hup = signal(SignalKind::hangup()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async { term.as_mut()?.recv().await } => {}
            Some(()) = async { hup.as_mut()?.recv().await } => {}
        }
        stopped.cancel();
        cancel.cancel();
    });

    let tty = std::io::stderr().is_terminal();
    let mut head: Vec<String> = Vec::new();
    let mut skipped = 0usize;
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let healthy = service.wait_healthy(&health, args.health_timeout.0);
    tokio::pin!(healthy);
    let mut up: Option<bool> = None;
    loop {
        tokio::select! {
            batch = handle.next_batch() => {
                let Some(batch) = batch else { break };
                for line in batch {
                    echo(&line, tty);
                    if up.is_none() {
                        if head.len() < HEAD {
                            head.push(line.text.clone());
                        } else {
                            if tail.len() == TAIL {
                                tail.pop_front();
                                skipped += 1;
                            }
                            tail.push_back(line.text.clone());
                        }
                    }
                    recording.line(line);
                }
            }
            ok = &mut healthy, if up.is_none() => {
                up = Some(ok);
                if ok {
                    store.service_up(service_id)?;
                    event(
                        ctx,
                        &serde_json::json!({
                            "event": "up", "url": url, "port": service.port(),
                            "service_id": service_id, "run_id": run.id, "command": command,
                            "source_run": source_run, "dir": dir,
                        }),
                        &format!("serving {what} at {url} (service {service_id}; stop with: kiln stop {service_id})"),
                    );
                } else {
                    handle.cancel();
                }
            }
        }
    }
    signals.abort();
    let outcome = handle.wait().await;
    let user_stop = stop_requested.is_cancelled();
    let (code, error) = match (&outcome, up) {
        (Err(e), _) => (None, Some(e.to_string())),
        (Ok(_), Some(false)) => (
            None,
            Some(format!(
                "the service did not become healthy within {} ({})",
                humantime::format_duration(args.health_timeout.0),
                match &health {
                    Health::Http(p) => format!("GET {p} never answered 2xx/3xx"),
                    Health::Tcp =>
                        format!("nothing accepted connections on port {}", args.app_port),
                }
            )),
        ),
        (Ok(o), None) if !user_stop => (
            Some(i32::from(o.exit_code())),
            Some(format!(
                "the service exited (code {}) before it became healthy",
                o.exit_code()
            )),
        ),
        (Ok(o), _) => {
            let c = i32::from(o.exit_code());
            let failed = !user_stop && c != 0;
            (
                Some(c),
                failed.then(|| format!("the service exited with code {c}")),
            )
        }
    };
    finish(
        &store,
        recording,
        &outcome,
        service_id,
        run.id,
        code,
        error.as_deref(),
    );
    if let Some(e) = &error {
        let mut msg = format!("kiln serve: {e}");
        if up != Some(true) && !head.is_empty() {
            msg.push_str("; its log:");
            for l in &head {
                msg.push_str("\n  | ");
                msg.push_str(&untrusted::inert(l));
            }
            if skipped > 0 {
                msg.push_str("\n  | … ");
                msg.push_str(&skipped.to_string());
                msg.push_str(" more lines in the run's log (kiln logs) …");
            }
            for l in &tail {
                msg.push_str("\n  | ");
                msg.push_str(&untrusted::inert(l));
            }
        }
        eprintln!("{msg}");
    }
    event(
        ctx,
        &serde_json::json!({"event": "stopped", "service_id": service_id, "exit_code": code, "error": error}),
        &format!("service {service_id} stopped"),
    );
    Ok(match (&outcome, &error) {
        (Err(_), _) => ExitCode::from(125),
        (Ok(_), Some(_)) => ExitCode::from(1),
        (Ok(_), None) => ExitCode::SUCCESS,
    })
}

fn finish(
    store: &Store,
    recording: Recording<'_>,
    outcome: &Result<kiln::engine::sandbox::Outcome, kiln::engine::sandbox::Error>,
    service_id: i64,
    run_id: i64,
    code: Option<i32>,
    error: Option<&str>,
) {
    let recorded = match outcome {
        Ok(o) => recording.finish(Ok(o)),
        Err(e) => recording.finish(Err(e)),
    };
    if let Err(e) = recorded {
        eprintln!("kiln serve: warning: cannot record the outcome: {e}");
    }
    let status = if error.is_some() {
        Status::Failed
    } else {
        Status::Succeeded
    };
    if let Err(e) = store
        .service_ended(service_id, code, error)
        .and_then(|()| store.finish_run(run_id, status, error).map(|_| ()))
    {
        eprintln!("kiln serve: warning: cannot record the end of the service: {e}");
    }
}

/// The argv as one line a user could paste into a shell.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=$".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
