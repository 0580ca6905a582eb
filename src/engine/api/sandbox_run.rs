//! `Op::RunSandbox`: one program in the sandbox, recorded as a run of kind `sandbox` (in the
//! project containing its work directory, or the one named): the process, every output line
//! and how it ended.
//!
//! Events, in order: `RunCreated`; `ProcessOutput` batches as the lines are read (when asked,
//! before they are stored: live display must not wait for a locked database; the lossless
//! copy for a front-end goes through [`SandboxParams::output`] instead);
//! `OutputNotRecorded` once if the store refuses lines; then `ProcessFinished` and
//! `SandboxFinished` (or `ProcessFailedToStart`), `RunFinished`, and `OpDone` (`OpFailed`
//! when the program could not start).
//!
//! The lines are recorded by [`Recording`]: a writer thread with a connection of its own that
//! retries a locked database with backoff and bounds what waits in memory, so a slow or
//! failing store never stalls the program's output (nor, through the engine's writer, other
//! operations). Recording borrows a store for its life, so the op's loop runs on a blocking
//! thread that owns that connection; no `&Store` crosses an `.await` on the runtime.

use std::time::Instant;

use super::lifecycle::{finish_run, start_run};
use super::op::SandboxParams;
use crate::engine::context::{Event, LogEntry, OpContext};
use crate::engine::ids::{ProcessId, RunId};
use crate::engine::sandbox::{Outcome, OutputLine, Recording, RunSpec, Stream, Termination};
use crate::engine::store::{LogLevel, LogStream, RunKind, Store};

pub(crate) async fn run_sandbox(
    ctx: OpContext,
    params: SandboxParams,
) -> crate::engine::Result<()> {
    let SandboxParams {
        spec,
        project,
        stream_output,
        output,
    } = params;
    let (run, _) = start_run(
        &ctx,
        project.as_ref(),
        spec.workdir.as_deref(),
        RunKind::Sandbox,
    )
    .await?;
    let rt = tokio::runtime::Handle::current();
    let task_ctx = ctx.clone();
    let result = tokio::task::spawn_blocking(move || {
        record(&task_ctx, &rt, run, &spec, stream_output, output)
    })
    .await
    .map_err(|e| crate::engine::Error::Unsupported(format!("the sandbox task failed: {e}")))
    .and_then(|r| r);
    let verdict = match &result {
        Ok(verdict) => Ok(verdict.clone()),
        Err(e) => Err(crate::engine::Error::Unsupported(e.to_string())),
    };
    finish_run(&ctx, run, &verdict).await?;
    result.map(|_| ())
}

/// Runs and records the program; returns why the run failed, if it did. Runs on a blocking
/// thread, driving the sandbox's futures on `rt`.
fn record(
    ctx: &OpContext,
    rt: &tokio::runtime::Handle,
    run: RunId,
    spec: &RunSpec,
    stream_output: bool,
    mut output: Option<tokio::sync::mpsc::Sender<Vec<OutputLine>>>,
) -> crate::engine::Result<Option<String>> {
    let shared = &ctx.shared;
    let t_start = Instant::now();
    let store = Store::open(&shared.paths.db, &shared.config.store)?;
    let mut recording = Recording::start(&store, spec, Some((run.get(), None)))?;
    let record_start_us = micros(t_start);
    let process = ProcessId(recording.process_id());
    let mut handle = match shared.sandbox.start(spec) {
        Ok(h) => h,
        Err(e) => return Err(failed_to_start(ctx, run, process, recording, e)),
    };
    rt.block_on(async {
        loop {
            let batch = tokio::select! {
                batch = handle.next_batch() => batch,
                () = ctx.cancel.cancelled(), if !handle.cancel_token().is_cancelled() => {
                    handle.cancel();
                    continue;
                }
            };
            let Some(batch) = batch else { break };
            if let Some(tx) = &output {
                // Waits for room as a pipe would, unless the run is cancelled meanwhile (a
                // front-end that stopped reading must not keep the program alive).
                let sent = tokio::select! {
                    biased;
                    sent = tx.send(batch.clone()) => sent.is_ok(),
                    () = ctx.cancel.cancelled() => {
                        handle.cancel();
                        false
                    }
                };
                if !sent {
                    output = None;
                }
            }
            if stream_output {
                let lines = batch.iter().map(entry).collect();
                ctx.emit(Some(run), Event::ProcessOutput { process, lines });
            }
            for line in batch {
                recording.line(line);
            }
            if let Some(error) = recording.take_new_error() {
                ctx.emit(Some(run), Event::OutputNotRecorded { process, error });
            }
        }
    });
    let outcome = match rt.block_on(handle.wait()) {
        Ok(o) => o,
        Err(e) => return Err(failed_to_start(ctx, run, process, recording, e)),
    };
    let t_finish = Instant::now();
    let report = recording.finish(Ok(&outcome))?;
    let record_finish_us = micros(t_finish);
    ctx.emit(
        Some(run),
        Event::ProcessFinished {
            process,
            stage: None,
            exit_code: outcome.exit_code(),
            limit: outcome.limit.map(|l| l.as_str().to_owned()),
        },
    );
    let verdict = verdict(&outcome, report.lines_dropped, report.error.as_deref());
    ctx.emit(
        Some(run),
        Event::SandboxFinished {
            process,
            outcome: Box::new(outcome),
            lines_not_recorded: report.lines_dropped,
            record_error: report.error,
            record_start_us,
            record_finish_us,
        },
    );
    Ok(verdict)
}

/// Records why the program could not start and says so; returns the error.
fn failed_to_start(
    ctx: &OpContext,
    run: RunId,
    process: ProcessId,
    recording: Recording<'_>,
    e: crate::engine::sandbox::Error,
) -> crate::engine::Error {
    if let Err(stored) = recording.finish(Err(&e)) {
        tracing::warn!(%run, "cannot record the failed start: {stored}");
    }
    ctx.emit(
        Some(run),
        Event::ProcessFailedToStart {
            process,
            error: e.to_string(),
        },
    );
    e.into()
}

/// Why the run failed, if it did: the program's end, or lines lost to a store error (as the
/// recording of a standalone run says it).
fn verdict(outcome: &Outcome, dropped: u64, store_error: Option<&str>) -> Option<String> {
    if dropped > 0
        && let Some(e) = store_error
    {
        return Some(format!("{dropped} output lines not recorded: {e}"));
    }
    if outcome.cancelled {
        Some("cancelled".to_owned())
    } else if let Some(limit) = outcome.limit {
        Some(format!("stopped by the {} limit", limit.as_str()))
    } else if outcome.termination == Termination::Exited(0) {
        None
    } else {
        Some(format!("exited with {}", outcome.exit_code()))
    }
}

fn entry(line: &OutputLine) -> LogEntry {
    let (stream, level) = match line.stream {
        Stream::Stdout => (LogStream::Stdout, LogLevel::Info),
        Stream::Stderr => (LogStream::Stderr, LogLevel::Warn),
    };
    LogEntry {
        ts: line.ts_us,
        stream,
        level,
        text: line.text.clone(),
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}
