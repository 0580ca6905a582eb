//! [`Llm`]: the one entry point for model calls.
//!
//! A call resolves the key, consults the cache, then makes attempts: each attempt holds a permit
//! of its provider's concurrency limit, waits at most `timeout_ms` for headers and for each chunk,
//! and either streams (text goes to the caller's callback as it arrives), fails for good (4xx
//! other than 408/409/429, with a hint), or fails in a way worth retrying (429, 5xx, connection
//! errors), in which case the permit is released during the backoff. Once text has streamed the
//! call is never retried: a cut stream is an error that keeps the partial text. Every call ends in
//! exactly one `generations` row, whatever its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::cache::{self, CachePolicy};
use super::config::ModelsConfig;
use super::detect::Model;
use super::provider::{self, DecodeError, Message, Params, Provider, StreamState, Usage};
use super::record::Recorder;
use super::retry::{self, Backoff, Next};
use super::sse::{self, InvalidUtf8};
use super::{Error, StreamFailure, cost};
use crate::engine::env::Env;
use crate::engine::store::NewGeneration;

/// Replies larger than this on the wire are cut off with an error.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

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

/// Everything an attempt loop produced, success or not.
#[derive(Debug, Default)]
struct Streamed {
    text: String,
    usage: Usage,
    ttft: Option<Duration>,
    attempts: u32,
    chunks: u64,
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
        let provider = provider::for_kind(model.config.provider);
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
            });
        }

        let mut streamed = Streamed::default();
        let outcome = self
            .attempts(
                model,
                provider,
                key.as_deref(),
                &request.messages,
                &params,
                started,
                &mut streamed,
                on_text,
                cancel,
            )
            .await
            .map_err(|e| redact_stream_error(e, key.as_deref()));
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
            Ok(()) => row.status = "ok".into(),
            Err(e) => {
                row.status = if matches!(e, Error::Cancelled { .. }) {
                    "cancelled".into()
                } else {
                    "error".into()
                };
                row.error = Some(e.to_string());
            }
        }
        // A reply that was paid for is not thrown away because the database failed: the failure
        // is logged and the completion returned without a generation id.
        let generation_id = match self.record(row).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(model = %model.name, "{e}");
                None
            }
        };
        tracing::debug!(
            model = %model.name,
            ?generation_id,
            attempts = streamed.attempts,
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
        })
    }

    async fn cached(
        &self,
        key: &str,
    ) -> Result<Option<crate::engine::store::CachedResponse>, Error> {
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
        let endpoint =
            |c: &super::config::ModelConfig| format!("{}|{}", c.provider.as_str(), c.base_url());
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

    /// The retry loop. Fills `out` as it goes so a failure still reports partial text.
    #[allow(clippy::too_many_arguments)]
    async fn attempts(
        &self,
        model: &Model,
        provider: &dyn Provider,
        key: Option<&str>,
        messages: &[Message],
        params: &Params,
        started: Instant,
        out: &mut Streamed,
        on_text: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let name = &model.name;
        let url = provider.chat_url(model.config.base_url());
        let body = provider.chat_body(&model.config.model, messages, params);
        let timeout = model.config.timeout();
        let limit = self.limit(model);
        let mut backoff = Backoff::new(&self.config.retry);
        let cancelled = |partial: &str| Error::Cancelled {
            name: name.clone(),
            partial: partial.to_owned(),
        };
        loop {
            out.attempts = backoff.attempts();
            let permit = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(cancelled("")),
                p = limit.clone().acquire_owned() => p.map_err(|_| Error::Client("the concurrency limit was closed".into()))?,
            };
            let request = provider.authorize(self.http.post(&url).json(&body), key);
            let sent = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(cancelled("")),
                r = tokio::time::timeout(timeout, request.send()) => r,
            };
            let (failure, retry_after) = match sent {
                Err(_) => (
                    format!("no response from {url} within {}s", timeout.as_secs_f32()),
                    None,
                ),
                Ok(Err(e)) => {
                    let mut failure = redact(&error_chain(&e), key);
                    if e.is_connect() && (e.is_timeout() || failure.contains("deadline")) {
                        failure = format!(
                            "{failure} (no connection within {} ms: models.connect_timeout_ms)",
                            self.config.connect_timeout_ms
                        );
                    }
                    (failure, None)
                }
                Ok(Ok(response)) if response.status().is_success() => {
                    let result = self
                        .stream(
                            model, provider, response, timeout, started, out, on_text, cancel,
                        )
                        .await;
                    drop(permit);
                    return result;
                }
                Ok(Ok(response)) => {
                    let status = response.status().as_u16();
                    let retry_after = retry::retry_after(response.headers());
                    let body = read_error_body(response, timeout).await;
                    let message = redact(&provider::error_message(&body), key);
                    if !retry::is_retryable_status(status) {
                        return Err(Error::Rejected {
                            name: name.clone(),
                            status,
                            message,
                            hint: hint(status, model),
                        });
                    }
                    (format!("{status}: {message}"), retry_after)
                }
            };
            drop(permit);
            match backoff.next(retry_after) {
                Next::Wait(wait) => {
                    tracing::info!(model = %name, attempt = out.attempts, wait_ms = wait.as_millis() as u64, %failure, "retrying model call");
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return Err(cancelled("")),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Next::GiveUp => {
                    return Err(Error::GaveUp {
                        name: name.clone(),
                        attempts: out.attempts,
                        last: failure,
                    });
                }
                Next::TooLong(wait) => {
                    return Err(Error::RetryAfterTooLong {
                        name: name.clone(),
                        wait,
                    });
                }
            }
        }
    }

    /// Reads one successful response to its end marker.
    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        model: &Model,
        provider: &dyn Provider,
        response: reqwest::Response,
        timeout: Duration,
        started: Instant,
        out: &mut Streamed,
        on_text: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        // A server that ignores `stream: true` answers with one JSON document; read it whole.
        let whole_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut whole = Vec::new();
        let mut body = response.bytes_stream();
        let mut parser = sse::Parser::new();
        let mut state = StreamState::default();
        let mut received = 0usize;
        let fail = |reason: StreamFailure, out: &Streamed| Error::Stream {
            name: model.name.clone(),
            reason,
            partial: out.text.clone(),
        };
        // One timer for the whole stream, pushed forward lazily: re-arming a timer per chunk
        // costs more than parsing the chunk.
        let mut last_data = tokio::time::Instant::now();
        let idle = tokio::time::sleep(timeout);
        tokio::pin!(idle);
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut cancelled => {
                    // Returning drops the body, which closes the connection at once.
                    return Err(Error::Cancelled { name: model.name.clone(), partial: out.text.clone() });
                }
                n = body.next() => Ok(n),
                () = &mut idle => {
                    let deadline = last_data + timeout;
                    if deadline > tokio::time::Instant::now() {
                        idle.as_mut().reset(deadline);
                        continue;
                    }
                    Err(())
                }
            };
            last_data = tokio::time::Instant::now();
            let bytes = match next {
                Err(()) => return Err(fail(StreamFailure::ReadTimeout(timeout), out)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(fail(StreamFailure::Cut(error_chain(&e)), out)),
                Ok(Some(Ok(bytes))) => bytes,
            };
            received += bytes.len();
            if received > MAX_REPLY_BYTES {
                return Err(fail(StreamFailure::TooLarge(MAX_REPLY_BYTES), out));
            }
            if whole_json {
                whole.extend_from_slice(&bytes);
                continue;
            }
            let decoded = feed(
                &mut parser,
                &bytes,
                provider,
                &mut state,
                started,
                out,
                on_text,
            );
            if let Err(e) = decoded {
                return Err(fail(decode_failure(e), out));
            }
            if state.done {
                break;
            }
        }
        if whole_json {
            let decoded = serde_json::from_slice(&whole)
                .map_err(|e| DecodeError::BadChunk(format!("{e} in a JSON reply")))
                .and_then(|value| {
                    provider.decode_whole(&value, &mut state, &mut |text| {
                        out.ttft = Some(started.elapsed());
                        out.chunks += 1;
                        out.text.push_str(text);
                        on_text(text);
                    })
                });
            if let Err(e) = decoded {
                return Err(fail(decode_failure(e), out));
            }
            state.done = true;
        }
        if !state.done
            && let Err(e) = finish(&mut parser, provider, &mut state, started, out, on_text)
        {
            return Err(fail(decode_failure(e), out));
        }
        out.usage = state.usage;
        if !state.done {
            return Err(fail(
                StreamFailure::Cut("the stream ended without its end marker".into()),
                out,
            ));
        }
        Ok(())
    }
}

fn feed(
    parser: &mut sse::Parser,
    bytes: &[u8],
    provider: &dyn Provider,
    state: &mut StreamState,
    started: Instant,
    out: &mut Streamed,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<(), DecodeError> {
    parser.feed(bytes, &mut |event| {
        provider.decode(&event, state, &mut |text| {
            if out.ttft.is_none() {
                out.ttft = Some(started.elapsed());
            }
            out.chunks += 1;
            out.text.push_str(text);
            on_text(text);
        })
    })
}

fn finish(
    parser: &mut sse::Parser,
    provider: &dyn Provider,
    state: &mut StreamState,
    started: Instant,
    out: &mut Streamed,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<(), DecodeError> {
    parser.finish(&mut |event| {
        provider.decode(&event, state, &mut |text| {
            if out.ttft.is_none() {
                out.ttft = Some(started.elapsed());
            }
            out.chunks += 1;
            out.text.push_str(text);
            on_text(text);
        })
    })
}

impl From<InvalidUtf8> for DecodeError {
    fn from(e: InvalidUtf8) -> Self {
        Self::BadChunk(e.to_string())
    }
}

fn decode_failure(e: DecodeError) -> StreamFailure {
    match e {
        DecodeError::BadChunk(m) => StreamFailure::BadChunk(m),
        DecodeError::Provider(m) => StreamFailure::Provider(m),
    }
}

/// What to fix for a status that is not worth retrying.
fn hint(status: u16, model: &Model) -> String {
    let name = &model.name;
    match status {
        401 | 403 => match &model.config.api_key_env {
            Some(var) => format!(
                "check the API key in the environment variable '{var}' (models.named.{name}.api_key_env) and that it may use model '{}'",
                model.config.model
            ),
            None => format!(
                "this server wants an API key: put it in an environment variable and name it in models.named.{name}.api_key_env"
            ),
        },
        404 => format!(
            "check models.named.{name}.base_url ('{}') and models.named.{name}.model ('{}'); `kiln models` lists what the server offers",
            model.config.base_url(),
            model.config.model
        ),
        413 => "the request is too large: shorten the prompt or the context".into(),
        _ => format!(
            "check models.named.{name} (model, max_tokens, temperature) against what the provider accepts"
        ),
    }
}

/// The body of an error response, bounded in size and time.
async fn read_error_body(response: reqwest::Response, timeout: Duration) -> String {
    let mut body = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(timeout, body.next()).await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > 64 * 1024 {
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// An error and its causes, one line: reqwest's own message alone says little.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Scrubs a key from the provider-sent text inside a stream failure (an error event or a bad
/// chunk quoted back); the other variants are redacted where they are built.
fn redact_stream_error(e: Error, key: Option<&str>) -> Error {
    let Error::Stream {
        name,
        reason,
        partial,
    } = e
    else {
        return e;
    };
    let reason = match reason {
        StreamFailure::Cut(m) => StreamFailure::Cut(redact(&m, key)),
        StreamFailure::BadChunk(m) => StreamFailure::BadChunk(redact(&m, key)),
        StreamFailure::Provider(m) => StreamFailure::Provider(redact(&m, key)),
        other => other,
    };
    Error::Stream {
        name,
        reason,
        partial,
    }
}

/// Scrubs a key from text that came from outside (a provider's error body may echo it).
pub(crate) fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 && text.contains(k) => text.replace(k, "[redacted]"),
        _ => text.to_owned(),
    }
}
