//! Versioned file contents a run produced, addressed by project-relative path.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Error, Result, Store, now_micros};

/// A stored artifact version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub id: i64,
    pub run_id: i64,
    pub stage_id: Option<i64>,
    pub path: String,
    pub version: i64,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub sha256: String,
    pub size: i64,
    pub created_at: i64,
}

/// A file to store as the next version of `path` in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArtifact<'a> {
    pub run_id: i64,
    pub stage_id: Option<i64>,
    pub path: &'a str,
    pub content: &'a [u8],
}

const COLUMNS: &str = "id, run_id, stage_id, path, version, content, sha256, size, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Artifact> {
    Ok(Artifact {
        id: r.get(0)?,
        run_id: r.get(1)?,
        stage_id: r.get(2)?,
        path: r.get(3)?,
        version: r.get(4)?,
        content: r.get(5)?,
        sha256: r.get(6)?,
        size: r.get(7)?,
        created_at: r.get(8)?,
    })
}

impl Store {
    /// Stores `content` as the next version of its path in the run.
    pub fn put_artifact(&self, new: &NewArtifact<'_>) -> Result<Artifact> {
        let sha = hex::encode(Sha256::digest(new.content));
        self.conn
            .execute(
                "INSERT INTO artifacts (run_id, stage_id, path, version, content, sha256, size, created_at)
                 VALUES (?1, ?2, ?3, 1 + coalesce((SELECT max(version) FROM artifacts WHERE run_id = ?1 AND path = ?3), 0), ?4, ?5, ?6, ?7)",
                params![new.run_id, new.stage_id, new.path, new.content, sha, new.content.len() as i64, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        self.artifact(self.conn.last_insert_rowid())
    }

    pub fn artifact(&self, id: i64) -> Result<Artifact> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "artifact",
                id: id.to_string(),
            })
    }

    /// The newest version of every path in a run, by path.
    pub fn latest_artifacts(&self, run_id: i64) -> Result<Vec<Artifact>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM artifacts a WHERE run_id = ?1
                 AND version = (SELECT max(version) FROM artifacts b WHERE b.run_id = a.run_id AND b.path = a.path)
                 ORDER BY path"
            ))
            .map_err(|e| self.err(e))?;
        stmt.query_map([run_id], from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    /// Every version of one path in a run, oldest first (for diffs).
    pub fn artifact_versions(&self, run_id: i64, path: &str) -> Result<Vec<Artifact>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM artifacts WHERE run_id = ?1 AND path = ?2 ORDER BY version"
            ))
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![run_id, path], from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }
}
