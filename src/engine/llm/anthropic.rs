//! Anthropic Messages (`/messages`), streamed.
//!
//! Events: `message_start` (input tokens), `content_block_delta` (text), `message_delta`
//! (output tokens and `stop_reason`), `message_stop` (the end marker), `ping`, and `error`. System messages move
//! to the top-level `system` field, as the API requires.

use serde::Deserialize;
use serde_json::json;

use super::config::ProviderKind;
use super::message::{FinishReason, Message, Params, Role};
use super::provider::{
    DecodeError, Provider, StreamState, WireUsage, deliver_whole, error_message, provider_error,
    secret_header, short,
};
use super::sse::Event;

pub(super) struct Anthropic;

const API_VERSION: &str = "2023-06-01";

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    message: Option<MessageStart>,
    delta: Option<BlockDelta>,
    usage: Option<WireUsage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MessageStart {
    usage: Option<WireUsage>,
}

/// The `delta` of a `content_block_delta` (text) or of a `message_delta` (stop reason).
#[derive(Deserialize)]
struct BlockDelta {
    text: Option<String>,
    stop_reason: Option<String>,
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
        deliver_whole(body, &text, "/stop_reason", state, on_text);
        Ok(())
    }

    fn decode(
        &self,
        event: &Event<'_>,
        state: &mut StreamState,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), DecodeError> {
        let data = event.data.trim();
        let payload: Payload = serde_json::from_str(data)
            .map_err(|e| DecodeError::BadChunk(format!("{e} in event '{}'", short(data))))?;
        match payload.kind.as_str() {
            "content_block_delta" => {
                if let Some(text) = payload.delta.and_then(|d| d.text) {
                    on_text(&text);
                }
            }
            "message_start" => {
                if let Some(u) = payload.message.and_then(|m| m.usage) {
                    u.add_to(&mut state.usage);
                }
            }
            "message_delta" => {
                if let Some(u) = payload.usage {
                    u.add_to(&mut state.usage);
                }
                if let Some(word) = payload.delta.and_then(|d| d.stop_reason) {
                    state.finish = Some(FinishReason::from_provider(&word));
                }
            }
            "message_stop" => state.done = true,
            "error" => return Err(provider_error(&payload.error.unwrap_or_default())),
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
    fn usage_and_stop_reason_come_from_start_and_delta_events() {
        let mut state = StreamState::default();
        let mut text = String::new();
        for data in [
            r#"{"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}"#,
            r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":7}}"#,
            r#"{"type":"message_stop"}"#,
        ] {
            Anthropic
                .decode(&Event { name: "", data }, &mut state, &mut |t| {
                    text.push_str(t);
                })
                .unwrap();
        }
        assert_eq!(text, "hi");
        assert!(state.done);
        assert_eq!(state.finish, Some(FinishReason::Length));
        assert_eq!(
            (state.usage.tokens_in, state.usage.tokens_out),
            (Some(12), Some(7))
        );
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
