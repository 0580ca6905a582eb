//! Records a sandbox run in the store: a `sandbox` run (unless the caller records into an
//! existing pipeline run and stage), its `processes` row, and every output line.
//!
//! Lines go to a writer thread with its own connection, so a slow or locked database never
//! stalls the output loop (nor, through the pipes, the program). The thread and its connection
//! start with the first line (a run without output costs no second connection). It writes
//! batches (one transaction per 4096 entries, 4 MiB or 100 ms); text lines are stored as text,
//! everything else (newline-free or binary output) byte-exact as byte chunks. The process row
//! and its run are inserted in one transaction, and finished in one; a failed write keeps the batch and retries with
//! backoff while the program runs. Memory is bounded: lines waiting for the store may use at
//! most [`QUEUE_BYTES`]. When the queue is full, a store that works but lags slows the output
//! loop down (no line is lost to a slow disk); a store that fails makes new lines count as
//! dropped instead, so the program's output still flows. Dropped lines are added to
//! `runs.log_lines_dropped`, and a run that lost lines to a store error is finished as failed
//! with the reason.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::store::{
    self, LogBytes, LogEntry, LogLevel, LogLine, LogStream, NewProcess, NewRun, PRESENT_BYTES,
    ProcessEnd, ProcessStatus, RunKind, Status, Store, StoreConfig,
};

use super::Error;
use super::outcome::{Limit, Outcome, OutputLine, Stream, Termination};
use super::run::{Isolation, RunSpec};

/// Bytes of lines (text plus a fixed per-line overhead) waiting for the store, at most.
pub const QUEUE_BYTES: u64 = 16 << 20;
/// Accounted per line on top of its text (the struct and allocator overhead).
const LINE_OVERHEAD: u64 = 64;
/// Entries per transaction.
const BATCH_LINES: usize = 4096;
/// Bytes per transaction (byte chunks are large).
const BATCH_BYTES: u64 = 4 << 20;
/// Longest time a line waits before its batch is written.
const MAX_DELAY: Duration = Duration::from_millis(100);
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// What the writer thread and the recording share.
#[derive(Default)]
struct Shared {
    queued_bytes: AtomicU64,
    /// Lines dropped because the queue was full or the store never took them.
    dropped: AtomicU64,
    /// The first store error, kept for the report.
    error: Mutex<Option<String>>,
    /// Set when `error` is first set; cleared by [`Recording::take_new_error`].
    error_is_new: AtomicBool,
    /// The last write failed (and nothing was written since).
    failing: AtomicBool,
    /// Notified whenever the writer frees queue room or starts failing.
    room: Condvar,
    room_lock: Mutex<()>,
}

impl Shared {
    fn wake_producer(&self) {
        let _guard = self
            .room_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.room.notify_all();
    }

    fn set_error(&self, e: &dyn std::fmt::Display) {
        self.failing.store(true, Ordering::Release);
        let mut slot = self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(e.to_string());
            self.error_is_new.store(true, Ordering::Release);
        }
    }

    fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// How the recording of the output went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordReport {
    /// Lines that are not in the store (queue full or store errors).
    pub lines_dropped: u64,
    /// The first store error met while recording lines, if any.
    pub error: Option<String>,
}

/// An open recording of one sandbox run.
pub struct Recording<'a> {
    store: &'a Store,
    /// The run the lines belong to.
    run_id: i64,
    /// The run created for this process (standalone runs), finished with it.
    own_run: Option<i64>,
    stage_id: Option<i64>,
    process_id: i64,
    lines: Option<Sender<LogEntry>>,
    writer: Option<JoinHandle<()>>,
    /// Where the writer thread opens its connection, until it is started by the first line.
    writer_store: Option<(std::path::PathBuf, StoreConfig)>,
    shared: Arc<Shared>,
}

impl<'a> Recording<'a> {
    /// Starts recording `spec`. With `run` = `Some((run_id, stage_id))` lines go to that run;
    /// otherwise a new `sandbox` run is created.
    pub fn start(
        store: &'a Store,
        spec: &RunSpec,
        run: Option<(i64, Option<i64>)>,
    ) -> Result<Self, crate::engine::Error> {
        // One transaction (one commit) for the run and its process row.
        let (run_id, stage_id, own_run, process_id) = store.in_transaction(|store| {
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
                limits: recorded_limits(spec),
                isolation: serde_json::json!({ "mode": spec.isolation }),
            })?;
            Ok((run_id, stage_id, own_run, process_id))
        })?;
        Ok(Self {
            store,
            run_id,
            own_run,
            stage_id,
            process_id,
            lines: None,
            writer: None,
            writer_store: Some((store.path().to_owned(), store.config().clone())),
            shared: Arc::new(Shared::default()),
        })
    }

    /// Starts the writer thread (on the first line). A thread that cannot start is a store
    /// error: the lines are counted as dropped.
    fn start_writer(&mut self) {
        let Some((path, config)) = self.writer_store.take() else {
            return;
        };
        let run_id = self.run_id;
        let shared = self.shared.clone();
        // Unbounded as a channel: `QUEUE_BYTES` bounds it.
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("kiln-log-writer".into())
            .spawn(move || match Store::open(&path, &config) {
                Ok(conn) => write_lines(&conn, run_id, &rx, &shared),
                Err(e) => {
                    shared.set_error(&e);
                    let lost = rx.iter().count() as u64;
                    shared.dropped.fetch_add(lost, Ordering::AcqRel);
                }
            });
        match spawned {
            Ok(writer) => {
                self.lines = Some(tx);
                self.writer = Some(writer);
            }
            Err(e) => {
                self.shared
                    .set_error(&format!("cannot start the log writer: {e}"));
            }
        }
    }

    pub fn process_id(&self) -> i64 {
        self.process_id
    }

    pub fn run_id(&self) -> Option<i64> {
        self.own_run
    }

    /// Queues one output line. While the store works but lags, waits for queue room (so no
    /// line is lost to a slow disk); while it fails, a line that does not fit in the queue is
    /// dropped and counted instead, so the output goes on.
    pub fn line(&mut self, line: OutputLine) {
        let (stream, level) = match line.stream {
            Stream::Stdout => (LogStream::Stdout, LogLevel::Info),
            Stream::Stderr => (LogStream::Stderr, LogLevel::Warn),
        };
        let (stage_id, ts) = (self.stage_id, line.ts_us);
        // Plain text lines are stored as text; anything else byte-exact.
        let line = if line.is_text_line() && line.text.len() <= PRESENT_BYTES {
            LogEntry::Line(LogLine {
                stage_id,
                ts,
                stream,
                level,
                text: line.text,
            })
        } else {
            LogEntry::Bytes(LogBytes {
                stage_id,
                ts,
                stream,
                level,
                bytes: line.into_exact_bytes(),
            })
        };
        let cost = line.len() as u64 + LINE_OVERHEAD;
        if self.writer_store.is_some() {
            self.start_writer();
        }
        let Some(tx) = &self.lines else {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        loop {
            // The only producer: nobody else adds between this check and the add below.
            if self.shared.queued_bytes.load(Ordering::Acquire) + cost <= QUEUE_BYTES {
                self.shared.queued_bytes.fetch_add(cost, Ordering::AcqRel);
                if tx.send(line).is_err() {
                    self.shared.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            if self.shared.failing.load(Ordering::Acquire) {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let guard = self
                .shared
                .room_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = self
                .shared
                .room
                .wait_timeout(guard, Duration::from_millis(50));
        }
    }

    /// The store error met while writing lines, the first time it is asked after it happened
    /// (so a front-end can say it once, while the run goes on).
    pub fn take_new_error(&self) -> Option<String> {
        if self.shared.error_is_new.swap(false, Ordering::AcqRel) {
            self.shared.error()
        } else {
            None
        }
    }

    /// Writes the lines still queued (retrying a locked database for up to its busy timeout),
    /// then records how the run ended (or why it could not start). Lines that never reached
    /// the store are counted in `runs.log_lines_dropped`; when a store error lost lines, a
    /// standalone run is finished as failed with the reason.
    pub fn finish(
        mut self,
        result: Result<&Outcome, &Error>,
    ) -> Result<RecordReport, crate::engine::Error> {
        drop(self.lines.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let report = RecordReport {
            lines_dropped: self.shared.dropped.load(Ordering::Acquire),
            error: self.shared.error(),
        };
        let (status, end, mut run_status, mut error) = match result {
            Err(e) => {
                let msg = e.to_string();
                self.kiln_line(LogLevel::Error, msg.clone());
                (
                    ProcessStatus::FailedToStart,
                    ProcessEnd::default(),
                    Status::Failed,
                    Some(msg),
                )
            }
            Ok(o) => {
                if o.isolation == Isolation::UnsafeNone {
                    self.kiln_line(
                        LogLevel::Warn,
                        "ran without isolation (--unsafe-no-isolation)".into(),
                    );
                }
                let (status, end) = process_end(o);
                (status, end, run_status(o), None)
            }
        };
        if report.lines_dropped > 0
            && let Some(e) = &report.error
        {
            run_status = Status::Failed;
            error.get_or_insert_with(|| {
                format!("{} output lines not recorded: {e}", report.lines_dropped)
            });
        }
        // One transaction (one commit) for the dropped count, the process row and the run.
        let (run_id, process_id, own_run) = (self.run_id, self.process_id, self.own_run);
        self.store.in_transaction(|store| {
            if report.lines_dropped > 0 {
                store.add_dropped_log_lines(run_id, report.lines_dropped)?;
            }
            store.finish_process(process_id, status, &end)?;
            if let Some(run_id) = own_run {
                store.finish_run(run_id, run_status, error.as_deref())?;
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// One of kiln's own lines about the run, written at once. Best effort: finishing the
    /// run's rows matters more than this line.
    fn kiln_line(&self, level: LogLevel, text: String) {
        let line = LogLine::now(self.stage_id, LogStream::Kiln, level, text);
        if let Err(e) = self.store.append_logs(self.run_id, &[line]) {
            tracing::warn!(
                run = self.run_id,
                "cannot record kiln's note on the run: {e}"
            );
        }
    }
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        drop(self.lines.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The `processes` row's `limits` for `spec` (what the program was allowed), as every recorder
/// stores them.
pub fn recorded_limits(spec: &RunSpec) -> serde_json::Value {
    serde_json::json!({
        "timeout_ms": spec.timeout.as_millis() as u64,
        "cpu_ms": spec.cpu.as_millis() as u64,
        "memory": spec.memory,
        "pids": spec.pids,
        "output_bytes": spec.output_bytes,
        "output_lines": spec.output_lines,
        "open_files": spec.open_files,
        "disk": spec.disk,
    })
}

/// The `processes` row's status and figures for a finished program: the one mapping of an
/// outcome (limit, cancellation, exit or signal) to what the store records, used by
/// [`Recording`] and by the engine's recorded processes (`engine::testing::process`).
pub fn process_end(o: &Outcome) -> (ProcessStatus, ProcessEnd) {
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
    (status, end)
}

/// The status of a standalone run that was just this program.
fn run_status(o: &Outcome) -> Status {
    if o.cancelled {
        Status::Cancelled
    } else if o.termination == Termination::Exited(0) && o.limit.is_none() {
        Status::Succeeded
    } else {
        Status::Failed
    }
}

/// The writer thread: batches lines, writes them, keeps a failed batch and retries it with
/// backoff. After the channel closes it retries a locked database for up to its busy timeout
/// more, then counts what is left as dropped.
fn write_lines(store: &Store, run_id: i64, rx: &Receiver<LogEntry>, shared: &Shared) {
    let mut batch: Vec<LogEntry> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut oldest: Option<Instant> = None;
    let mut retry_at: Option<Instant> = None;
    let mut backoff = FIRST_RETRY;
    let mut closed_at: Option<Instant> = None;
    let grace = Duration::from_millis(store.config().busy_timeout_ms).max(MAX_RETRY);
    loop {
        if closed_at.is_none() {
            let wake = [oldest.map(|t| t + MAX_DELAY), retry_at]
                .into_iter()
                .flatten()
                .max();
            let got = match wake {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
            };
            match got {
                Ok(first) => {
                    let mut next = Some(first);
                    while let Some(line) = next {
                        batch_bytes += line.len() as u64 + LINE_OVERHEAD;
                        batch.push(line);
                        next = if batch.len() < BATCH_LINES && batch_bytes < BATCH_BYTES {
                            rx.try_recv().ok()
                        } else {
                            None
                        };
                    }
                    oldest.get_or_insert_with(Instant::now);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closed_at = Some(Instant::now()),
            }
        } else if let Some(t) = retry_at {
            std::thread::sleep(t.saturating_duration_since(Instant::now()));
        }
        let due = closed_at.is_some()
            || batch.len() >= BATCH_LINES
            || batch_bytes >= BATCH_BYTES
            || oldest.is_some_and(|t| t.elapsed() >= MAX_DELAY);
        let may_retry = retry_at.is_none_or(|t| Instant::now() >= t);
        if due && may_retry && !batch.is_empty() {
            match store.append_log_entries(run_id, &batch) {
                Ok(_) => {
                    shared.queued_bytes.fetch_sub(batch_bytes, Ordering::AcqRel);
                    shared.failing.store(false, Ordering::Release);
                    shared.wake_producer();
                    batch.clear();
                    batch_bytes = 0;
                    oldest = None;
                    retry_at = None;
                    backoff = FIRST_RETRY;
                }
                Err(e) => {
                    tracing::warn!(run = run_id, "cannot record output lines (will retry): {e}");
                    shared.set_error(&e);
                    shared.wake_producer();
                    let locked = matches!(e, store::Error::Locked { .. });
                    let gave_up = closed_at.is_some_and(|t| !locked || t.elapsed() >= grace);
                    if gave_up {
                        break;
                    }
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_RETRY);
                }
            }
        }
        if closed_at.is_some() && batch.is_empty() {
            break;
        }
    }
    shared
        .dropped
        .fetch_add(batch.len() as u64, Ordering::AcqRel);
    shared.queued_bytes.fetch_sub(batch_bytes, Ordering::AcqRel);
}
