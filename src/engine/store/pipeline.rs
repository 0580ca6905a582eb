//! What the pipeline runner needs beyond plain runs and stages: named stages with their
//! improve-loop iteration, input hash (the result cache key) and JSON output; a run's options
//! (what it was asked, for retry and resume); cross-process cancel requests; the cost spent so
//! far (for budgets); and per-test results.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::runs::StageKind;
use super::{Error, Result, Status, Store, now_micros};

/// A stage to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStage<'a> {
    pub run_id: i64,
    pub kind: StageKind,
    /// The kind's name for built-in stages, the project's name for a custom stage.
    pub name: &'a str,
    pub iteration: i64,
    pub input_hash: Option<&'a str>,
}

/// A stage with everything the pipeline stores about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageRow {
    pub id: i64,
    pub run_id: i64,
    pub kind: StageKind,
    pub name: String,
    pub iteration: i64,
    pub status: Status,
    pub attempt: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub input_hash: Option<String>,
    /// JSON: what the stage produced (see `pipeline::output`).
    pub output: Option<String>,
}

/// One stored test outcome as views list it (the full row is
/// [`StoredTestResult`](super::StoredTestResult); results are written with
/// [`Store::insert_test_results`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestResultRow {
    pub name: String,
    /// `passed | failed | error | skipped`.
    pub outcome: String,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
}

const COLUMNS: &str = "id, run_id, kind, coalesce(name, kind), iteration, status, attempt, started_at, finished_at, error, input_hash, output";

fn text<T: std::str::FromStr<Err = String>>(r: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    s.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

/// A [`TestResultRow`] from `SELECT name, outcome, duration_ms, message`.
pub(super) fn test_result_row(r: &Row<'_>) -> rusqlite::Result<TestResultRow> {
    Ok(TestResultRow {
        name: r.get(0)?,
        outcome: r.get(1)?,
        duration_ms: r.get(2)?,
        message: r.get(3)?,
    })
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<StageRow> {
    Ok(StageRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        kind: text(r, 2)?,
        name: r.get(3)?,
        iteration: r.get(4)?,
        status: text(r, 5)?,
        attempt: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        error: r.get(9)?,
        input_hash: r.get(10)?,
        output: r.get(11)?,
    })
}

impl Store {
    /// Starts a named stage; its attempt counts earlier stages of the same name and iteration.
    pub fn start_pipeline_stage(&self, new: &NewStage<'_>) -> Result<StageRow> {
        self.conn
            .execute(
                "INSERT INTO stages (run_id, kind, name, iteration, input_hash, status, attempt, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running',
                   1 + (SELECT count(*) FROM stages WHERE run_id = ?1 AND coalesce(name, kind) = ?3 AND iteration = ?4), ?6)",
                params![new.run_id, new.kind.as_str(), new.name, new.iteration, new.input_hash, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        self.pipeline_stage(self.conn.last_insert_rowid())
    }

    /// Ends a stage with its status, error and JSON output.
    pub fn finish_pipeline_stage(
        &self,
        id: i64,
        status: Status,
        error: Option<&str>,
        output: Option<&str>,
    ) -> Result<StageRow> {
        let changed = self
            .conn
            .execute(
                "UPDATE stages SET status = ?2, error = ?3, output = coalesce(?4, output), finished_at = ?5 WHERE id = ?1",
                params![id, status.as_str(), error, output, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(Error::NotFound {
                what: "stage",
                id: id.to_string(),
            });
        }
        self.pipeline_stage(id)
    }

    pub fn pipeline_stage(&self, id: i64) -> Result<StageRow> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM stages WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "stage",
                id: id.to_string(),
            })
    }

    /// Every stage of a run in the order they started.
    pub fn pipeline_stages(&self, run_id: i64) -> Result<Vec<StageRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM stages WHERE run_id = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        stmt.query_map([run_id], from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    /// The newest succeeded stage of any run with this name and input hash (the result cache).
    pub fn cached_stage(&self, name: &str, input_hash: &str) -> Result<Option<StageRow>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM stages WHERE input_hash = ?2 AND coalesce(name, kind) = ?1
                     AND status = 'succeeded' AND output IS NOT NULL ORDER BY id DESC LIMIT 1"
                ),
                params![name, input_hash],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Stores what a run was asked (JSON), so it can be retried and resumed.
    pub fn set_run_options(&self, run_id: i64, options: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET options = ?2 WHERE id = ?1",
                params![run_id, options],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn run_options(&self, run_id: i64) -> Result<String> {
        self.conn
            .query_row("SELECT options FROM runs WHERE id = ?1", [run_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "run",
                id: run_id.to_string(),
            })
    }

    /// The text of a request.
    pub fn request_text(&self, request_id: i64) -> Result<String> {
        self.conn
            .query_row(
                "SELECT text FROM requests WHERE id = ?1",
                [request_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "request",
                id: request_id.to_string(),
            })
    }

    /// Puts a finished run back to `running` (retry and resume continue it in place).
    pub fn reopen_run(&self, run_id: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, cancel_requested = 0 WHERE id = ?1",
                [run_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Sets a run's status without finishing it (`queued` while it waits for a slot,
    /// `running` once it has one, `interrupted` when its owner died).
    pub fn set_run_status(&self, run_id: i64, status: Status) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?2 WHERE id = ?1",
                params![run_id, status.as_str()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Asks the run's owner, in whichever process, to cancel it.
    pub fn request_cancel(&self, run_id: i64) -> Result<bool> {
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET cancel_requested = 1 WHERE id = ?1 AND status IN ('queued', 'running')",
                [run_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(changed > 0)
    }

    pub fn cancel_requested(&self, run_id: i64) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT cancel_requested FROM runs WHERE id = ?1",
                [run_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v != 0)
            .map_err(|e| self.err(e))
    }

    /// Dollars spent on model calls of one run.
    pub fn cost_of_run(&self, run_id: i64) -> Result<f64> {
        self.conn
            .query_row(
                "SELECT coalesce(sum(cost_usd), 0.0) FROM generations WHERE run_id = ?1 AND NOT cache_hit",
                [run_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Dollars spent on model calls since `since_micros`.
    pub fn cost_since(&self, since_micros: i64) -> Result<f64> {
        self.conn
            .query_row(
                "SELECT coalesce(sum(cost_usd), 0.0) FROM generations WHERE created_at >= ?1 AND NOT cache_hit",
                [since_micros],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// The test outcomes of one stage.
    pub fn test_results_of_stage(&self, stage_id: i64) -> Result<Vec<TestResultRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, outcome, duration_ms, message FROM test_results WHERE stage_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([stage_id], test_result_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }
}
