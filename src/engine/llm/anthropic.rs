//! Anthropic Messages (`/messages`), streamed.
//!
//! Events: `message_start` (input tokens), `content_block_delta` (text), `message_delta`
//! (output tokens), `message_stop` (the end marker), `ping`, and `error`. System messages move
//! to the top-level `system` field, as the API requires.

use serde::Deserialize;
use serde_json::json;

use super::config::ProviderKind;
use super::provider::{
    DecodeError, Message, Params, Provider, Role, StreamState, error_message, secret_header,
};
use super::sse::Event;

pub struct Anthropic;

const API_VERSION: &str = "2023-06-01";

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    message: Option<MessageStart>,
    delta: Option<BlockDelta>,
    usage: Option<AnthropicUsage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MessageStart {
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct BlockDelta {
    text: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl Provider for Anthropic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn chat_url(&self, base_url: &str) -> String {
        format!("{base_url}/messages")
    }

    fn chat_body(&self, model: &str, messages: &[Message], params: &Params) -> serde_json::Value {
        let system: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        let rest: Vec<&Message> = messages.iter().filter(|m| m.role != Role::System).collect();
        let mut body = json!({
            "model": model,
            "messages": rest,
            "stream": true,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        body
    }

    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = request.header("anthropic-version", API_VERSION);
        match key.and_then(secret_header) {
            Some(v) => request.header("x-api-key", v),
            None => request,
        }
    }

    fn decode_whole(
        &self,
        body: &serde_json::Value,
        state: &mut StreamState,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), DecodeError> {
        if body.get("type").and_then(serde_json::Value::as_str) == Some("error") {
            return Err(DecodeError::Provider(error_message(&body.to_string())));
        }
        let blocks = body
            .get("content")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| DecodeError::BadChunk("a JSON reply without content".into()))?;
        let text: String = blocks
            .iter()
            .filter_map(|b| b.get("text")?.as_str())
            .collect();
        if !text.is_empty() {
            on_text(&text);
        }
        let count = |k: &str| {
            body.pointer(&format!("/usage/{k}"))
                .and_then(serde_json::Value::as_u64)
        };
        state.usage.tokens_in = count("input_tokens");
        state.usage.tokens_out = count("output_tokens");
        Ok(())
    }

    fn decode(
        &self,
        event: &Event<'_>,
        state: &mut StreamState,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), DecodeError> {
        let data = event.data.trim();
        let payload: Payload = serde_json::from_str(data).map_err(|e| {
            DecodeError::BadChunk(format!("{e} in event '{}'", super::openai::short(data)))
        })?;
        match payload.kind.as_str() {
            "content_block_delta" => {
                if let Some(text) = payload.delta.and_then(|d| d.text) {
                    on_text(&text);
                }
            }
            "message_start" => {
                if let Some(u) = payload.message.and_then(|m| m.usage) {
                    state.usage.tokens_in = u.input_tokens.or(state.usage.tokens_in);
                    state.usage.tokens_out = u.output_tokens.or(state.usage.tokens_out);
                }
            }
            "message_delta" => {
                if let Some(u) = payload.usage {
                    state.usage.tokens_in = u.input_tokens.or(state.usage.tokens_in);
                    state.usage.tokens_out = u.output_tokens.or(state.usage.tokens_out);
                }
            }
            "message_stop" => state.done = true,
            "error" => {
                let err = payload.error.unwrap_or_default();
                return Err(DecodeError::Provider(error_message(
                    &json!({ "error": err }).to_string(),
                )));
            }
            _ => {} // ping, content_block_start/stop, future event types
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_moves_to_top_level() {
        let body = Anthropic.chat_body(
            "m",
            &[Message::system("be brief"), Message::user("hi")],
            &Params {
                max_tokens: 10,
                temperature: 0.0,
            },
        );
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn error_event_is_a_provider_error() {
        let mut state = StreamState::default();
        let err = Anthropic
            .decode(
                &Event {
                    name: "error",
                    data: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                },
                &mut state,
                &mut |_| {},
            )
            .unwrap_err();
        assert_eq!(err, DecodeError::Provider("Overloaded".into()));
    }
}
