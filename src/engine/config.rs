//! Layered TOML configuration: built-in defaults < user `config.toml` < project `kiln.toml` <
//! `KILN_<SECTION>__<KEY>` environment variables < `--set key=value` flags.
//!
//! Every layer is validated on its own against the typed [`Config`], so an unknown key or a wrong
//! type is reported with the file, line and key it came from. The layers are then merged as TOML
//! tables, remembering which layer set each leaf, and the merge is deserialized once more.
//! Secrets never live here: config only names the environment variables that hold them.

mod layer;
mod origin;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::env::Env;
pub use layer::Layer;
pub use origin::Origin;

/// The whole effective configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub store: super::store::StoreConfig,
    pub sandbox: super::sandbox::SandboxConfig,
    pub analysis: super::analysis::AnalysisConfig,
    pub models: super::llm::ModelsConfig,
    pub pipeline: super::pipeline::PipelineConfig,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read config file '{path}': {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}{key}", key = key.as_ref().map(|k| format!(" (key '{k}')")).unwrap_or_default())]
    Invalid {
        location: String,
        key: Option<String>,
        message: String,
    },
}

/// Where to look for each layer.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `$XDG_CONFIG_HOME/kiln/config.toml`; skipped when missing.
    pub user_file: Option<PathBuf>,
    /// The project's `kiln.toml`; skipped when missing.
    pub project_file: Option<PathBuf>,
    /// `KILN_<SECTION>__<KEY>=value` variables are read from here.
    pub env: Env,
    /// `key=value` pairs from `--set` flags, highest precedence.
    pub flags: Vec<String>,
}

/// The effective config plus where each leaf value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Dotted key (e.g. `store.busy_timeout_ms`) to the layer that set it last.
    pub origins: BTreeMap<String, Origin>,
    merged: toml::Table,
}

impl Loaded {
    /// Every leaf key, its effective value and its origin, in key order.
    pub fn entries(&self) -> Vec<(String, toml::Value, Origin)> {
        let mut out = Vec::new();
        origin::walk_leaves(&self.merged, "", &mut |key, value| {
            let origin = self.origins.get(key).cloned().unwrap_or(Origin::Default);
            out.push((key.to_owned(), value.clone(), origin));
        });
        out
    }
}

/// Loads and validates every layer and merges them.
pub fn load(sources: &Sources) -> Result<Loaded, Error> {
    let mut layers = vec![Layer::defaults()];
    for (path, origin) in [
        (&sources.user_file, Origin::User as fn(PathBuf) -> Origin),
        (&sources.project_file, Origin::Project),
    ] {
        if let Some(path) = path
            && let Some(layer) = Layer::from_file(path, origin(path.clone()))?
        {
            layers.push(layer);
        }
    }
    layers.extend(Layer::from_env(&sources.env)?);
    if !sources.flags.is_empty() {
        layers.push(Layer::from_flags(&sources.flags)?);
    }

    let mut merged = toml::Table::new();
    let mut origins = BTreeMap::new();
    for layer in &layers {
        origin::merge(&mut merged, &layer.table, "", &layer.origin, &mut origins);
    }
    let config =
        Config::deserialize(toml::Value::Table(merged.clone())).map_err(|e| Error::Invalid {
            location: "merged configuration".into(),
            key: None,
            message: e.to_string(),
        })?;
    Ok(Loaded {
        config,
        origins,
        merged,
    })
}

/// The nearest `kiln.toml` in `dir` or one of its ancestors.
pub fn find_project_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("kiln.toml"))
        .find(|p| p.is_file())
}
