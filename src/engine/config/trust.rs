//! Trust of a project's `kiln.toml`: which of its keys need the user's consent before they apply.
//!
//! A project file comes with the code (a cloned repository, or a program in the sandbox writing
//! into its work directory), so it must not be able to send the user's API keys to another
//! server, pass secrets or host paths into the sandbox, raise the sandbox's limits, or make
//! `kiln db prune` delete more history. Those keys are *withheld* until the user trusts the file
//! (`kiln trust`, recorded with the file's SHA-256: a changed file is untrusted again). Every
//! other key (analysis rules, pipeline options, lower limits) applies as it always did.
//!
//! Invariant: the classification is fail-safe: a key under `[models]`, `[sandbox]` or `[store]`
//! that this module does not know to be harmless is withheld, so a field added later (say,
//! request headers) needs trust until someone decides otherwise here.

use std::path::PathBuf;

use serde::Serialize;

use super::Config;

/// A project config file as read: where it is and what exactly was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectFile {
    /// The path it was found at.
    pub path: PathBuf,
    /// The path with symlinks resolved: the key trust is recorded under.
    pub canonical: PathBuf,
    /// Hex SHA-256 of the bytes parsed (empty when the file was not read).
    pub sha256: String,
    pub trust: Trust,
}

/// Whether the project file's security-relevant keys applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Trust {
    /// Another user (not root) owns the file: it was not read at all.
    Foreign { owner: u32, user: u32 },
    /// Nothing in the file needs trust; every key applied.
    NotNeeded,
    /// The user trusted this exact content: every key applied.
    Trusted { keys: Vec<Withheld> },
    /// Not trusted (or changed since it was): these keys were ignored.
    Untrusted { keys: Vec<Withheld> },
}

impl ProjectFile {
    /// The keys ignored because the file is not trusted (none when it is).
    pub fn ignored(&self) -> &[Withheld] {
        match &self.trust {
            Trust::Untrusted { keys } => keys,
            _ => &[],
        }
    }
}

/// One key that applies only once its file is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withheld {
    /// Dotted key, as `kiln config show` prints it.
    pub key: String,
    #[serde(skip)]
    pub(super) path: Vec<String>,
    /// The project file's value, as TOML.
    pub value: String,
    /// Why it needs trust.
    pub reason: String,
}

/// Keys of `[models.named.<name>]` that cannot send a key or a prompt anywhere new.
const SAFE_MODEL_FIELDS: &[&str] = &[
    "provider",
    "model",
    "max_tokens",
    "temperature",
    "price_in_per_mtok",
    "price_out_per_mtok",
    "timeout_ms",
    "max_concurrent",
];

/// Keys of `[models]` (outside `named`) that are harmless.
const SAFE_MODELS_KEYS: &[&str] = &[
    "default",
    "stages",
    "connect_timeout_ms",
    "retry",
    "cache_always",
    "detect_ollama",
];

/// Store keys that only tune this process.
const SAFE_STORE_KEYS: &[&str] = &["busy_timeout_ms", "max_log_lines_per_run"];

type SandboxLimit = (
    &'static str,
    fn(&super::super::sandbox::SandboxConfig) -> u128,
);

/// The sandbox limits: a project may lower them, not raise them above the user's.
const SANDBOX_LIMITS: &[SandboxLimit] = &[
    ("timeout", |s| s.timeout.0.as_millis()),
    ("cpu", |s| s.cpu.0.as_millis()),
    ("memory", |s| u128::from(s.memory.0)),
    ("pids", |s| u128::from(s.pids)),
    ("output", |s| u128::from(s.output.0)),
    ("output_lines", |s| u128::from(s.output_lines)),
    ("open_files", |s| u128::from(s.open_files)),
    ("disk", |s| u128::from(s.disk.0)),
];

/// The keys of `project` (a project layer) that need trust, judged against `lower` (the
/// configuration below the project file: defaults and the user's file) and `with` (`lower`
/// with the whole project layer merged on top).
pub(super) fn withheld(project: &toml::Table, lower: &Config, with: &Config) -> Vec<Withheld> {
    let below = toml::Table::try_from(lower).unwrap_or_default();
    let unchanged = |path: &[String], value: &toml::Value| {
        let mut at = Some(&below);
        #[allow(clippy::expect_used, reason = "every leaf path has at least one key")]
        let (last, parents) = path.split_last().expect("a leaf has a key");
        for p in parents {
            at = at.and_then(|t| t.get(p)).and_then(toml::Value::as_table);
        }
        at.and_then(|t| t.get(last)) == Some(value)
    };
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(project, &mut path, &mut |path, value| {
        // Setting what is already in effect changes nothing, so it needs no trust.
        if unchanged(path, value) {
            return;
        }
        if let Some(reason) = reason(path, value, lower, with) {
            out.push(Withheld {
                key: path.join("."),
                path: path.to_vec(),
                value: value.to_string(),
                reason,
            });
        }
    });
    out
}

fn reason(path: &[String], value: &toml::Value, lower: &Config, with: &Config) -> Option<String> {
    let seg = |i: usize| path.get(i).map_or("", String::as_str);
    match seg(0) {
        "models" if seg(1) == "named" => match seg(3) {
            "base_url" => Some("sends the model's requests and API key to this server".into()),
            "api_key_env" => Some("chooses which secret variable is sent as the API key".into()),
            f if SAFE_MODEL_FIELDS.contains(&f) => None,
            _ => Some("not known to be harmless in a project file".into()),
        },
        "models" if seg(1) == "ollama_url" => {
            Some("sends prompts to this server when no model is configured".into())
        }
        "models" if SAFE_MODELS_KEYS.contains(&seg(1)) => None,
        "sandbox" if seg(1) == "env" => (!subset(value, &lower.sandbox.env))
            .then(|| "passes host environment variables into the sandbox".into()),
        "sandbox" if seg(1) == "ro" => {
            (!subset(value, &lower.sandbox.ro)).then(|| "exposes host paths to the sandbox".into())
        }
        "sandbox" => match SANDBOX_LIMITS.iter().find(|(k, _)| *k == seg(1)) {
            Some((key, get)) => (get(&with.sandbox) > get(&lower.sandbox)).then(|| {
                let yours = toml::Value::try_from(&lower.sandbox)
                    .ok()
                    .and_then(|t| t.get(*key).map(ToString::to_string))
                    .unwrap_or_default();
                format!("raises a sandbox limit above yours ({yours})")
            }),
            None => Some("not known to be harmless in a project file".into()),
        },
        "store" if seg(1) == "keep_days" => {
            let (was, now) = (lower.store.keep_days, with.store.keep_days);
            (now != 0 && (was == 0 || now < was))
                .then(|| "makes `kiln db prune` delete more of your history".into())
        }
        "store" if seg(1) == "max_db_size_mb" => (with.store.max_db_size_mb
            < lower.store.max_db_size_mb)
            .then(|| "makes `kiln db prune` delete more of your history".into()),
        "store" if SAFE_STORE_KEYS.contains(&seg(1)) => None,
        "models" | "store" => Some("not known to be harmless in a project file".into()),
        _ => None,
    }
}

/// Whether every element of the TOML array `value` is already in `allowed`.
fn subset<T: Serialize>(value: &toml::Value, allowed: &[T]) -> bool {
    let allowed: Vec<toml::Value> = allowed
        .iter()
        .filter_map(|a| toml::Value::try_from(a).ok())
        .collect();
    value
        .as_array()
        .is_some_and(|items| items.iter().all(|i| allowed.contains(i)))
}

fn walk(table: &toml::Table, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &toml::Value)) {
    for (key, value) in table {
        path.push(key.clone());
        match value {
            toml::Value::Table(t) => walk(t, path, f),
            other => f(path, other),
        }
        path.pop();
    }
}

/// Removes each withheld key from `table`, and the tables that removal left empty.
pub(super) fn remove(table: &mut toml::Table, keys: &[Withheld]) {
    fn remove_path(table: &mut toml::Table, path: &[String]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if rest.is_empty() {
            table.remove(first);
            return;
        }
        if let Some(toml::Value::Table(child)) = table.get_mut(first) {
            remove_path(child, rest);
            if child.is_empty() {
                table.remove(first);
            }
        }
    }
    for key in keys {
        remove_path(table, &key.path);
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(user: &str, project: &str) -> Vec<String> {
        let lower: Config = toml::from_str(user).unwrap();
        let project: toml::Table = toml::from_str(project).unwrap();
        let mut merged = toml::Table::try_from(&lower).unwrap();
        let mut ignored = std::collections::BTreeMap::new();
        super::super::origin::merge(
            &mut merged,
            &project,
            "",
            &super::super::Origin::Flag,
            &mut ignored,
        );
        let with: Config = toml::Value::Table(merged).try_into().unwrap();
        withheld(&project, &lower, &with)
            .into_iter()
            .map(|w| w.key)
            .collect()
    }

    #[test]
    fn model_endpoints_and_keys_need_trust_other_model_settings_do_not() {
        let keys = judge(
            "",
            "[models]\ndefault = \"x\"\nollama_url = \"http://evil\"\n[models.named.x]\nmodel = \"m\"\nbase_url = \"http://evil\"\napi_key_env = \"AWS_SECRET\"\ntemperature = 0.3\n",
        );
        assert_eq!(
            keys,
            [
                "models.named.x.api_key_env",
                "models.named.x.base_url",
                "models.ollama_url"
            ]
        );
    }

    #[test]
    fn sandbox_limits_may_go_down_not_up_and_env_ro_only_narrow() {
        let user = "[sandbox]\ntimeout = \"30s\"\nenv = [\"LANG_EXTRA\"]\nro = [\"/opt/py\"]\n";
        assert!(
            judge(
                user,
                "[sandbox]\ntimeout = \"5s\"\npids = 10\nenv = [\"LANG_EXTRA\"]\nro = []\n"
            )
            .is_empty()
        );
        assert_eq!(
            judge(
                user,
                "[sandbox]\ntimeout = \"1m\"\nmemory = \"8G\"\nenv = [\"AWS_SECRET\"]\nro = [\"/root/.ssh\"]\n"
            ),
            [
                "sandbox.env",
                "sandbox.memory",
                "sandbox.ro",
                "sandbox.timeout"
            ]
        );
    }

    #[test]
    fn analysis_and_harmless_store_keys_apply_prune_widening_does_not() {
        assert!(
            judge(
                "",
                "[analysis]\nselect = [\"PY1\"]\n[store]\nbusy_timeout_ms = 9\nmax_db_size_mb = 4096\n"
            )
            .is_empty()
        );
        assert_eq!(
            judge("", "[store]\nkeep_days = 1\nmax_db_size_mb = 1\n"),
            ["store.keep_days", "store.max_db_size_mb"]
        );
    }

    #[test]
    fn every_default_key_is_classified_and_unknown_ones_need_trust() {
        // Fail-safe: a key this module has never heard of is withheld.
        let lower = Config::default();
        for path in [
            ["models", "named", "x", "headers"],
            ["sandbox", "rw", "", ""],
        ] {
            let path: Vec<String> = path
                .iter()
                .filter(|s| !s.is_empty())
                .map(ToString::to_string)
                .collect();
            assert!(reason(&path, &toml::Value::Integer(1), &lower, &lower).is_some());
        }
        // Every key of the defaults, set to its default value, needs no trust.
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        assert_eq!(withheld(&defaults, &lower, &lower), []);
    }

    #[test]
    fn load_leaves_out_untrusted_keys_and_asks_only_when_needed() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kiln.toml");
        std::fs::write(
            &file,
            "[analysis]\nmax_arguments = 9\n[models.named.x]\nmodel = \"m\"\nbase_url = \"http://evil\"\n",
        )
        .unwrap();
        let me = std::fs::metadata(&file).unwrap().uid();
        let sources = super::super::Sources {
            project_file: Some(file.clone()),
            uid: Some(me),
            ..Default::default()
        };
        let mut asked = Vec::new();
        let loaded = super::super::load_with(&sources, &mut |f| {
            asked.push(f.sha256.clone());
            false
        })
        .unwrap();
        assert_eq!(asked, [sha256(&std::fs::read(&file).unwrap())]);
        assert_eq!(loaded.config.analysis.max_arguments, 9);
        assert_eq!(loaded.config.models.named["x"].base_url, None);
        assert_eq!(loaded.project.as_ref().unwrap().ignored().len(), 1);

        let trusted = super::super::load_with(&sources, &mut |_| true).unwrap();
        assert_eq!(
            trusted.config.models.named["x"].base_url.as_deref(),
            Some("http://evil")
        );
        assert!(trusted.project.unwrap().ignored().is_empty());

        // Nothing that needs trust: the store is never asked.
        std::fs::write(&file, "[analysis]\nmax_arguments = 9\n").unwrap();
        let loaded = super::super::load_with(&sources, &mut |_| panic!("asked")).unwrap();
        assert_eq!(loaded.project.unwrap().trust, Trust::NotNeeded);

        // Someone else's file (not root's) is not read at all.
        let other = super::super::Sources {
            uid: Some(me + 1),
            ..sources
        };
        let loaded = super::super::load(&other).unwrap();
        if me != 0 {
            assert!(matches!(
                loaded.project.unwrap().trust,
                Trust::Foreign { owner, .. } if owner == me
            ));
            assert_eq!(loaded.config.analysis.max_arguments, 5);
        } else {
            // A root-owned file is read by everyone.
            assert_eq!(loaded.config.analysis.max_arguments, 9);
        }
    }

    #[test]
    fn removal_drops_emptied_tables_only() {
        let mut t: toml::Table =
            toml::from_str("[models.named.x]\nbase_url = \"u\"\n[models.named.y]\nmodel = \"m\"\nbase_url = \"u\"\n").unwrap();
        let lower = Config::default();
        let keys = withheld(&t, &lower, &lower);
        remove(&mut t, &keys);
        assert_eq!(t.to_string(), "[models.named.y]\nmodel = \"m\"\n");
    }
}
