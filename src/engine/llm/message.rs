//! The plain data of a model call: chat messages, sampling parameters, token usage and the
//! reason a reply ended.
//!
//! A leaf module: every other part of the model layer (providers, cache, prompts, client)
//! depends on these types and they depend on nothing of kiln's.

use serde::{Deserialize, Serialize};

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

/// Why the provider ended a reply, normalised across wire formats.
///
/// Stored in `generations.finish_reason` as [`FinishReason::as_str`]; a value kiln does not know
/// is kept as the provider sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// The model finished (OpenAI `stop`, Anthropic `end_turn` or `stop_sequence`).
    Stop,
    /// The reply hit `max_tokens` and was cut (OpenAI `length`, Anthropic `max_tokens`).
    Length,
    /// The model asked to call a tool (`tool_calls`, `tool_use`).
    ToolCalls,
    /// The provider withheld the rest (`content_filter`, Anthropic `refusal`).
    ContentFilter,
    /// Anything else, as the provider spelled it.
    Other(String),
}

impl FinishReason {
    /// The reason from a provider's own word (`finish_reason` or `stop_reason`).
    pub fn from_provider(word: &str) -> Self {
        match word {
            "stop" | "end_turn" | "stop_sequence" => Self::Stop,
            "length" | "max_tokens" | "model_context_window_exceeded" => Self::Length,
            "tool_calls" | "tool_use" | "function_call" => Self::ToolCalls,
            "content_filter" | "refusal" => Self::ContentFilter,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The stored form: `stop`, `length`, `tool_calls`, `content_filter`, else the raw word.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Other(word) => word,
        }
    }

    /// The inverse of [`FinishReason::as_str`], for rows read back from the store.
    pub fn from_stored(word: &str) -> Self {
        Self::from_provider(word)
    }
}

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_words_normalise_and_round_trip() {
        for (word, reason) in [
            ("stop", FinishReason::Stop),
            ("end_turn", FinishReason::Stop),
            ("length", FinishReason::Length),
            ("max_tokens", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("refusal", FinishReason::ContentFilter),
            ("pause_turn", FinishReason::Other("pause_turn".into())),
        ] {
            assert_eq!(FinishReason::from_provider(word), reason);
            assert_eq!(FinishReason::from_stored(reason.as_str()), reason);
        }
    }
}
