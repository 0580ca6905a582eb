//! OpenAI-compatible chat completions (`/chat/completions`), streamed.
//!
//! One wire format serves OpenAI, Ollama, llama.cpp's server, vLLM, LM Studio, OpenRouter, Groq
//! and the like. The finish reason arrives in the last chunk with choices
//! (`choices[0].finish_reason`); usage arrives in a final chunk with empty `choices` when the
//! request sets `stream_options.include_usage`; the stream ends with `data: [DONE]`.

use serde::Deserialize;
use serde_json::json;

use super::config::ProviderKind;
use super::message::{FinishReason, Message, Params};
use super::provider::{
    DecodeError, Provider, StreamState, WireUsage, deliver_whole, error_message, provider_error,
    secret_header, short,
};
use super::sse::Event;

pub(super) struct OpenAi;

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
}

impl Provider for OpenAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openai
    }

    fn chat_url(&self, base_url: &str) -> String {
        format!("{base_url}/chat/completions")
    }

    fn chat_body(&self, model: &str, messages: &[Message], params: &Params) -> serde_json::Value {
        json!({
            "model": model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
        })
    }

    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match key.and_then(|k| secret_header(&format!("Bearer {k}"))) {
            Some(v) => request.header(reqwest::header::AUTHORIZATION, v),
            None => request,
        }
    }

    fn decode_whole(
        &self,
        body: &serde_json::Value,
        state: &mut StreamState,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), DecodeError> {
        if let Some(err) = body.get("error") {
            return Err(provider_error(err));
        }
        let text = body
            .pointer("/choices/0/message/content")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                DecodeError::BadChunk("a JSON reply without choices[0].message.content".into())
            })?;
        deliver_whole(body, text, "/choices/0/finish_reason", state, on_text);
        Ok(())
    }

    fn decode(
        &self,
        event: &Event<'_>,
        state: &mut StreamState,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(), DecodeError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            state.done = true;
            return Ok(());
        }
        if event.name == "error" {
            return Err(DecodeError::Provider(error_message(data)));
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| DecodeError::BadChunk(format!("{e} in chunk '{}'", short(data))))?;
        if let Some(err) = chunk.error {
            return Err(provider_error(&err));
        }
        for choice in chunk.choices {
            if let Some(text) = choice.delta.and_then(|d| d.content)
                && !text.is_empty()
            {
                on_text(&text);
            }
            if let Some(word) = choice.finish_reason {
                state.finish = Some(FinishReason::from_provider(&word));
            }
        }
        if let Some(u) = chunk.usage {
            u.add_to(&mut state.usage);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_deltas_usage_and_done() {
        let mut state = StreamState::default();
        let mut text = Vec::new();
        let mut on = |t: &str| text.push(t.to_owned());
        let ev = |d| Event { name: "", data: d };
        let p = OpenAi;
        p.decode(
            &ev(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#),
            &mut state,
            &mut on,
        )
        .unwrap();
        p.decode(
            &ev(r#"{"choices":[{"delta":{"content":"hi"}}]}"#),
            &mut state,
            &mut on,
        )
        .unwrap();
        p.decode(
            &ev(r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#),
            &mut state,
            &mut on,
        )
        .unwrap();
        p.decode(
            &ev(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#),
            &mut state,
            &mut on,
        )
        .unwrap();
        p.decode(&ev("[DONE]"), &mut state, &mut on).unwrap();
        assert!(matches!(
            p.decode(&ev("{nope"), &mut state, &mut on),
            Err(DecodeError::BadChunk(_))
        ));
        assert_eq!(text, ["hi"]);
        assert!(state.done);
        assert_eq!(state.finish, Some(FinishReason::Length));
        assert_eq!(
            (state.usage.tokens_in, state.usage.tokens_out),
            (Some(3), Some(1))
        );
    }
}
