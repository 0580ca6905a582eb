//! The `[models]` config section: named models, retry policy and timeouts.
//!
//! Config names the environment variable that holds an API key (`api_key_env`), never the key
//! itself: a literal `api_key` is rejected while the file is read, with a message saying what to
//! do instead, so a key never lands in a config file, a `kiln config` listing or the database.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// The `[models]` section of the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// The model used when a command or stage names none; else the first named model, else
    /// auto-detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Named models: `[models.named.fast]`, `[models.named.strong]`, ...
    pub named: BTreeMap<String, ModelConfig>,
    /// Which named model each pipeline stage uses (`[models.stages] review = "fast"`); stages
    /// left out use `default`.
    pub stages: StageModels,
    /// Connection timeout for every provider.
    pub connect_timeout_ms: u64,
    /// The longest a whole call may take, retries and streaming included; 0 for no bound.
    pub call_timeout_ms: u64,
    /// Retries on 429, 5xx and connection errors.
    pub retry: RetryConfig,
    /// Serve repeated identical requests from the response cache even when temperature > 0.
    pub cache_always: bool,
    /// Where auto-detection looks for an Ollama server.
    pub ollama_url: String,
    /// Probe for a local Ollama server when no model is configured.
    pub detect_ollama: bool,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            default: None,
            named: BTreeMap::new(),
            stages: StageModels::default(),
            connect_timeout_ms: 10_000,
            call_timeout_ms: 0,
            retry: RetryConfig::default(),
            cache_always: false,
            ollama_url: "http://localhost:11434".into(),
            detect_ollama: true,
        }
    }
}

impl ModelsConfig {
    /// `call_timeout_ms` as a bound, `None` when it is 0.
    pub fn call_timeout(&self) -> Option<Duration> {
        (self.call_timeout_ms > 0).then(|| Duration::from_millis(self.call_timeout_ms))
    }
}

/// The model of each pipeline stage, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StageModels {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub improve: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
}

impl StageModels {
    /// The model named for `stage`, if any.
    pub fn get(&self, stage: super::prompts::Stage) -> Option<&str> {
        use super::prompts::Stage;
        match stage {
            Stage::Spec => self.spec.as_deref(),
            Stage::Generate => self.generate.as_deref(),
            Stage::Tests => self.tests.as_deref(),
            Stage::Review => self.review.as_deref(),
            Stage::Improve => self.improve.as_deref(),
            Stage::Docs => self.docs.as_deref(),
        }
    }
}

/// The wire format a model speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// `/chat/completions`: OpenAI, Ollama, llama.cpp, vLLM, LM Studio, OpenRouter, Groq, ...
    #[default]
    Openai,
    /// `/messages`: Anthropic.
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
        }
    }

    /// The base URL used when config gives none.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::Openai => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com/v1",
        }
    }
}

/// One named model: `[models.named.<name>]`.
///
/// Every field has a default so that each config layer (user file, project file, env, flags)
/// validates on its own; a missing `model` is reported when the model is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub provider: ProviderKind,
    /// Up to and including the version segment, e.g. `http://localhost:11434/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The provider's model id, e.g. `gpt-4o-mini`.
    pub model: String,
    /// The NAME of the environment variable holding the API key (none for local servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Never accepted: present only to reject literal keys with a useful message.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "reject_literal_key"
    )]
    pub api_key: Option<LiteralKey>,
    pub max_tokens: u32,
    pub temperature: f64,
    /// US dollars per million input tokens.
    pub price_in_per_mtok: f64,
    /// US dollars per million output tokens.
    pub price_out_per_mtok: f64,
    /// The longest wait for response headers or for the next chunk of a stream.
    pub timeout_ms: u64,
    /// Requests in flight at once to this model's provider endpoint (per process); models on
    /// the same endpoint share the smallest of their limits.
    pub max_concurrent: u32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Openai,
            base_url: None,
            model: String::new(),
            api_key_env: None,
            api_key: None,
            max_tokens: 4_096,
            temperature: 0.0,
            price_in_per_mtok: 0.0,
            price_out_per_mtok: 0.0,
            timeout_ms: 120_000,
            max_concurrent: 4,
        }
    }
}

impl ModelConfig {
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or_else(|| self.provider.default_base_url())
            .trim_end_matches('/')
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }
}

/// Uninhabitable in practice: deserializing one always fails.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiteralKey;

fn reject_literal_key<'de, D: Deserializer<'de>>(_: D) -> Result<Option<LiteralKey>, D::Error> {
    Err(serde::de::Error::custom(
        "API keys do not belong in config files: put the key in an environment variable and \
         name it with `api_key_env = \"OPENAI_API_KEY\"` (or another variable name)",
    ))
}

/// Retry policy for 429, 5xx and connection errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The first backoff; each retry doubles it, with jitter.
    pub initial_backoff_ms: u64,
    /// The longest backoff between two attempts.
    pub max_backoff_ms: u64,
    /// The longest `Retry-After` kiln honours; a longer one ends the call with an error.
    pub max_retry_after_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_backoff_ms: 500,
            max_backoff_ms: 20_000,
            max_retry_after_ms: 60_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_key_is_rejected_and_not_echoed() {
        let err = toml::from_str::<ModelsConfig>(
            "[named.x]\nmodel = \"m\"\napi_key = \"sk-very-secret\"\n",
        )
        .unwrap_err()
        .message()
        .to_owned();
        assert!(err.contains("api_key_env"), "{err}");
        assert!(!err.contains("sk-very-secret"), "{err}");
    }

    #[test]
    fn partial_layers_validate_and_defaults_round_trip() {
        let c: ModelsConfig = toml::from_str("[named.x]\ntemperature = 0.5\n").unwrap();
        assert_eq!(c.named["x"].max_tokens, 4_096);
        let table = toml::Table::try_from(ModelsConfig::default()).unwrap();
        let back: ModelsConfig = table.try_into().unwrap();
        assert_eq!(back, ModelsConfig::default());
    }
}
