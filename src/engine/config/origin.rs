//! Where a config value came from, and the merge that records it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// The layer that set a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Origin {
    Default,
    User(PathBuf),
    Project(PathBuf),
    Env(String),
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::User(p) => write!(f, "user config {}", p.display()),
            Self::Project(p) => write!(f, "project config {}", p.display()),
            Self::Env(name) => write!(f, "environment {name}"),
            Self::Flag => f.write_str("command line --set"),
        }
    }
}

/// Merges `over` into `base`; tables merge recursively, anything else replaces. Each leaf that
/// `over` sets is recorded in `origins` under its dotted key.
pub(super) fn merge(
    base: &mut toml::Table,
    over: &toml::Table,
    prefix: &str,
    origin: &Origin,
    origins: &mut BTreeMap<String, Origin>,
) {
    for (key, value) in over {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let (Some(toml::Value::Table(base_t)), toml::Value::Table(over_t)) =
            (base.get_mut(key), value)
        {
            merge(base_t, over_t, &dotted, origin, origins);
            continue;
        }
        base.insert(key.clone(), value.clone());
        walk_leaves_value(value, &dotted, &mut |leaf, _| {
            origins.insert(leaf.to_owned(), origin.clone());
        });
    }
}

/// Calls `f` with every leaf (non-table value) and its dotted key.
pub(super) fn walk_leaves(
    table: &toml::Table,
    prefix: &str,
    f: &mut dyn FnMut(&str, &toml::Value),
) {
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        walk_leaves_value(value, &dotted, f);
    }
}

fn walk_leaves_value(value: &toml::Value, dotted: &str, f: &mut dyn FnMut(&str, &toml::Value)) {
    match value {
        toml::Value::Table(t) => walk_leaves(t, dotted, f),
        other => f(dotted, other),
    }
}
