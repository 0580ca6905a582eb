//! [`Model`]: a model ready to call (its name, its config and where it came from), and what to
//! fix when its provider refuses a request.

use std::fmt;

use serde::Serialize;

use super::config::ModelConfig;

/// A model ready to call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    /// The config name (`fast`), or the detection source's name (`openai`, `ollama`).
    pub name: String,
    pub config: ModelConfig,
    pub source: ModelSource,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum ModelSource {
    /// `[models.named.<name>]`.
    Configured,
    /// Detected from this environment variable.
    EnvKey(String),
    /// Detected from a local Ollama server at this URL.
    Ollama(String),
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Configured => f.write_str("configured"),
            Self::EnvKey(var) => write!(f, "detected from {var}"),
            Self::Ollama(url) => write!(f, "detected Ollama at {url}"),
        }
    }
}

impl Model {
    /// What to fix for an HTTP status that is not worth retrying. Chat calls and model-list
    /// checks (`kiln models`) give the same advice.
    pub(crate) fn status_hint(&self, status: u16) -> String {
        let name = &self.name;
        match status {
            401 | 403 => match &self.config.api_key_env {
                Some(var) => format!(
                    "check the API key in the environment variable '{var}' (models.named.{name}.api_key_env) and that it may use model '{}'",
                    self.config.model
                ),
                None => format!(
                    "this server wants an API key: put it in an environment variable and name it in models.named.{name}.api_key_env"
                ),
            },
            404 => format!(
                "check models.named.{name}.base_url ('{}') and models.named.{name}.model ('{}'); `kiln models` lists what the server offers",
                self.config.base_url(),
                self.config.model
            ),
            413 => "the request is too large: shorten the prompt or the context".into(),
            _ => format!(
                "check models.named.{name} (model, max_tokens, temperature) against what the provider accepts"
            ),
        }
    }
}
