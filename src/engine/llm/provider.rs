//! What every wire format provides: how to build a streaming chat request and a model-list
//! request, and how to turn one server-sent event into text deltas, usage and an end marker.
//!
//! Providers are stateless; the per-call state (usage so far, the finish reason, whether the end
//! marker arrived) lives in [`StreamState`], owned by the call. Which provider serves a kind is
//! decided one level up (`llm::for_kind`), so this trait knows no implementation of itself.

use serde::Deserialize as _;

use super::config::ProviderKind;
use super::error_text::truncate;
use super::message::{FinishReason, Message, Params, Usage};
use super::sse::Event;

/// Per-call decoding state.
#[derive(Debug, Default)]
pub(super) struct StreamState {
    pub usage: Usage,
    /// The provider's end-of-stream marker arrived (`[DONE]`, `message_stop`).
    pub done: bool,
    /// Why the provider said the reply ended, once it has said so.
    pub finish: Option<FinishReason>,
}

/// Why one event could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// The event's JSON did not parse.
    BadChunk(String),
    /// The provider sent an error in the stream.
    Provider(String),
}

/// A wire format.
pub(super) trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// The chat endpoint under `base_url`.
    fn chat_url(&self, base_url: &str) -> String;

    /// The model-list endpoint under `base_url`.
    fn models_url(&self, base_url: &str) -> String {
        format!("{base_url}/models")
    }

    /// The JSON body of a streaming chat request.
    fn chat_body(&self, model: &str, messages: &[Message], params: &Params) -> serde_json::Value;

    /// Adds authentication and version headers. The key header is marked sensitive so it never
    /// shows up in `Debug` output or logs.
    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder;

    /// Handles one event: text goes to `on_text`, usage and the end marker into `state`.
    fn decode(
        &self,
        event: &Event<'_>,
        state: &mut StreamState,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), DecodeError>;

    /// Handles a whole non-streamed reply, from a server that ignored `stream: true`.
    fn decode_whole(
        &self,
        body: &serde_json::Value,
        state: &mut StreamState,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), DecodeError>;

    /// Model ids from a model-list response body.
    fn model_ids(&self, body: &serde_json::Value) -> Vec<String> {
        body.get("data")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("id")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A header value the HTTP client will never print.
pub(crate) fn secret_header(value: &str) -> Option<reqwest::header::HeaderValue> {
    let mut v = reqwest::header::HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The message of a provider error body such as `{"error": {"message": "..."}}`, else the
/// start of the raw body.
pub(super) fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        let e = v.get("error").unwrap_or(v);
        e.get("message")
            .and_then(serde_json::Value::as_str)
            .or_else(|| e.as_str())
            .map(str::to_owned)
    });
    let text = message.unwrap_or_else(|| body.trim().to_owned());
    truncate(&text, 300)
}

/// The start of an event's data, quoted in a bad-chunk message.
pub(crate) fn short(data: &str) -> String {
    truncate(data, 120)
}

/// Token counts as either wire format spells them (`prompt_tokens`/`completion_tokens` or
/// `input_tokens`/`output_tokens`), in a stream event or a whole reply.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct WireUsage {
    #[serde(alias = "prompt_tokens")]
    input_tokens: Option<u64>,
    #[serde(alias = "completion_tokens")]
    output_tokens: Option<u64>,
}

impl WireUsage {
    /// Counts this event reported replace those so far; counts it left out keep theirs.
    pub(crate) fn add_to(&self, usage: &mut Usage) {
        usage.tokens_in = self.input_tokens.or(usage.tokens_in);
        usage.tokens_out = self.output_tokens.or(usage.tokens_out);
    }
}

/// The common end of decoding a whole (non-streamed) reply: its text as one delta, then its
/// `usage` object and the finish reason found at `finish_pointer`.
pub(crate) fn deliver_whole(
    body: &serde_json::Value,
    text: &str,
    finish_pointer: &str,
    state: &mut StreamState,
    on_text: &mut dyn FnMut(&str),
) {
    if !text.is_empty() {
        on_text(text);
    }
    if let Some(usage) = body
        .get("usage")
        .and_then(|u| WireUsage::deserialize(u).ok())
    {
        usage.add_to(&mut state.usage);
    }
    state.finish = body
        .pointer(finish_pointer)
        .and_then(serde_json::Value::as_str)
        .map(FinishReason::from_provider);
}

/// A provider's `error` object (`{"message": ...}` or a bare string) as a decode error.
pub(crate) fn provider_error(error: &serde_json::Value) -> DecodeError {
    DecodeError::Provider(error_message(
        &serde_json::json!({ "error": error }).to_string(),
    ))
}
