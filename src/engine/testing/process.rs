//! One sandboxed process recorded into a run through the store writer: its `processes` row,
//! every output line (batched: a write per 512 lines or whenever the pipes go quiet) and how it
//! ended. Used by test runs and by `Op::RunSandbox`. No `&Store` is held across an `.await`.

use tokio_util::sync::CancellationToken;

use crate::engine::sandbox::{
    self, Isolation, Outcome, OutputLine, RunSpec, Sandbox, Stream, process_end,
};
use crate::engine::store::{
    LogLevel, LogLine, LogStream, NewProcess, ProcessEnd, ProcessStatus, StoreWriter,
};

/// Lines buffered before a write.
const BATCH: usize = 512;

/// Where a process is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub run_id: i64,
    pub stage_id: Option<i64>,
}

/// Runs `spec`, recording it into `target`. `on_lines` sees each batch once it is stored;
/// `on_output` sees every line as read (e.g. to keep it for a parser).
/// Returns the outcome and the process id; a start failure is recorded, then returned.
pub async fn run_recorded(
    sandbox: &Sandbox,
    spec: &RunSpec,
    writer: &StoreWriter,
    target: Target,
    cancel: &CancellationToken,
    on_output: &mut (dyn FnMut(&OutputLine) + Send),
    on_lines: &mut (dyn FnMut(&[LogLine]) + Send),
) -> Result<(Outcome, i64), crate::engine::Error> {
    let argv = spec.argv.clone();
    let workdir = spec.workdir.clone();
    let limits = sandbox::recorded_limits(spec);
    let isolation = serde_json::json!({ "mode": spec.isolation });
    let process_id = writer
        .call(move |s| {
            s.insert_process(&NewProcess {
                run_id: Some(target.run_id),
                stage_id: target.stage_id,
                argv: &argv,
                workdir: workdir.as_deref(),
                limits,
                isolation,
            })
        })
        .await?;
    let mut handle = match sandbox.start(spec) {
        Ok(h) => h,
        Err(e) => {
            failed_to_start(writer, target, process_id, &e, on_lines).await?;
            return Err(e.into());
        }
    };
    let mut pending: Vec<LogLine> = Vec::new();
    loop {
        let batch = tokio::select! {
            batch = handle.next_batch() => batch,
            () = cancel.cancelled(), if !handle.cancel_token().is_cancelled() => {
                handle.cancel();
                continue;
            }
        };
        let Some(batch) = batch else { break };
        for line in batch {
            on_output(&line);
            pending.push(to_log(target.stage_id, line));
        }
        if pending.len() >= BATCH || handle.is_idle() {
            flush(writer, target.run_id, &mut pending, on_lines).await?;
        }
    }
    let result = handle.wait().await;
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            flush(writer, target.run_id, &mut pending, on_lines).await?;
            failed_to_start(writer, target, process_id, &e, on_lines).await?;
            return Err(e.into());
        }
    };
    if outcome.isolation == Isolation::UnsafeNone {
        pending.push(LogLine::now(
            target.stage_id,
            LogStream::Kiln,
            LogLevel::Warn,
            "ran without isolation (--unsafe-no-isolation)",
        ));
    }
    flush(writer, target.run_id, &mut pending, on_lines).await?;
    let (status, end) = process_end(&outcome);
    writer
        .call(move |s| s.finish_process(process_id, status, &end))
        .await?;
    Ok((outcome, process_id))
}

fn to_log(stage_id: Option<i64>, line: OutputLine) -> LogLine {
    let (stream, level) = match line.stream {
        Stream::Stdout => (LogStream::Stdout, LogLevel::Info),
        Stream::Stderr => (LogStream::Stderr, LogLevel::Warn),
    };
    LogLine {
        stage_id,
        ts: line.ts_us,
        stream,
        level,
        text: line.text,
    }
}

/// Stores the buffered lines, then shows them to `on_lines` (stored before announced).
pub(crate) async fn flush(
    writer: &StoreWriter,
    run_id: i64,
    pending: &mut Vec<LogLine>,
    on_lines: &mut (dyn FnMut(&[LogLine]) + Send),
) -> Result<(), crate::engine::Error> {
    if pending.is_empty() {
        return Ok(());
    }
    let lines = std::mem::take(pending);
    let stored = writer
        .call(move |s| s.append_logs(run_id, &lines).map(|_| lines))
        .await?;
    on_lines(&stored);
    Ok(())
}

async fn failed_to_start(
    writer: &StoreWriter,
    target: Target,
    process_id: i64,
    error: &sandbox::Error,
    on_lines: &mut (dyn FnMut(&[LogLine]) + Send),
) -> Result<(), crate::engine::Error> {
    let mut line = vec![LogLine::now(
        target.stage_id,
        LogStream::Kiln,
        LogLevel::Error,
        error.to_string(),
    )];
    flush(writer, target.run_id, &mut line, on_lines).await?;
    writer
        .call(move |s| {
            s.finish_process(
                process_id,
                ProcessStatus::FailedToStart,
                &ProcessEnd::default(),
            )
        })
        .await?;
    Ok(())
}
