//! Gate verdicts: one row per gate per improve-loop iteration of a pipeline run.

use rusqlite::{Row, params};
use serde::Serialize;

use super::{Result, Store, now_micros};

/// A verdict to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGate<'a> {
    pub run_id: i64,
    pub stage_id: Option<i64>,
    pub iteration: i64,
    pub gate: &'a str,
    pub passed: bool,
    pub detail: &'a str,
}

/// A verdict as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateRow {
    pub id: i64,
    pub run_id: i64,
    pub stage_id: Option<i64>,
    pub iteration: i64,
    pub gate: String,
    pub passed: bool,
    pub detail: String,
    pub created_at: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<GateRow> {
    Ok(GateRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        stage_id: r.get(2)?,
        iteration: r.get(3)?,
        gate: r.get(4)?,
        passed: r.get::<_, i64>(5)? != 0,
        detail: r.get(6)?,
        created_at: r.get(7)?,
    })
}

impl Store {
    pub fn insert_gate(&self, g: &NewGate<'_>) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO gates (run_id, stage_id, iteration, gate, passed, detail, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    g.run_id,
                    g.stage_id,
                    g.iteration,
                    g.gate,
                    i64::from(g.passed),
                    g.detail,
                    now_micros()
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every verdict of a run, by iteration then insertion.
    pub fn gates_of_run(&self, run_id: i64) -> Result<Vec<GateRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, run_id, stage_id, iteration, gate, passed, detail, created_at
                 FROM gates WHERE run_id = ?1 ORDER BY iteration, id",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([run_id], from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }
}
