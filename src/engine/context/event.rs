//! Events: what the engine tells every subscriber. Each arrives in an [`Envelope`] naming the
//! operation that caused it (none for changes other processes committed) and the run it is
//! about. A state change is committed to the store before its event is sent, so a subscriber
//! that reads the store on an event sees at least that change.

use serde::Serialize;

use crate::engine::ids::{ArtifactId, GenerationId, OpId, ProcessId, ProjectId, RunId, StageId};
use crate::engine::llm::{FinishReason, ModelSource};
use crate::engine::sandbox::Outcome;
use crate::engine::store::{Change, LogLevel, LogLine, LogStream, RunKind, Status};

/// One event with its tags.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope {
    /// Position in this engine's event stream, from 1: a gap means the subscriber lagged.
    pub seq: u64,
    /// The operation that caused it; `None` for other processes' changes and engine notices.
    pub op: Option<OpId>,
    pub run: Option<RunId>,
    #[serde(flatten)]
    pub event: Event,
}

/// Everything the engine reports.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A run row exists (status queued or running).
    RunCreated {
        project: Option<ProjectId>,
        kind: RunKind,
        /// The request text, for pipeline runs and asks.
        request: Option<String>,
    },
    StageStarted {
        stage: StageId,
        name: String,
        attempt: u32,
        /// 0 before the improve loop, then 1, 2, ...
        iteration: u32,
    },
    StageFinished {
        stage: StageId,
        name: String,
        status: Status,
        error: Option<String>,
        attempt: u32,
        /// The result was reused from an earlier identical stage.
        cached: bool,
    },
    /// Streamed text of a model call, for live display (the whole reply is stored at the end).
    ModelDelta {
        stage: Option<StageId>,
        text: String,
    },
    /// A model call failed in a way worth retrying; it is tried again after `delay_ms`.
    ModelRetrying {
        stage: Option<StageId>,
        model: String,
        attempt: u32,
        max_attempts: u32,
        delay_ms: u64,
        /// The whole notice: `429 from openai, retrying in 1.0 s (1/4)`.
        reason: String,
    },
    /// Lines appended to the run's log (already stored).
    LogLines {
        stage: Option<StageId>,
        lines: Vec<LogEntry>,
    },
    ArtifactStored {
        artifact: ArtifactId,
        stage: Option<StageId>,
        path: String,
        version: u32,
    },
    FindingsReady {
        stage: Option<StageId>,
        errors: u32,
        warnings: u32,
        total: u32,
    },
    TestResults {
        stage: Option<StageId>,
        process: Option<ProcessId>,
        passed: u32,
        failed: u32,
        skipped: u32,
        errors: u32,
    },
    GateEvaluated {
        gate: String,
        passed: bool,
        detail: String,
        iteration: u32,
    },
    /// A sandboxed process ended.
    ProcessFinished {
        process: ProcessId,
        stage: Option<StageId>,
        /// The exit code kiln reports for it (the program's own, or a limit's).
        exit_code: u8,
        /// The limit that ended it, if one did.
        limit: Option<String>,
    },
    /// Output lines of a `RunSandbox` process as they are read, before they are stored (live
    /// display must not wait for a locked database). Sent when the operation asked for them
    /// (`api::SandboxParams::stream_output`).
    ProcessOutput {
        process: ProcessId,
        lines: Vec<LogEntry>,
    },
    /// The store refused output lines of a running process (its first error, sent once): the
    /// output goes on, the writes are retried, and lines it never takes are counted.
    OutputNotRecorded { process: ProcessId, error: String },
    /// A sandboxed process could not be set up (recorded as failed to start).
    ProcessFailedToStart { process: ProcessId, error: String },
    /// A `RunSandbox` process ended (after [`Event::ProcessFinished`]): the whole outcome and
    /// how its recording went.
    SandboxFinished {
        process: ProcessId,
        outcome: Box<Outcome>,
        /// Output lines that are not in the store (counted in the run's row).
        lines_not_recorded: u64,
        /// The first store error met while recording lines.
        record_error: Option<String>,
        /// Creating the process row and the line writer.
        record_start_us: u64,
        /// Storing the last lines and the process's end.
        record_finish_us: u64,
    },
    /// The model an `Ask` will call, sent before its first [`Event::ModelDelta`], so a
    /// front-end can say which model detection picked (the choice is never silent).
    ModelChosen {
        /// The config name (`fast`), or the detection source's name (`openai`, `ollama`).
        model: String,
        /// `openai`, `anthropic`, `ollama`.
        provider: String,
        /// The provider's model id.
        model_id: String,
        source: ModelSource,
        /// The reply's token limit for this call (the override, else the model's).
        max_tokens: u32,
    },
    /// A model call of an `Ask` finished (the generation row is written).
    AskFinished {
        generation: Option<GenerationId>,
        /// The whole reply (the deltas joined).
        text: String,
        tokens_in: Option<u64>,
        tokens_out: Option<u64>,
        cost_usd: Option<f64>,
        cache_hit: bool,
        /// The whole call, retries included.
        latency_us: u64,
        /// Time to the first text.
        ttft_us: Option<u64>,
        attempts: u32,
        /// Text deltas received.
        chunks: u64,
        /// Why the provider ended the reply; `None` when it did not say.
        finish_reason: Option<FinishReason>,
        /// Cut at `max_tokens`: the text is incomplete.
        truncated: bool,
    },
    RunFinished {
        status: Status,
        error: Option<String>,
    },
    /// What an export would change, file by file.
    ExportPreview { files: Vec<ExportFile> },
    /// Files written into the project.
    Exported {
        files: Vec<String>,
        branch: Option<String>,
        zip: Option<String>,
    },
    /// The user's verdict was stored (`AddFeedback`).
    FeedbackAdded { feedback: i64 },
    /// The operation finished; no more events carry its id.
    OpDone,
    /// The operation failed; no more events carry its id. The engine keeps running.
    OpFailed { op: &'static str, error: String },
    /// Rows other processes committed (the store's change feed).
    StoreChanged { changes: Vec<Change> },
    /// This subscriber missed events (it lagged, or the change feed overflowed): reload what
    /// it shows from the store.
    Resync { missed: u64 },
    /// A notice for the user that belongs to no operation (e.g. runs found interrupted).
    Notice { level: LogLevel, message: String },
    /// The engine is stopping; the stream ends after this.
    ShuttingDown,
}

/// One log line as events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    pub ts: i64,
    pub stream: LogStream,
    pub level: LogLevel,
    pub text: String,
}

impl Event {
    /// Stored (or about to be stored) log lines as a `LogLines` event.
    pub(crate) fn log_lines(stage: Option<StageId>, lines: &[LogLine]) -> Self {
        Self::LogLines {
            stage,
            lines: lines
                .iter()
                .map(|l| LogEntry {
                    ts: l.ts,
                    stream: l.stream,
                    level: l.level,
                    text: l.text.clone(),
                })
                .collect(),
        }
    }
}

/// One file of an export preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportFile {
    /// Relative to the project root.
    pub path: String,
    pub change: FileChange,
    /// A unified diff against the project's file (empty when unchanged).
    pub diff: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChange {
    Added,
    Modified,
    Unchanged,
    /// The project's file changed since the run read it: not overwritten without `force`.
    Conflict,
}
