//! Operations: what a front-end asks the engine to do. Each is plain data; the engine answers
//! with events tagged with the operation's id, ending with [`Event::OpDone`](super::Event::OpDone) or
//! [`Event::OpFailed`](super::Event::OpFailed).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::engine::analysis::Finding;
use crate::engine::ids::{ProjectId, RunId};
use crate::engine::llm::{CachePolicy, Message};
use crate::engine::pipeline::SandboxLimits;
use crate::engine::sandbox::{OutputLine, RunSpec};
use crate::engine::store::{FeedbackTarget, Verdict};

/// An operation for the engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Op {
    /// Carry a request through the pipeline.
    StartRun(StartRunParams),
    /// Stop a run: its model streams and sandboxed processes end at once.
    CancelRun { run: RunId },
    /// Run a failed stage (or the named one) again and continue from there.
    RetryStage { run: RunId, stage: Option<String> },
    /// Continue an interrupted run from its last completed stage.
    ResumeRun { run: RunId },
    /// Show or write a run's files into its project.
    ExportRun(ExportParams),
    /// Record the user's verdict on a run, a model call or a finding.
    AddFeedback(FeedbackParams),
    /// The model-free run: analysis, the project's tests in the sandbox, safe fixes as a diff.
    CheckProject(CheckParams),
    /// One program in the sandbox, recorded as a run.
    RunSandbox(SandboxParams),
    /// Findings computed by the front-end, recorded as a check run.
    RecordCheck(RecordCheckParams),
    /// One model call, streamed and recorded as a run.
    Ask(AskParams),
    /// Cancel everything, finish writing, stop.
    Shutdown,
}

impl Op {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::StartRun(_) => "start_run",
            Self::CancelRun { .. } => "cancel_run",
            Self::RetryStage { .. } => "retry_stage",
            Self::ResumeRun { .. } => "resume_run",
            Self::ExportRun(_) => "export_run",
            Self::AddFeedback(_) => "add_feedback",
            Self::CheckProject(_) => "check_project",
            Self::RunSandbox(_) => "run_sandbox",
            Self::RecordCheck(_) => "record_check",
            Self::Ask(_) => "ask",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Which front-end asked (stored with the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    #[default]
    Cli,
    Tui,
    Lsp,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Tui => "tui",
            Self::Lsp => "lsp",
        }
    }
}

/// Where a run belongs: a registered project, or the project containing a directory (none when
/// no registered project contains it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    Id(ProjectId),
    Name(String),
    Containing(PathBuf),
}

/// What to do when every gate passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoExport {
    #[default]
    No,
    WhenGatesPass,
}

#[derive(Debug, Clone, Default)]
pub struct StartRunParams {
    /// What the user wants, in their words.
    pub request: String,
    pub project: Option<ProjectRef>,
    /// The directory generated files are exported into (the project's root when `None`).
    pub root: Option<PathBuf>,
    /// `python`, `rust`, `javascript`; detected from the project when `None`.
    pub language: Option<String>,
    /// Existing files given to the model as context.
    pub files: Vec<PathBuf>,
    /// Context files given as text, by path relative to the root (an editor's buffers, maybe
    /// unsaved); they win over `files` of the same name.
    pub context: BTreeMap<String, String>,
    /// Stage names to run instead of the configured pipeline.
    pub stages: Option<Vec<String>>,
    /// Stage name to model name, over the configured `[models.stages]`.
    pub models: BTreeMap<String, String>,
    pub origin: Origin,
    pub export: AutoExport,
    /// Sandbox limits over `[sandbox]` for the run's processes (an editor's settings).
    pub sandbox: SandboxLimits,
}

/// Preview shows the diff only; apply writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportMode {
    #[default]
    Preview,
    Apply,
}

#[derive(Debug, Clone, Default)]
pub struct ExportParams {
    pub run: RunId,
    pub mode: ExportMode,
    /// Overwrite files that changed since the run read them.
    pub force: bool,
    /// Commit the files on this new git branch.
    pub git_branch: Option<String>,
    /// Also write the final files into this zip archive.
    pub zip: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct FeedbackParams {
    pub target: FeedbackTarget,
    pub verdict: Verdict,
    pub comment: String,
}

#[derive(Debug, Clone, Default)]
pub struct CheckParams {
    /// The project directory.
    pub root: PathBuf,
    /// Files or directories to analyse (the whole root when empty).
    pub paths: Vec<PathBuf>,
    pub project: Option<ProjectRef>,
    /// Also run the project's tests in the sandbox.
    pub run_tests: bool,
    pub origin: Origin,
    /// Sandbox limits over `[sandbox]` for the tests (an editor's settings).
    pub sandbox: SandboxLimits,
}

/// Findings a front-end has computed already (`kiln check --record`, with its rule selection,
/// cache and stdin), stored as a check run like [`Op::CheckProject`]'s, without analysing again.
#[derive(Debug, Clone, Default)]
pub struct RecordCheckParams {
    /// The directory the findings are about (the run belongs to the project containing it).
    pub root: PathBuf,
    pub project: Option<ProjectRef>,
    /// Findings by file name, as the front-end reported them.
    pub findings: Vec<(String, Vec<Finding>)>,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct SandboxParams {
    pub spec: RunSpec,
    pub project: Option<ProjectRef>,
    /// Also send the output lines as read, as [`Event::ProcessOutput`](super::Event::ProcessOutput)
    /// events (a subscriber that lags loses some: for display).
    pub stream_output: bool,
    /// Every output line as read, in order, for a front-end that must show all of it (`kiln
    /// sandbox run` copies it to its stdout and stderr): the run waits for room here as it
    /// would for a pipe. A dropped receiver stops the sending, not the run.
    pub output: Option<tokio::sync::mpsc::Sender<Vec<OutputLine>>>,
}

#[derive(Debug, Clone, Default)]
pub struct AskParams {
    /// A model name from config (the default model when `None`).
    pub model: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub cache: CachePolicy,
    pub project: Option<ProjectRef>,
    pub origin: Origin,
}
