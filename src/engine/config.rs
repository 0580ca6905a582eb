//! Layered TOML configuration: built-in defaults < user `config.toml` < project `kiln.toml` <
//! `KILN_<SECTION>__<KEY>` environment variables < `--set key=value` flags.
//!
//! Every layer is validated on its own against the typed [`Config`], so an unknown key or a wrong
//! type is reported with the file, line and key it came from. The layers are then merged as TOML
//! tables, remembering which layer set each leaf, and the merge is deserialized once more.
//! Secrets never live here: config only names the environment variables that hold them.
//!
//! The project file is code's, not the user's: one owned by another user (not root) is never
//! read, and its security-relevant keys apply only once the user trusted that exact content
//! (see [`trust`]); until then they are left out of the merge and listed in
//! [`Loaded::project`].

mod layer;
mod origin;
pub mod pipeline;
pub mod trust;
mod tui;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::env::Env;
pub use layer::Layer;
pub use origin::Origin;
pub use trust::{ProjectFile, Trust, Withheld};
pub use tui::TuiConfig;

/// The whole effective configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub store: super::store::StoreConfig,
    pub sandbox: super::sandbox::SandboxConfig,
    pub analysis: super::analysis::AnalysisConfig,
    pub models: super::llm::ModelsConfig,
    pub tui: TuiConfig,
    pub languages: super::toolchain::LanguagesConfig,
    pub pipeline: pipeline::PipelineConfig,
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
    /// The uid kiln runs as: a project file owned by another uid (other than root) is not read.
    /// `None` skips the check.
    pub uid: Option<u32>,
}

/// The effective config plus where each leaf value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Dotted key (e.g. `store.busy_timeout_ms`) to the layer that set it last.
    pub origins: BTreeMap<String, Origin>,
    /// The project file, whether it was read and which of its keys were ignored.
    pub project: Option<ProjectFile>,
    merged: toml::Table,
}

/// Whether a listed value is in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Applied,
    /// A project-file value left out until the user trusts the file.
    IgnoredUntilTrusted,
}

/// One line of `kiln config show`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub key: String,
    pub value: toml::Value,
    pub origin: Origin,
    pub status: Status,
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

    /// Every effective value (as [`Loaded::entries`]), each followed by the project-file
    /// value of the same key that was ignored until the file is trusted, if any.
    pub fn listing(&self) -> Vec<Entry> {
        let ignored = self.project.as_ref().map_or(&[][..], ProjectFile::ignored);
        let project_origin = || {
            Origin::Project(
                self.project
                    .as_ref()
                    .map(|p| p.path.clone())
                    .unwrap_or_default(),
            )
        };
        let mut out = Vec::new();
        let mut listed = std::collections::BTreeSet::new();
        for (key, value, origin) in self.entries() {
            let withheld = ignored.iter().filter(|w| w.key == key);
            out.push(Entry {
                key: key.clone(),
                value,
                origin,
                status: Status::Applied,
            });
            for w in withheld {
                listed.insert(w.key.clone());
                out.push(ignored_entry(w, project_origin()));
            }
        }
        // Keys with no effective value at all (e.g. a model only the project defines).
        for w in ignored.iter().filter(|w| !listed.contains(&w.key)) {
            let at = out.partition_point(|e| e.key <= w.key);
            out.insert(at, ignored_entry(w, project_origin()));
        }
        out
    }
}

fn ignored_entry(w: &Withheld, origin: Origin) -> Entry {
    Entry {
        key: w.key.clone(),
        value: toml::from_str::<toml::Table>(&format!("v = {}", w.value))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(w.value.clone())),
        origin,
        status: Status::IgnoredUntilTrusted,
    }
}

/// Loads and validates every layer and merges them, trusting no project file.
pub fn load(sources: &Sources) -> Result<Loaded, Error> {
    load_with(sources, &mut |_| false)
}

/// Loads and validates every layer and merges them. `is_trusted` is asked about the project
/// file (with its canonical path and SHA-256) only when it has keys that need trust.
pub fn load_with(
    sources: &Sources,
    is_trusted: &mut dyn FnMut(&ProjectFile) -> bool,
) -> Result<Loaded, Error> {
    let mut layers = vec![Layer::defaults()];
    if let Some(path) = &sources.user_file
        && let Some(layer) = Layer::from_file(path, Origin::User(path.clone()))?
    {
        layers.push(layer);
    }
    let mut project = None;
    if let Some(path) = &sources.project_file
        && let Some((file, layer)) = project_layer(path, sources.uid, &layers, is_trusted)?
    {
        layers.extend(layer);
        project = Some(file);
    }
    layers.extend(Layer::from_env(&sources.env)?);
    if !sources.flags.is_empty() {
        layers.push(Layer::from_flags(&sources.flags)?);
    }

    let (merged, origins) = merge(&layers);
    let config = typed(&merged)?;
    Ok(Loaded {
        config,
        origins,
        project,
        merged,
    })
}

fn merge(layers: &[Layer]) -> (toml::Table, BTreeMap<String, Origin>) {
    let mut merged = toml::Table::new();
    let mut origins = BTreeMap::new();
    for layer in layers {
        origin::merge(&mut merged, &layer.table, "", &layer.origin, &mut origins);
    }
    (merged, origins)
}

fn typed(merged: &toml::Table) -> Result<Config, Error> {
    Config::deserialize(toml::Value::Table(merged.clone())).map_err(|e| Error::Invalid {
        location: "merged configuration".into(),
        key: None,
        message: e.to_string(),
    })
}

/// Reads the project file unless another user owns it, and leaves out the keys that need
/// trust unless `is_trusted` says the user trusted exactly these bytes. `None`: no such file.
fn project_layer(
    path: &Path,
    uid: Option<u32>,
    lower: &[Layer],
    is_trusted: &mut dyn FnMut(&ProjectFile) -> bool,
) -> Result<Option<(ProjectFile, Option<Layer>)>, Error> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    // Owner and bytes from the same open file, so a swap between the two cannot fool the check.
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let owner = file.metadata().map_err(read_err)?.uid();
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut found = ProjectFile {
        path: path.to_owned(),
        canonical,
        sha256: String::new(),
        trust: Trust::NotNeeded,
    };
    if let Some(user) = uid
        && owner != user
        && owner != 0
    {
        tracing::warn!(path = %path.display(), owner, user, "not reading a project config another user owns");
        found.trust = Trust::Foreign { owner, user };
        return Ok(Some((found, None)));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(read_err)?;
    found.sha256 = trust::sha256(&bytes);
    let mut layer = Layer::from_bytes(path, bytes, Origin::Project(path.to_owned()))?;

    let (below, _) = merge(lower);
    let lower_config = typed(&below)?;
    let mut with = below;
    origin::merge(
        &mut with,
        &layer.table,
        "",
        &layer.origin,
        &mut BTreeMap::new(),
    );
    let with_config = typed(&with)?;
    let keys = trust::withheld(&layer.table, &lower_config, &with_config);
    if keys.is_empty() {
        return Ok(Some((found, Some(layer))));
    }
    if is_trusted(&found) {
        found.trust = Trust::Trusted { keys };
    } else {
        tracing::warn!(path = %path.display(), keys = ?keys.iter().map(|k| &k.key).collect::<Vec<_>>(), "ignoring keys of an untrusted project config");
        trust::remove(&mut layer.table, &keys);
        found.trust = Trust::Untrusted { keys };
    }
    Ok(Some((found, Some(layer))))
}

/// The nearest `kiln.toml` in `dir` or one of its ancestors.
pub fn find_project_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("kiln.toml"))
        .find(|p| p.is_file())
}
