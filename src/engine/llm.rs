//! The model layer: every model call in kiln goes through [`Llm::chat`].
//!
//! Two wire formats (`openai` for every OpenAI-compatible server, `anthropic`) stream over
//! reqwest; calls retry on 429, 5xx and connection errors with backoff, are limited per model,
//! cancel at once, and are recorded in the `generations` table with tokens, latency, time to
//! first token and cost. API keys are read from the [`Env`](super::env::Env) snapshot under the
//! variable name config gives, sent in headers marked sensitive, and scrubbed from every error
//! message, so they never reach the database or the logs.
//!
//! Layering (imports point down): this file (errors, provider dispatch, the public API) →
//! `client` and `detect` (the [`Llm`] handle) → `attempt`/`stream` (inside `client/`) →
//! `openai`, `anthropic` → `provider`, `cache`, `cost`, `record`, `retry`, `sse` → `model`,
//! `config`, `prompts` → `message`, `error_text`. Submodules are private; what front-ends use is
//! re-exported here. `parse` and `prompts` stay public as namespaces of their own (each has its
//! own error type).

mod anthropic;
mod cache;
mod client;
mod config;
mod cost;
mod detect;
mod error_text;
mod event;
mod message;
mod model;
mod openai;
pub mod parse;
pub mod prompts;
mod provider;
mod record;
mod retry;
mod sse;

use std::time::Duration;

pub use cache::CachePolicy;
pub use client::{ChatRequest, Completion, Llm, MAX_REPLY_BYTES};
pub use config::{ModelConfig, ModelsConfig, ProviderKind, RetryConfig, StageModels};
pub use detect::{configured as configured_models, detected_from_env, doctor_checks};
pub use event::{CallEvent, CallEvents, RetryReason};
pub use message::{FinishReason, Message, Params, Role, Usage};
pub use model::{Model, ModelSource};
pub use prompts::Stage;
pub use record::Recorder;

/// The wire format of a provider kind.
fn for_kind(kind: ProviderKind) -> &'static dyn provider::Provider {
    match kind {
        ProviderKind::Openai => &openai::OpenAi,
        ProviderKind::Anthropic => &anthropic::Anthropic,
    }
}

/// The three ways to get a model, shown whenever none is configured.
pub const NO_MODEL_HELP: &str = "set OPENAI_API_KEY or ANTHROPIC_API_KEY in the environment, \
start Ollama on localhost:11434 with a model pulled (`ollama pull llama3.2`), \
or add a [models.named.<name>] section to config.toml (see docs/models.md)";

/// Errors of the model layer. None of them ever contains an API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("no model configured: {NO_MODEL_HELP}")]
    NoModel,
    #[error("unknown model '{name}'; configured models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("model '{name}' has no model id; set models.named.{name}.model")]
    MissingModelId { name: String },
    #[error(
        "model '{name}' reads its API key from the environment variable '{var}', which is not set; export {var} or change models.named.{name}.api_key_env"
    )]
    MissingKey { name: String, var: String },
    #[error("model '{name}': the provider answered {status}: {message}; {hint}")]
    Rejected {
        name: String,
        status: u16,
        message: String,
        hint: String,
    },
    #[error("model '{name}': gave up after {}: {last}", error_text::count(*attempts, "attempt"))]
    GaveUp {
        name: String,
        attempts: u32,
        last: String,
    },
    #[error(
        "model '{name}': no response from {url} within {}s, twice; a response-header timeout is retried once. If the server is just slow, raise models.named.{name}.timeout_ms", wait.as_secs_f32()
    )]
    NoResponse {
        name: String,
        url: String,
        wait: Duration,
    },
    #[error(
        "model '{name}': no complete reply within {}s (models.call_timeout_ms bounds the whole call, retries included); raise it, or set it to 0 for no bound ({} bytes of reply kept)", limit.as_secs_f32(), partial.len()
    )]
    CallTimeout {
        name: String,
        limit: Duration,
        partial: String,
    },
    #[error(
        "model '{name}': the provider asked to retry after {}s, longer than models.retry.max_retry_after_ms allows; try again later", wait.as_secs()
    )]
    RetryAfterTooLong { name: String, wait: Duration },
    #[error("model '{name}': {reason}{} ({} bytes of reply kept)", reason.hint(name), partial.len())]
    Stream {
        name: String,
        reason: StreamFailure,
        partial: String,
    },
    #[error("model '{name}': cancelled ({} bytes of reply kept)", partial.len())]
    Cancelled { name: String, partial: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot record the model call")]
    Record(#[source] crate::engine::store::Error),
    #[error("cannot record the model call: {0}")]
    Recorder(String),
    #[error(transparent)]
    Prompt(#[from] prompts::Error),
    #[error(transparent)]
    Parse(#[from] parse::Error),
}

/// How a stream that had started went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamFailure {
    /// The connection closed (or the body ended) before the end marker; the HTTP library's
    /// own words are kept here for the log, not shown.
    #[error("the connection closed before the reply finished")]
    Cut(String),
    #[error("the provider sent an invalid chunk: {0}")]
    BadChunk(String),
    #[error("the provider reported an error mid-stream: {0}")]
    Provider(String),
    /// No data for this long; the message names the model's `timeout_ms` key.
    #[error("no data for {}s", .0.as_secs_f32())]
    ReadTimeout(Duration),
    #[error("the reply is larger than {0} bytes")]
    TooLarge(usize),
}

impl StreamFailure {
    /// What to change, for the model named `name`: shown after the failure.
    fn hint(&self, name: &str) -> String {
        match self {
            Self::ReadTimeout(_) => format!(" (models.named.{name}.timeout_ms)"),
            _ => String::new(),
        }
    }
}

impl Error {
    /// The text received before the call failed, if any was.
    pub fn partial(&self) -> Option<&str> {
        match self {
            Self::Stream { partial, .. }
            | Self::Cancelled { partial, .. }
            | Self::CallTimeout { partial, .. } => Some(partial),
            _ => None,
        }
    }
}
