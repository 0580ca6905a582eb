//! Records a sandbox run in the store: a `sandbox` run (unless the caller records into an
//! existing pipeline run and stage), its `processes` row, and every output line via the
//! batched [`LogWriter`]. The store is synchronous; writes are batched (one transaction per
//! 4096 lines or 100 ms), so a front-end may call this from its output loop.

use crate::engine::store::{
    LogLevel, LogLine, LogStream, LogWriter, NewProcess, NewRun, ProcessEnd, ProcessStatus,
    RunKind, Status, Store,
};

use super::Error;
use super::outcome::{Limit, Outcome, OutputLine, Stream, Termination};
use super::run::{Isolation, RunSpec};

/// An open recording of one sandbox run.
pub struct Recording<'a> {
    store: &'a Store,
    /// The run created for this process (standalone runs), finished with it.
    own_run: Option<i64>,
    stage_id: Option<i64>,
    process_id: i64,
    writer: LogWriter<'a>,
}

impl<'a> Recording<'a> {
    /// Starts recording `spec`. With `run` = `Some((run_id, stage_id))` lines go to that run;
    /// otherwise a new `sandbox` run is created.
    pub fn start(
        store: &'a Store,
        spec: &RunSpec,
        run: Option<(i64, Option<i64>)>,
    ) -> Result<Self, crate::engine::Error> {
        let (run_id, stage_id, own_run) = if let Some((run_id, stage_id)) = run {
            (run_id, stage_id, None)
        } else {
            let r = store.start_run(&NewRun {
                project_id: None,
                request_id: None,
                kind: RunKind::Sandbox,
            })?;
            (r.id, None, Some(r.id))
        };
        let process_id = store.insert_process(&NewProcess {
            run_id: Some(run_id),
            stage_id,
            argv: &spec.argv,
            workdir: spec.workdir.as_deref(),
            limits: serde_json::json!({
                "timeout_ms": spec.timeout.as_millis() as u64,
                "cpu_ms": spec.cpu.as_millis() as u64,
                "memory": spec.memory,
                "pids": spec.pids,
                "output_bytes": spec.output_bytes,
                "output_lines": spec.output_lines,
                "open_files": spec.open_files,
                "disk": spec.disk,
            }),
            isolation: serde_json::json!({ "mode": spec.isolation }),
        })?;
        Ok(Self {
            store,
            own_run,
            stage_id,
            process_id,
            writer: LogWriter::new(store, run_id),
        })
    }

    pub fn process_id(&self) -> i64 {
        self.process_id
    }

    pub fn run_id(&self) -> Option<i64> {
        self.own_run
    }

    /// Appends one output line (batched).
    pub fn line(&mut self, line: OutputLine) -> Result<(), crate::engine::Error> {
        let (stream, level) = match line.stream {
            Stream::Stdout => (LogStream::Stdout, LogLevel::Info),
            Stream::Stderr => (LogStream::Stderr, LogLevel::Warn),
        };
        self.writer.push(LogLine {
            stage_id: self.stage_id,
            ts: line.ts_us,
            stream,
            level,
            text: line.text,
        })?;
        Ok(())
    }

    /// Records how the run ended (or why it could not start).
    pub fn finish(mut self, result: Result<&Outcome, &Error>) -> Result<(), crate::engine::Error> {
        self.writer.flush()?;
        let (status, end, run_status, error) = match result {
            Err(e) => {
                let msg = e.to_string();
                self.writer.push(LogLine::now(
                    self.stage_id,
                    LogStream::Kiln,
                    LogLevel::Error,
                    msg.clone(),
                ))?;
                self.writer.flush()?;
                (
                    ProcessStatus::FailedToStart,
                    ProcessEnd::default(),
                    Status::Failed,
                    Some(msg),
                )
            }
            Ok(o) => {
                let status = if o.limit.is_some_and(Limit::kills) {
                    ProcessStatus::Limit
                } else if o.cancelled {
                    ProcessStatus::Cancelled
                } else {
                    match o.termination {
                        Termination::Exited(_) => ProcessStatus::Exited,
                        Termination::Signaled(_) => ProcessStatus::Signaled,
                    }
                };
                let (exit_code, signal) = match o.termination {
                    Termination::Exited(c) => (Some(c), None),
                    Termination::Signaled(s) => (None, Some(s)),
                };
                if o.isolation == Isolation::UnsafeNone {
                    self.writer.push(LogLine::now(
                        self.stage_id,
                        LogStream::Kiln,
                        LogLevel::Warn,
                        "ran without isolation (--unsafe-no-isolation)",
                    ))?;
                }
                let run_status = if o.cancelled {
                    Status::Cancelled
                } else if o.termination == Termination::Exited(0) && o.limit.is_none() {
                    Status::Succeeded
                } else {
                    Status::Failed
                };
                let end = ProcessEnd {
                    exit_code,
                    signal,
                    limit_hit: o.limit.map(|l| l.as_str().to_owned()),
                    wall_ms: o.wall_ms,
                    user_ms: o.user_ms,
                    sys_ms: o.sys_ms,
                    max_rss_kb: o.max_rss_kb,
                    stdout_bytes: o.stdout_bytes,
                    stderr_bytes: o.stderr_bytes,
                    bytes_dropped: o.bytes_dropped,
                };
                (status, end, run_status, None)
            }
        };
        self.writer.flush()?;
        self.store.finish_process(self.process_id, status, &end)?;
        if let Some(run_id) = self.own_run {
            self.store
                .finish_run(run_id, run_status, error.as_deref())?;
        }
        Ok(())
    }
}
