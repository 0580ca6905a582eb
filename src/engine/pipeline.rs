//! The pipeline: a request becomes a spec, code, tests; the tests run in the sandbox; a model
//! reviews; an improve loop fixes what the gates find; docs; export.
//!
//! ```text
//! spec → [custom] → generate → tests → check → test_run → review
//!      → (improve → check → test_run → review)* → docs → export
//! ```
//!
//! Invariants: every state change is committed to the store (through the writer) before its
//! event is sent; a run's state is a fold of its stages' stored outputs ([`state`]), so resume
//! and retry replay finished stages instead of calling a model again; a model reply is never
//! trusted: files go through the parsers of `llm::parse` (paths stay inside the root, sizes are
//! capped) and nothing reaches the project before export; generated code runs only in the
//! sandbox.

/// The `[pipeline]` config section; it lives with the config (a leaf both read).
pub use crate::engine::config::pipeline as config;
pub mod export;
pub mod gates;
pub mod integrity;
pub mod language;
pub mod output;
pub mod runner;
pub mod sandbox_limits;
pub mod smoke;
pub mod stage;
pub mod state;
pub mod testing;

pub use config::{BudgetConfig, CustomStage, GatesConfig, PipelineConfig};
pub use language::Lang;
pub use runner::RunOptions;
pub use sandbox_limits::SandboxLimits;
pub use stage::Stage;
pub use state::{RunState, StageOutput, TestReport};

/// Errors of the pipeline, each saying what happened and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "stage '{stage}': {source}; the raw reply is kept in the run's model calls (kiln show RUN); retry with `kiln retry RUN`"
    )]
    Parse {
        stage: String,
        source: crate::engine::llm::parse::Error,
    },
    #[error(
        "stage '{stage}': the model's reply was cut at the token limit ({tokens} tokens), so it is not code; raise max_tokens of the model or ask for less, then `kiln retry RUN`"
    )]
    Truncated { stage: String, tokens: u64 },
    #[error("stage '{stage}': {message}")]
    Stage { stage: String, message: String },
    #[error("budget: {0}; raise pipeline.budget in the config or wait")]
    Budget(String),
    #[error("unknown stage '{name}'; known stages: {known}")]
    UnknownStage { name: String, known: String },
    #[error("unsupported language '{0}'; kiln's loop supports python, rust and javascript")]
    Language(String),
    #[error("run {run} cannot be {what}: it is {status}")]
    WrongState {
        run: i64,
        what: &'static str,
        status: String,
    },
    #[error("run {0} was not started by the pipeline")]
    NotPipeline(i64),
    #[error(transparent)]
    Llm(#[from] crate::engine::llm::Error),
    #[error(transparent)]
    Prompt(#[from] crate::engine::llm::prompts::Error),
    #[error("cancelled")]
    Cancelled,
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}
