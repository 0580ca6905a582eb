//! One configuration layer: a TOML table validated against [`Config`] and tagged with its origin.

use std::path::Path;

use serde::Deserialize;

use super::{Config, Error, Origin};
use crate::engine::env::Env;

/// A validated layer ready to merge.
#[derive(Debug, Clone)]
pub struct Layer {
    pub origin: Origin,
    pub table: toml::Table,
}

impl Layer {
    /// The built-in defaults, taken from `Config::default()` so they cannot drift.
    #[allow(
        clippy::expect_used,
        reason = "Config::default() is a struct of tables and scalars, so it serializes to a TOML table"
    )]
    pub fn defaults() -> Self {
        let table = toml::Table::try_from(Config::default())
            .expect("the default config always serializes to a TOML table");
        Self {
            origin: Origin::Default,
            table,
        }
    }

    /// Reads and validates a TOML file; `Ok(None)` when the file does not exist.
    pub fn from_file(path: &Path, origin: Origin) -> Result<Option<Self>, Error> {
        match read(path)? {
            Some(bytes) => Self::from_bytes(path, bytes, origin).map(Some),
            None => Ok(None),
        }
    }

    /// Validates the bytes read from `path` (named in errors).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>, origin: Origin) -> Result<Self, Error> {
        let text = String::from_utf8(bytes).map_err(|e| Error::Invalid {
            location: format!("{}:{}", path.display(), first_invalid_line(e.as_bytes())),
            key: None,
            message: "the file is not valid UTF-8; save it as UTF-8".into(),
        })?;
        let located = |err: toml::de::Error| {
            let start = err.span().map_or(0, |s| s.start);
            let (line, col) = line_col(&text, start);
            Error::Invalid {
                location: format!("{}:{line}:{col}", path.display()),
                key: key_at(&text, start),
                message: err.message().trim().to_owned(),
            }
        };
        // Typed first: its errors carry the span of the offending key or value.
        toml::from_str::<Config>(&text).map_err(located)?;
        let table = toml::from_str::<toml::Table>(&text).map_err(located)?;
        Ok(Self { origin, table })
    }

    /// `KILN_<SECTION>__<KEY>=value` variables (double underscore separates levels).
    pub fn from_env(env: &Env) -> Result<Vec<Self>, Error> {
        env.with_prefix("KILN_")
            .filter(|(name, _)| name.contains("__"))
            .map(|(name, value)| {
                let key = name["KILN_".len()..].to_lowercase().replace("__", ".");
                let origin = Origin::Env(name.to_owned());
                Self::from_assignment(&key, value, origin, &format!("environment variable {name}"))
            })
            .collect()
    }

    /// `--set key=value` flags, merged into one layer in order.
    pub fn from_flags(flags: &[String]) -> Result<Self, Error> {
        let mut table = toml::Table::new();
        for flag in flags {
            let location = format!("--set {flag}");
            let (key, value) = flag.split_once('=').ok_or_else(|| Error::Invalid {
                location: location.clone(),
                key: None,
                message: "expected KEY=VALUE, e.g. --set store.busy_timeout_ms=10000".into(),
            })?;
            let layer = Self::from_assignment(key.trim(), value, Origin::Flag, &location)?;
            let mut ignored = std::collections::BTreeMap::new();
            super::origin::merge(&mut table, &layer.table, "", &Origin::Flag, &mut ignored);
        }
        Ok(Self {
            origin: Origin::Flag,
            table,
        })
    }

    #[allow(
        clippy::expect_used,
        reason = "str::split yields at least one segment; each entry is inserted here as a table"
    )]
    fn from_assignment(
        key: &str,
        raw: &str,
        origin: Origin,
        location: &str,
    ) -> Result<Self, Error> {
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(Error::Invalid {
                location: location.into(),
                key: Some(key.into()),
                message: "empty key segment".into(),
            });
        }
        let value = parse_scalar(raw);
        let mut table = toml::Table::new();
        let mut segments: Vec<&str> = key.split('.').collect();
        let last = segments.pop().expect("split yields at least one segment");
        let mut cursor = &mut table;
        for seg in segments {
            cursor = cursor
                .entry(seg)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("freshly inserted tables are tables");
        }
        cursor.insert(last.to_owned(), value);
        Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| Error::Invalid {
            location: location.into(),
            key: Some(key.into()),
            message: e.message().trim().to_owned(),
        })?;
        Ok(Self { origin, table })
    }
}

/// The bytes of a config file; `Ok(None)` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A value from the environment or a flag: TOML syntax when it parses (numbers, booleans,
/// arrays, quoted strings), otherwise the raw text as a string.
fn parse_scalar(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The 1-based line holding the first byte that is not UTF-8.
fn first_invalid_line(bytes: &[u8]) -> usize {
    let valid = std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), str::len);
    bytes[..valid].split(|b| *b == b'\n').count()
}

/// The dotted key on the line holding `offset`: the nearest `[table]` header plus the
/// `key =` on that line. Best effort: error messages stay useful without it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    let header = |l: &str| {
        l.strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .map(|h| h.trim_matches(['[', ' ']).to_owned())
    };
    if line.starts_with('[') {
        return header(line);
    }
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    let table = text[..line_start]
        .lines()
        .rev()
        .find_map(|l| header(l.trim()));
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_at_finds_table_and_key() {
        let text = "[store]\nbusy_timeout_ms = \"x\"\n";
        let offset = text.find("\"x\"").unwrap();
        assert_eq!(
            key_at(text, offset).as_deref(),
            Some("store.busy_timeout_ms")
        );
        assert_eq!(line_col(text, offset), (2, 19));
    }

    #[test]
    fn scalars_parse_as_toml_or_fall_back_to_strings() {
        assert_eq!(parse_scalar("42"), toml::Value::Integer(42));
        assert_eq!(parse_scalar("true"), toml::Value::Boolean(true));
        assert_eq!(
            parse_scalar("hello world"),
            toml::Value::String("hello world".into())
        );
    }
}
