//! [`Call`]: everything one model call needs once its key, provider and request body are known,
//! and [`Streamed`], what it has produced so far.
//!
//! The attempt loop (`attempt.rs`) and the stream reader (`stream.rs`) both work on a `Call`;
//! the call owns its [`Streamed`], so a failure at any point still reports the partial text.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::super::Error;
use super::super::config::RetryConfig;
use super::super::event::{CallEvent, CallEvents};
use super::super::message::{FinishReason, Usage};
use super::super::model::Model;
use super::super::provider::Provider;

/// One model call in flight.
pub(super) struct Call<'a> {
    pub(super) http: &'a reqwest::Client,
    pub(super) model: &'a Model,
    pub(super) provider: &'static dyn Provider,
    pub(super) key: Option<&'a str>,
    pub(super) url: String,
    pub(super) body: serde_json::Value,
    /// The longest wait for headers and for each chunk (`models.named.<name>.timeout_ms`).
    pub(super) timeout: Duration,
    /// `models.connect_timeout_ms`, quoted in connection errors.
    pub(super) connect_timeout_ms: u64,
    /// The concurrency limit of the model's endpoint.
    pub(super) limit: Arc<Semaphore>,
    pub(super) retry: &'a RetryConfig,
    pub(super) started: Instant,
    pub(super) cancel: &'a CancellationToken,
    pub(super) on_text: &'a mut (dyn FnMut(&str) + Send),
    /// Where progress goes (retries), if anyone listens.
    pub(super) events: Option<&'a CallEvents>,
    pub(super) out: Streamed,
}

/// Everything the call produced, success or not.
#[derive(Debug, Default)]
pub(super) struct Streamed {
    pub(super) text: String,
    pub(super) usage: Usage,
    pub(super) ttft: Option<Duration>,
    pub(super) attempts: u32,
    pub(super) chunks: u64,
    /// Why the provider ended the reply, once it said so.
    pub(super) finish: Option<FinishReason>,
}

impl Streamed {
    /// Takes one text delta: timed, counted, kept, and passed to the caller.
    pub(super) fn push(
        &mut self,
        text: &str,
        started: Instant,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) {
        if self.ttft.is_none() {
            self.ttft = Some(started.elapsed());
        }
        self.chunks += 1;
        self.text.push_str(text);
        on_text(text);
    }
}

impl Call<'_> {
    /// Tells the listener, if any; a listener that went away is no reason to fail the call.
    pub(super) fn emit(&self, event: CallEvent) {
        if let Some(events) = self.events {
            let _ = events.send(event);
        }
    }

    /// The error for a cancelled call, keeping what arrived.
    pub(super) fn cancelled(&self) -> Error {
        Error::Cancelled {
            name: self.model.name.clone(),
            partial: self.out.text.clone(),
        }
    }
}
