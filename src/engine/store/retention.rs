//! Keeping the database bounded: sizes, pruning old runs, and VACUUM on request.

use serde::Serialize;

use super::{Error, Result, Store, now_micros};

/// Sizes reported by `kiln db check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sizes {
    pub file_bytes: u64,
    pub wal_bytes: u64,
    /// Bytes in pages that hold data (the file minus free pages).
    pub used_bytes: u64,
    pub free_bytes: u64,
    /// The space reserve beside the database (see `space`), 0 when there is none.
    pub reserve_bytes: u64,
    /// Row counts per table, in schema order.
    pub rows: Vec<(String, i64)>,
}

/// What `kiln db prune` did (or, with a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub runs_deleted: i64,
    pub used_bytes_before: u64,
    pub used_bytes_after: u64,
    pub dry_run: bool,
}

const TABLES: &[&str] = &[
    "projects",
    "requests",
    "runs",
    "stages",
    "log_chunks",
    "artifacts",
    "generations",
    "findings",
    "processes",
    "test_results",
    "feedback",
    "changes",
];

/// Runs deleted per round while shrinking towards the size cap: one, so no more is deleted
/// than needed (checking the size is a cheap pragma).
const PRUNE_BATCH: i64 = 1;

impl Store {
    pub fn sizes(&self) -> Result<Sizes> {
        let file_bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal_bytes = std::fs::metadata(wal).map_or(0, |m| m.len());
        let (used_bytes, free_bytes) = self.used_and_free_bytes()?;
        let mut rows = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let n: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            rows.push(((*table).to_owned(), n));
        }
        Ok(Sizes {
            file_bytes,
            wal_bytes,
            used_bytes,
            free_bytes,
            reserve_bytes: std::fs::metadata(self.reserve_path()).map_or(0, |m| m.len()),
            rows,
        })
    }

    fn used_and_free_bytes(&self) -> Result<(u64, u64)> {
        let pragma = |name: &str| -> Result<u64> {
            self.conn
                .pragma_query_value(None, name, |r| r.get::<_, i64>(0))
                .map(|v| v.max(0) as u64)
                .map_err(|e| self.err(e))
        };
        let (pages, free, size) = (
            pragma("page_count")?,
            pragma("freelist_count")?,
            pragma("page_size")?,
        );
        Ok(((pages - free.min(pages)) * size, free * size))
    }

    /// Deletes finished runs older than `keep_days`, then the oldest finished runs until the data
    /// fits in `max_db_size_mb`. Running runs are never touched. On a full disk the space
    /// reserve is released and the prune tried once more (see `space`).
    pub fn prune(&self, dry_run: bool) -> Result<PruneReport> {
        match self.prune_once(dry_run) {
            Err(Error::Full { .. }) if self.release_reserve() => self.prune_once(dry_run),
            other => other,
        }
    }

    fn prune_once(&self, dry_run: bool) -> Result<PruneReport> {
        let (before, _) = self.used_and_free_bytes()?;
        let cap = self.config.max_db_size_mb.saturating_mul(1 << 20);
        let finished = "status NOT IN ('queued', 'running')";
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let result = (|| -> Result<i64> {
            let mut deleted = 0;
            if self.config.keep_days > 0 {
                let cutoff = now_micros() - (self.config.keep_days as i64) * 86_400_000_000;
                deleted += self
                    .conn
                    .execute(
                        &format!("DELETE FROM runs WHERE {finished} AND created_at < ?1"),
                        [cutoff],
                    )
                    .map_err(|e| self.err(e))? as i64;
            }
            while self.used_and_free_bytes()?.0 > cap {
                let n = self
                    .conn
                    .execute(
                        &format!(
                            "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE {finished} ORDER BY created_at LIMIT ?1)"
                        ),
                        [PRUNE_BATCH],
                    )
                    .map_err(|e| self.err(e))? as i64;
                if n == 0 {
                    break;
                }
                deleted += n;
            }
            Ok(deleted)
        })();
        let runs_deleted = match result {
            Ok(n) => n,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let (after, _) = self.used_and_free_bytes()?;
        let end = if dry_run { "ROLLBACK" } else { "COMMIT" };
        self.conn.execute_batch(end).map_err(|e| self.err(e))?;
        if !dry_run && runs_deleted > 0 {
            // Give the WAL's space back to the disk; best effort (a reader may hold it).
            let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        }
        Ok(PruneReport {
            runs_deleted,
            used_bytes_before: before,
            used_bytes_after: after,
            dry_run,
        })
    }

    /// Rebuilds the file to return free pages to the file system. Refuses up front, saying how
    /// much is needed, when the disk lacks the room the rebuild takes.
    pub fn vacuum(&self) -> Result<()> {
        let (used, _) = self.used_and_free_bytes()?;
        self.check_vacuum_space(used)?;
        self.conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))?;
        self.ensure_reserve();
        Ok(())
    }
}
