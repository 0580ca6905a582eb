//! Trusted project config files (`trusted_configs`): the canonical path of a `kiln.toml` and the
//! SHA-256 of the content the user trusted. Trust is for exact bytes: a changed file no longer
//! matches and is untrusted again until the user trusts it anew.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Result, Store, now_micros};

/// One trusted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedConfig {
    pub path: PathBuf,
    pub sha256: String,
    pub trusted_at: i64,
}

fn key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl Store {
    /// Trusts `sha256` as the content of `path` (canonical), replacing an earlier trust of it.
    pub fn trust_config(&self, path: &Path, sha256: &str) -> Result<TrustedConfig> {
        let now = now_micros();
        self.conn
            .execute(
                "INSERT INTO trusted_configs (path, sha256, trusted_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, trusted_at = excluded.trusted_at",
                params![key(path), sha256, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(TrustedConfig {
            path: path.to_owned(),
            sha256: sha256.to_owned(),
            trusted_at: now,
        })
    }

    /// Forgets the trust of `path`; whether it was trusted.
    pub fn untrust_config(&self, path: &Path) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM trusted_configs WHERE path = ?1", [key(path)])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Whether the user trusted exactly this content of `path`.
    pub fn is_config_trusted(&self, path: &Path, sha256: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM trusted_configs WHERE path = ?1 AND sha256 = ?2",
                params![key(path), sha256],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .is_some())
    }

    /// Every trusted file, by path.
    pub fn trusted_configs(&self) -> Result<Vec<TrustedConfig>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, sha256, trusted_at FROM trusted_configs ORDER BY path")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            Ok(TrustedConfig {
                path: PathBuf::from(r.get::<_, String>(0)?),
                sha256: r.get(1)?,
                trusted_at: r.get(2)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::StoreConfig;

    #[test]
    fn trust_is_for_exact_content_and_can_be_withdrawn() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kiln.db"), &StoreConfig::default()).unwrap();
        let file = Path::new("/p/kiln.toml");
        assert!(!store.is_config_trusted(file, "aa").unwrap());
        store.trust_config(file, "aa").unwrap();
        assert!(store.is_config_trusted(file, "aa").unwrap());
        assert!(!store.is_config_trusted(file, "bb").unwrap());
        store.trust_config(file, "bb").unwrap();
        assert!(!store.is_config_trusted(file, "aa").unwrap());
        assert_eq!(store.trusted_configs().unwrap().len(), 1);
        assert!(store.untrust_config(file).unwrap());
        assert!(!store.untrust_config(file).unwrap());
        assert!(store.trusted_configs().unwrap().is_empty());
    }
}
