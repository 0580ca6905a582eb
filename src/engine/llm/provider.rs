//! What every wire format provides: how to build a streaming chat request and a model-list
//! request, and how to turn one server-sent event into text deltas, usage and an end marker.
//!
//! Providers are stateless; the per-call state (usage so far, whether the end marker arrived)
//! lives in [`StreamState`], owned by the call.

use serde::{Deserialize, Serialize};

use super::config::ProviderKind;
use super::sse::Event;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// Sampling parameters sent with a request (and hashed into the cache key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub max_tokens: u32,
    pub temperature: f64,
}

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
}

/// Per-call decoding state.
#[derive(Debug, Default)]
pub struct StreamState {
    pub usage: Usage,
    /// The provider's end-of-stream marker arrived (`[DONE]`, `message_stop`).
    pub done: bool,
}

/// Why one event could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The event's JSON did not parse.
    BadChunk(String),
    /// The provider sent an error in the stream.
    Provider(String),
}

/// A wire format.
pub trait Provider: Send + Sync {
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

/// The provider for a kind.
pub fn for_kind(kind: ProviderKind) -> &'static dyn Provider {
    match kind {
        ProviderKind::Openai => &super::openai::OpenAi,
        ProviderKind::Anthropic => &super::anthropic::Anthropic,
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
pub fn error_message(body: &str) -> String {
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

pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
