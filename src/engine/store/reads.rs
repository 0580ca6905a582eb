//! The directory a run works on and the project files it read (path and SHA-256), so export can
//! tell a file the user changed since the run read it from one the run itself produced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, now_micros};

impl Store {
    /// Sets the directory run `run_id` works on (its artifacts' paths are relative to it).
    pub fn set_run_root(&self, run_id: i64, root: &Path) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO run_roots (run_id, root) VALUES (?1, ?2)
                 ON CONFLICT (run_id) DO UPDATE SET root = excluded.root",
                params![run_id, root.to_string_lossy()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn run_root(&self, run_id: i64) -> Result<Option<PathBuf>> {
        self.conn
            .query_row(
                "SELECT root FROM run_roots WHERE run_id = ?1",
                [run_id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map(|r| r.map(PathBuf::from))
            .map_err(|e| self.err(e))
    }

    /// Records that the run read `path` (relative to its root) with this SHA-256 (`None`: the
    /// file did not exist). The first record of a path wins: it is what the run started from.
    pub fn record_read(&self, run_id: i64, path: &str, sha256: Option<&str>) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO run_reads (run_id, path, sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![run_id, path, sha256, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every file the run read: path to SHA-256 (`None`: it did not exist).
    pub fn run_reads(&self, run_id: i64) -> Result<BTreeMap<String, Option<String>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT path, sha256 FROM run_reads WHERE run_id = ?1")
            .map_err(|e| self.err(e))?;
        stmt.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }
}
