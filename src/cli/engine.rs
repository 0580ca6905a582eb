//! Shared by the pipeline subcommands (`new`, `retry`, `resume`): start the engine for one
//! command, follow one operation's events with live per-stage progress on stderr, and sum up
//! how the run ended. Only the engine API is used; the summary reads the store read-only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::Instant;

use anyhow::Context as _;
use kiln::engine::api::{Event, Events};
use kiln::engine::ids::{OpId, RunId};
use kiln::engine::store::Status;
use kiln::engine::untrusted::inert;
use kiln::engine::{Engine, EngineHandle, EngineOptions};
use serde::Serialize;

use super::{Context, Format};

/// A multi-threaded runtime: stages, the store writer and the sandbox supervisor run together.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Starts the engine on the current runtime.
pub(crate) fn start(ctx: &Context) -> anyhow::Result<EngineHandle> {
    ctx.open_store()?; // creates the data directory on first use, migrates
    let exe = std::env::current_exe().context("cannot find the kiln executable")?;
    Engine::start(EngineOptions {
        paths: ctx.paths.clone(),
        config: ctx.config.config.clone(),
        env: ctx.env.clone(),
        init_program: exe,
    })
    .context("cannot start the engine")
}

/// One gate's last verdict.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GateLine {
    pub(crate) gate: String,
    pub(crate) passed: bool,
    pub(crate) detail: String,
    pub(crate) iteration: u32,
}

/// One stage attempt as the operation reported it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StageLine {
    pub(crate) name: String,
    pub(crate) iteration: u32,
    pub(crate) attempt: u32,
    pub(crate) status: Option<Status>,
    pub(crate) error: Option<String>,
    pub(crate) cached: bool,
    pub(crate) tokens: u64,
    pub(crate) elapsed_ms: u128,
}

/// How the followed operation ended.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Followed {
    pub(crate) run: Option<RunId>,
    pub(crate) status: Option<Status>,
    pub(crate) error: Option<String>,
    pub(crate) stages: Vec<StageLine>,
    pub(crate) gates: BTreeMap<String, GateLine>,
    pub(crate) tests: Option<(u32, u32, u32, u32)>,
    pub(crate) exported: Vec<String>,
    /// The operation itself failed (before or around the run).
    pub(crate) op_error: Option<String>,
}

/// Follows `op` until it ends, printing progress to stderr in human mode. Ctrl-C cancels the
/// run (the engine records it as cancelled).
pub(crate) async fn follow(
    ctx: &Context,
    engine: &EngineHandle,
    events: &mut Events,
    op: OpId,
) -> Followed {
    let show = ctx.format == Format::Human && ctx.verbosity >= 0;
    let redraw = show && std::io::stderr().is_terminal();
    let mut out = Followed::default();
    let mut started: BTreeMap<i64, (usize, Instant)> = BTreeMap::new();
    let mut last_draw = Instant::now();
    let mut err = std::io::stderr();
    let cancel_engine = engine.clone();
    let mut interrupted = false;
    loop {
        let next = tokio::select! {
            e = events.next() => e,
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                if let Some(run) = out.run {
                    if show {
                        eprintln!("\nkiln: cancelling run {run}…");
                    }
                    cancel_engine.submit(kiln::engine::Op::CancelRun { run });
                }
                continue;
            }
        };
        let Some(e) = next else { break };
        if e.op != Some(op) {
            continue;
        }
        if out.run.is_none() {
            out.run = e.run;
        }
        match e.event {
            Event::RunCreated { .. } => {
                if show && let Some(run) = e.run {
                    eprintln!("kiln: run {run}");
                }
            }
            Event::StageStarted {
                stage,
                name,
                attempt,
                iteration,
            } => {
                out.stages.push(StageLine {
                    name: name.clone(),
                    iteration,
                    attempt,
                    status: None,
                    error: None,
                    cached: false,
                    tokens: 0,
                    elapsed_ms: 0,
                });
                started.insert(stage.get(), (out.stages.len() - 1, Instant::now()));
                if redraw {
                    let _ = write!(err, "\r\x1b[2K  {} …", label(&name, iteration, attempt));
                    let _ = err.flush();
                }
            }
            Event::ModelDelta {
                stage: Some(stage), ..
            } => {
                if let Some((i, t0)) = started.get(&stage.get()) {
                    let line = &mut out.stages[*i];
                    line.tokens += 1;
                    if redraw && last_draw.elapsed().as_millis() > 100 {
                        last_draw = Instant::now();
                        let _ = write!(
                            err,
                            "\r\x1b[2K  {}  {} tokens  {:.1}s",
                            label(&line.name, line.iteration, line.attempt),
                            line.tokens,
                            t0.elapsed().as_secs_f32()
                        );
                        let _ = err.flush();
                    }
                }
            }
            Event::StageFinished {
                stage,
                status,
                error,
                cached,
                ..
            } => {
                if let Some((i, t0)) = started.get(&stage.get()) {
                    let line = &mut out.stages[*i];
                    line.status = Some(status);
                    line.error.clone_from(&error);
                    line.cached = cached;
                    line.elapsed_ms = t0.elapsed().as_millis();
                    if show {
                        if redraw {
                            let _ = write!(err, "\r\x1b[2K");
                        }
                        let mark = match status {
                            Status::Succeeded => "✓",
                            Status::Skipped => "–",
                            Status::Cancelled => "⊘",
                            _ => "✗",
                        };
                        let mut text = format!(
                            "{mark} {}  {:.1}s",
                            label(&line.name, line.iteration, line.attempt),
                            t0.elapsed().as_secs_f32()
                        );
                        if line.tokens > 0 {
                            let _ = write!(text, "  {} tokens", line.tokens);
                        }
                        if cached {
                            text.push_str("  (reused: same inputs as an earlier run)");
                        }
                        if let Some(error) = &error {
                            let _ = write!(text, "\n    {}", inert(error));
                        }
                        eprintln!("{text}");
                    }
                }
            }
            Event::TestResults {
                passed,
                failed,
                skipped,
                errors,
                ..
            } => {
                out.tests = Some((passed, failed, skipped, errors));
                if show {
                    eprintln!(
                        "    tests: {passed} passed, {failed} failed, {errors} errors, {skipped} skipped"
                    );
                }
            }
            Event::GateEvaluated {
                gate,
                passed,
                detail,
                iteration,
            } => {
                if show {
                    eprintln!(
                        "    gate {gate}: {} {}",
                        if passed { "pass" } else { "FAIL" },
                        inert(&detail)
                    );
                }
                out.gates.insert(
                    gate.clone(),
                    GateLine {
                        gate,
                        passed,
                        detail,
                        iteration,
                    },
                );
            }
            Event::Exported { files, .. } => out.exported = files,
            Event::RunFinished { status, error } => {
                out.status = Some(status);
                out.error = error;
            }
            Event::OpFailed { error, .. } => {
                out.op_error = Some(error);
                break;
            }
            Event::OpDone => break,
            _ => {}
        }
    }
    out
}

fn label(name: &str, iteration: u32, attempt: u32) -> String {
    let mut s = name.to_owned();
    if iteration > 0 {
        let _ = write!(s, " #{iteration}");
    }
    if attempt > 1 {
        let _ = write!(s, " (attempt {attempt})");
    }
    s
}
