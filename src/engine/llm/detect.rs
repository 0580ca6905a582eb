//! Which model a call uses: a named model from config, else zero-config detection.
//!
//! Detection looks, in order, for `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` and an Ollama server
//! (`models.ollama_url`, by default localhost:11434), and reports which it picked.
//! `OPENAI_BASE_URL` and `ANTHROPIC_BASE_URL` are honoured as they are by the vendors' SDKs.

use std::time::Duration;

use super::client::Llm;
use super::config::{ModelConfig, ModelsConfig, ProviderKind};
use super::error_text::{error_chain, redact};
use super::model::{Model, ModelSource};
use super::prompts::Stage;
use super::provider;
use super::{Error, NO_MODEL_HELP, for_kind};
use crate::engine::doctor::{Check, CheckStatus};
use crate::engine::env::Env;

const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";
const ANTHROPIC_DEFAULT_MODEL: &str = "claude-3-5-haiku-latest";

/// Named models from config, in name order.
pub fn configured(config: &ModelsConfig) -> Vec<Model> {
    config
        .named
        .iter()
        .map(|(name, c)| Model {
            name: name.clone(),
            config: c.clone(),
            source: ModelSource::Configured,
        })
        .collect()
}

/// Models detected from API keys in the environment (no network).
pub fn detected_from_env(env: &Env) -> Vec<Model> {
    let mut out = Vec::new();
    if env.get("OPENAI_API_KEY").is_some() {
        out.push(Model {
            name: "openai".into(),
            config: ModelConfig {
                provider: ProviderKind::Openai,
                base_url: env.get("OPENAI_BASE_URL").map(str::to_owned),
                model: OPENAI_DEFAULT_MODEL.into(),
                api_key_env: Some("OPENAI_API_KEY".into()),
                price_in_per_mtok: 0.15,
                price_out_per_mtok: 0.60,
                ..ModelConfig::default()
            },
            source: ModelSource::EnvKey("OPENAI_API_KEY".into()),
        });
    }
    if env.get("ANTHROPIC_API_KEY").is_some() {
        let base_url = env.get("ANTHROPIC_BASE_URL").map(|u| {
            let u = u.trim_end_matches('/');
            if u.ends_with("/v1") {
                u.to_owned()
            } else {
                format!("{u}/v1")
            }
        });
        out.push(Model {
            name: "anthropic".into(),
            config: ModelConfig {
                provider: ProviderKind::Anthropic,
                base_url,
                model: ANTHROPIC_DEFAULT_MODEL.into(),
                api_key_env: Some("ANTHROPIC_API_KEY".into()),
                price_in_per_mtok: 0.80,
                price_out_per_mtok: 4.00,
                ..ModelConfig::default()
            },
            source: ModelSource::EnvKey("ANTHROPIC_API_KEY".into()),
        });
    }
    out
}

impl Llm {
    /// The model to use: `name` if given, else `models.default`, else the first named model,
    /// else the first detected one.
    pub async fn resolve(&self, name: Option<&str>) -> Result<Model, Error> {
        let config = self.config();
        let named = configured(config);
        let wanted = name.or(config.default.as_deref());
        if let Some(wanted) = wanted {
            if let Some(m) = named.iter().find(|m| m.name == wanted) {
                return Ok(m.clone());
            }
            if named.is_empty()
                && let Some(m) = self.detect().await.into_iter().find(|m| m.name == wanted)
            {
                return Ok(m);
            }
            let known: Vec<&str> = named.iter().map(|m| m.name.as_str()).collect();
            return Err(Error::UnknownModel {
                name: wanted.to_owned(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        }
        if let Some(first) = named.into_iter().next() {
            return Ok(first);
        }
        let picked = self
            .detect()
            .await
            .into_iter()
            .next()
            .ok_or(Error::NoModel)?;
        tracing::info!(model = %picked.name, source = %picked.source, "no model configured; using a detected one");
        Ok(picked)
    }

    /// The model for a pipeline stage: `models.stages.<stage>`, else as [`Llm::resolve`].
    pub async fn resolve_for_stage(&self, stage: Stage) -> Result<Model, Error> {
        let named = self.config().stages.get(stage).map(str::to_owned);
        self.resolve(named.as_deref()).await
    }

    /// Every model detection finds, in preference order.
    pub async fn detect(&self) -> Vec<Model> {
        let mut out = detected_from_env(self.env());
        if self.config().detect_ollama
            && let Some(m) = self.detect_ollama().await
        {
            out.push(m);
        }
        out
    }

    async fn detect_ollama(&self) -> Option<Model> {
        let root = self.config().ollama_url.trim_end_matches('/').to_owned();
        let base_url = format!("{root}/v1");
        let response = self
            .http()
            .get(format!("{base_url}/models"))
            .timeout(Duration::from_millis(800))
            .send()
            .await
            .ok()?;
        let body: serde_json::Value = response.error_for_status().ok()?.json().await.ok()?;
        let id = for_kind(ProviderKind::Openai)
            .model_ids(&body)
            .into_iter()
            .next()?;
        Some(Model {
            name: "ollama".into(),
            config: ModelConfig {
                provider: ProviderKind::Openai,
                base_url: Some(base_url),
                model: id,
                ..ModelConfig::default()
            },
            source: ModelSource::Ollama(root),
        })
    }

    /// Lists the models the server offers: the cheap reachability check of `kiln models`.
    pub async fn list_models(&self, model: &Model) -> Result<Vec<String>, Error> {
        let key = self.key(model)?;
        let provider = for_kind(model.config.provider);
        let url = provider.models_url(model.config.base_url());
        let request = provider.authorize(
            self.http()
                .get(&url)
                .timeout(model.config.timeout().min(Duration::from_secs(15))),
            key.as_deref(),
        );
        let response = request.send().await.map_err(|e| Error::GaveUp {
            name: model.name.clone(),
            attempts: 1,
            last: redact(&error_chain(&e), key.as_deref()),
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(Error::Rejected {
                name: model.name.clone(),
                status,
                message: redact(&provider::error_message(&text), key.as_deref()),
                // A refused key gets the same advice as in a chat call (naming the variable);
                // anything else here is most likely the wrong server.
                hint: if matches!(status, 401 | 403) {
                    model.status_hint(status)
                } else {
                    format!("check models.named.{}.base_url and api_key_env", model.name)
                },
            });
        }
        let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        Ok(provider.model_ids(&body))
    }
}

/// Model status for `kiln doctor`, without network access: which model would be used and
/// whether each configured one has its key.
pub fn doctor_checks(config: &ModelsConfig, env: &Env) -> Vec<Check> {
    let mut checks = Vec::new();
    let named = configured(config);
    if named.is_empty() {
        let detected = detected_from_env(env);
        checks.push(match detected.first() {
            Some(m) => Check::new(
                "models",
                CheckStatus::Ok,
                format!("none configured; would use {} ({}, {})", m.config.model, m.name, m.source),
            ),
            None if config.detect_ollama => Check::new(
                "models",
                CheckStatus::Warn,
                format!(
                    "none configured and no API key in the environment; kiln will look for Ollama at {}. Otherwise: {NO_MODEL_HELP}",
                    config.ollama_url
                ),
            ),
            None => Check::new(
                "models",
                CheckStatus::Fail,
                format!("no model configured: {NO_MODEL_HELP}"),
            ),
        });
    }
    if let Some(d) = &config.default
        && !config.named.contains_key(d)
    {
        checks.push(Check::new(
            "models: default",
            CheckStatus::Fail,
            format!("models.default names '{d}', which is not a [models.named.{d}] section"),
        ));
    }
    for stage in Stage::ALL {
        if let Some(wanted) = config.stages.get(stage)
            && !config.named.contains_key(wanted)
        {
            checks.push(Check::new(
                format!("models: {} stage", stage.as_str()),
                CheckStatus::Fail,
                format!(
                    "models.stages.{} names '{wanted}', which is not a [models.named.{wanted}] section",
                    stage.as_str()
                ),
            ));
        }
    }
    for m in named {
        let name = format!("model: {}", m.name);
        let check = if m.config.model.is_empty() {
            Check::new(
                name,
                CheckStatus::Fail,
                format!("set models.named.{}.model", m.name),
            )
        } else {
            match &m.config.api_key_env {
                Some(var) if env.get(var).is_none() => Check::new(
                    name,
                    CheckStatus::Fail,
                    format!("the environment variable '{var}' (api_key_env) is not set"),
                ),
                _ => Check::new(
                    name,
                    CheckStatus::Ok,
                    format!(
                        "{} {} at {}",
                        m.config.provider.as_str(),
                        m.config.model,
                        m.config.base_url()
                    ),
                ),
            }
        };
        checks.push(check);
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_detection_prefers_openai_then_anthropic() {
        let env = Env::from_pairs([
            ("ANTHROPIC_API_KEY", "a"),
            ("OPENAI_API_KEY", "o"),
            ("ANTHROPIC_BASE_URL", "http://x"),
        ]);
        let found = detected_from_env(&env);
        assert_eq!(found[0].name, "openai");
        assert_eq!(found[1].config.base_url(), "http://x/v1");
        assert!(detected_from_env(&Env::default()).is_empty());
    }

    #[test]
    fn doctor_flags_missing_keys() {
        let config: ModelsConfig = toml::from_str(
            "detect_ollama = false\n[named.a]\nmodel = \"m\"\napi_key_env = \"NOPE\"\n",
        )
        .unwrap();
        let checks = doctor_checks(&config, &Env::default());
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, CheckStatus::Fail);
        assert!(checks[0].detail.contains("NOPE"));
    }
}
