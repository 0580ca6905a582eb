//! [`Llm`]: the one entry point for model calls.
//!
//! A call resolves the key, consults the cache, then makes attempts (`client/attempt.rs`): each
//! attempt holds a permit of its provider's concurrency limit, waits at most `timeout_ms` for
//! headers and for each chunk, and either streams (`client/stream.rs`: text goes to the caller's
//! callback as it arrives), fails for good (4xx other than 408/409/429, with a hint), or fails in
//! a way worth retrying (429, 5xx, connection errors), in which case the permit is released
//! during the backoff. Once text has streamed the call is never retried: a cut stream is an error
//! that keeps the partial text. Every call ends in exactly one `generations` row, whatever its
//! outcome.

mod attempt;
mod call;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::cache::{self, CachePolicy};
use super::config::{ModelConfig, ModelsConfig};
use super::error_text::error_chain;
use super::event::CallEvents;
use super::message::{FinishReason, Message, Params, Usage};
use super::model::Model;
use super::record::Recorder;
use super::{Error, StreamFailure, cost, for_kind};
use crate::engine::env::Env;
use crate::engine::store::{CachedResponse, NewGeneration};
use call::{Call, Streamed};

pub use stream::MAX_REPLY_BYTES;

/// What to ask a model.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Overrides the model's `max_tokens`.
    pub max_tokens: Option<u32>,
    /// Overrides the model's `temperature`.
    pub temperature: Option<f64>,
    pub cache: CachePolicy,
    pub run_id: Option<i64>,
    pub stage_id: Option<i64>,
    /// Where to send progress (retries) while the call runs; `None` to send nothing.
    pub events: Option<CallEvents>,
}

/// A finished call.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    pub latency: Duration,
    /// Time from the start of the call to the first text.
    pub ttft: Option<Duration>,
    pub cost_usd: Option<f64>,
    pub cache_hit: bool,
    pub attempts: u32,
    /// Text deltas received.
    pub chunks: u64,
    /// The `generations` row, when recording.
    pub generation_id: Option<i64>,
    /// Why the provider ended the reply; `None` when it did not say.
    pub finish_reason: Option<FinishReason>,
}

impl Completion {
    /// The reply was cut at `max_tokens`: its text is incomplete, so code or a review parsed
    /// from it would be wrong. Callers treat it as a failed parse (or ask the model to go on).
    pub fn is_truncated(&self) -> bool {
        self.finish_reason == Some(FinishReason::Length)
    }
}

/// The model client. Cheap to share behind an `Arc`.
pub struct Llm {
    http: reqwest::Client,
    config: ModelsConfig,
    env: Env,
    recorder: Option<Recorder>,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for Llm {
    /// Leaves out the environment: it holds API keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("config", &self.config)
            .field("recording", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

impl Llm {
    /// A client for `config`, reading keys from `env`, recording into `recorder` if given.
    pub fn new(config: ModelsConfig, env: Env, recorder: Option<Recorder>) -> Result<Self, Error> {
        // reqwest is built without a default crypto provider (no aws-lc-rs, no cmake): install
        // ring once per process. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms.max(1)))
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Client(error_chain(&e)))?;
        Ok(Self {
            http,
            config,
            env,
            recorder,
            limits: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &ModelsConfig {
        &self.config
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The API key of `model`, if it names one.
    pub(crate) fn key(&self, model: &Model) -> Result<Option<String>, Error> {
        match &model.config.api_key_env {
            None => Ok(None),
            Some(var) => self
                .env
                .get(var)
                .map(|k| Some(k.to_owned()))
                .ok_or_else(|| Error::MissingKey {
                    name: model.name.clone(),
                    var: var.clone(),
                }),
        }
    }

    /// Streams a chat reply from `model`, calling `on_text` with each piece of text as it
    /// arrives, and records the call.
    pub async fn chat(
        &self,
        model: &Model,
        request: ChatRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<Completion, Error> {
        let started = Instant::now();
        if model.config.model.is_empty() {
            return Err(Error::MissingModelId {
                name: model.name.clone(),
            });
        }
        let key = self.key(model)?;
        let provider = for_kind(model.config.provider);
        let params = Params {
            max_tokens: request.max_tokens.unwrap_or(model.config.max_tokens),
            temperature: request.temperature.unwrap_or(model.config.temperature),
        };
        let cache_key = cache::key(
            provider.kind().as_str(),
            model.config.base_url(),
            &model.config.model,
            &request.messages,
            &params,
        );
        let use_cache = request
            .cache
            .applies(params.temperature, self.config.cache_always);
        let mut row = NewGeneration {
            run_id: request.run_id,
            stage_id: request.stage_id,
            provider: provider.kind().as_str().to_owned(),
            model: model.config.model.clone(),
            messages_json: serde_json::to_string(&request.messages).unwrap_or_default(),
            params_json: serde_json::to_string(&params).unwrap_or_default(),
            cache_key: Some(cache_key.clone()),
            ..NewGeneration::default()
        };

        // A cache that cannot be read is a miss, not a failed call.
        let hit = if use_cache {
            self.cached(&cache_key).await.unwrap_or_else(|e| {
                tracing::warn!(model = %model.name, "response cache unavailable: {e}");
                None
            })
        } else {
            None
        };
        if let Some(hit) = hit {
            on_text(&hit.response);
            let latency = started.elapsed();
            row.response = Some(hit.response.clone());
            row.tokens_in = hit.tokens_in;
            row.tokens_out = hit.tokens_out;
            row.latency_ms = Some(latency.as_millis() as i64);
            row.ttft_ms = row.latency_ms;
            row.cost_usd = Some(0.0);
            row.status = "ok".into();
            row.cache_hit = true;
            row.finish_reason.clone_from(&hit.finish_reason);
            let generation_id = self.record(row).await?;
            return Ok(Completion {
                text: hit.response,
                usage: Usage {
                    tokens_in: hit.tokens_in.map(|t| t as u64),
                    tokens_out: hit.tokens_out.map(|t| t as u64),
                },
                latency,
                ttft: Some(latency),
                cost_usd: Some(0.0),
                cache_hit: true,
                attempts: 0,
                chunks: 1,
                generation_id,
                finish_reason: hit.finish_reason.as_deref().map(FinishReason::from_stored),
            });
        }

        let mut call = Call {
            http: &self.http,
            model,
            provider,
            key: key.as_deref(),
            url: provider.chat_url(model.config.base_url()),
            body: provider.chat_body(&model.config.model, &request.messages, &params),
            timeout: model.config.timeout(),
            connect_timeout_ms: self.config.connect_timeout_ms,
            limit: self.limit(model),
            retry: &self.config.retry,
            started,
            cancel,
            on_text,
            events: request.events.as_ref(),
            out: Streamed::default(),
        };
        let outcome = match self.config.call_timeout() {
            None => call.run().await,
            // Dropping the attempt future on the deadline closes its connection; what streamed
            // so far stays in `call.out`.
            Some(limit) => match tokio::time::timeout(limit, call.run()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::CallTimeout {
                    name: model.name.clone(),
                    limit,
                    partial: call.out.text.clone(),
                }),
            },
        };
        let streamed = call.out;
        let latency = started.elapsed();
        let cost_usd = cost::cost_usd(&model.config, &streamed.usage);
        row.tokens_in = streamed.usage.tokens_in.map(|t| t as i64);
        row.tokens_out = streamed.usage.tokens_out.map(|t| t as i64);
        row.latency_ms = Some(latency.as_millis() as i64);
        row.ttft_ms = streamed.ttft.map(|t| t.as_millis() as i64);
        row.cost_usd = cost_usd;
        row.response =
            (outcome.is_ok() || !streamed.text.is_empty()).then(|| streamed.text.clone());
        match &outcome {
            Ok(()) => {
                row.status = "ok".into();
                row.finish_reason = streamed.finish.as_ref().map(|f| f.as_str().to_owned());
            }
            Err(e) => {
                row.status = if matches!(e, Error::Cancelled { .. }) {
                    "cancelled".into()
                } else {
                    "error".into()
                };
                row.finish_reason = Some(row.status.clone());
                row.error = Some(e.to_string());
            }
        }
        if let Err(Error::Stream {
            reason: StreamFailure::Cut(detail),
            ..
        }) = &outcome
        {
            tracing::debug!(model = %model.name, %detail, "the stream was cut");
        }
        // A reply that was paid for is not thrown away because the database failed: the failure
        // is logged and the completion returned without a generation id.
        let generation_id = match self.record(row).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(model = %model.name, "{}", error_chain(&e));
                None
            }
        };
        tracing::debug!(
            model = %model.name,
            ?generation_id,
            attempts = streamed.attempts,
            finish = streamed.finish.as_ref().map_or("", FinishReason::as_str),
            latency_ms = latency.as_millis() as u64,
            ok = outcome.is_ok(),
            "model call finished"
        );
        outcome?;
        Ok(Completion {
            text: streamed.text,
            usage: streamed.usage,
            latency,
            ttft: streamed.ttft,
            cost_usd,
            cache_hit: false,
            attempts: streamed.attempts,
            chunks: streamed.chunks,
            generation_id,
            finish_reason: streamed.finish,
        })
    }

    async fn cached(&self, key: &str) -> Result<Option<CachedResponse>, Error> {
        match &self.recorder {
            Some(r) => r.cached(key).await,
            None => Ok(None),
        }
    }

    async fn record(&self, row: NewGeneration) -> Result<Option<i64>, Error> {
        match &self.recorder {
            Some(r) => r.insert(row).await.map(Some),
            None => Ok(None),
        }
    }

    /// The concurrency limit of the model's provider endpoint (provider and base URL): named
    /// models on one server share it, at the smallest `max_concurrent` among them.
    fn limit(&self, model: &Model) -> Arc<Semaphore> {
        let endpoint = |c: &ModelConfig| format!("{}|{}", c.provider.as_str(), c.base_url());
        let key = endpoint(&model.config);
        let permits = self
            .config
            .named
            .values()
            .filter(|c| endpoint(c) == key)
            .map(|c| c.max_concurrent)
            .chain([model.config.max_concurrent])
            .min()
            .unwrap_or(1)
            .max(1);
        let mut limits = self
            .limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limits
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(permits as usize)))
            .clone()
    }
}
