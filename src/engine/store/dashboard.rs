//! Read-only queries for the dashboard: project tiles, run rows with their totals, model calls,
//! spend and test results (a run's stages and gates are the pipeline's rows:
//! [`Store::pipeline_stages`], [`Store::gates_of_run`]). Each is one aggregate query so the dashboard
//! stays fast with thousands of projects and runs; nothing here writes.

use rusqlite::{Row, params};
use serde::Serialize;

use super::pipeline::{TestResultRow, test_result_row};
use super::runs::parse as text_enum_parse;
use super::{Result, RunKind, Status, Store};

/// Days in a tile's spend series.
pub const SPEND_DAYS: usize = 14;
const DAY_MICROS: i64 = 86_400_000_000;

/// One tile of the home screen: a project, or (`id` `None`) the runs outside any project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectTile {
    pub id: Option<i64>,
    pub name: String,
    pub root: Option<String>,
    pub runs: i64,
    pub failed: i64,
    pub running: i64,
    pub last_status: Option<Status>,
    pub last_at: Option<i64>,
    /// Model spend per day, oldest first, the last entry being today.
    pub spend: [f64; SPEND_DAYS],
}

/// One row of a project's run list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub project_id: Option<i64>,
    pub kind: RunKind,
    pub status: Status,
    pub request: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// The highest attempt of any stage (1 when none was retried, 0 without stages).
    pub attempts: i64,
    pub tokens: i64,
    pub cost_usd: f64,
    pub log_lines: i64,
}

/// One model call of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRow {
    pub id: i64,
    pub stage_id: Option<i64>,
    pub model: String,
    pub status: String,
    pub messages_json: String,
    pub response: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub cost_usd: Option<f64>,
    pub cache_hit: bool,
    pub created_at: i64,
}

/// Spend per day across every run (the model-calls view's daily totals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySpend {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub calls: i64,
    pub tokens: i64,
    pub cost_usd: f64,
}

/// The columns `run_row` reads, with the run's attempts, tokens and cost.
const RUN_ROW_SELECT: &str = "SELECT r.id, r.project_id, r.kind, r.status, q.text, r.created_at,
    r.started_at, r.finished_at, r.error,
    coalesce((SELECT max(attempt) FROM stages s WHERE s.run_id = r.id), 0),
    coalesce((SELECT sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)) FROM generations g WHERE g.run_id = r.id), 0),
    coalesce((SELECT sum(cost_usd) FROM generations g WHERE g.run_id = r.id), 0.0),
    r.log_lines
    FROM runs r LEFT JOIN requests q ON q.id = r.request_id";

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        kind: text_enum_parse(r, 2)?,
        status: text_enum_parse(r, 3)?,
        request: r.get(4)?,
        created_at: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        error: r.get(8)?,
        attempts: r.get(9)?,
        tokens: r.get(10)?,
        cost_usd: r.get(11)?,
        log_lines: r.get(12)?,
    })
}

/// Which runs a run list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunScope {
    All,
    Project(i64),
    /// Runs outside any project.
    NoProject,
}

impl Store {
    /// Every project with its run counts and a 14-day spend series, then the "other runs" tile
    /// when runs exist outside any project. `now` is microseconds since the epoch.
    pub fn project_tiles(&self, now: i64) -> Result<Vec<ProjectTile>> {
        self.project_tiles_first(now, None)
    }

    /// The first `limit` tiles by name (all with `None`): what a screen shows before the rest is
    /// read. The "other runs" tile comes last, so a full window leaves it out. Each count is an
    /// index range of one project (`runs_by_project_tile`), so `limit` tiles cost the same
    /// however many projects and runs the database holds.
    pub fn project_tiles_first(&self, now: i64, limit: Option<usize>) -> Result<Vec<ProjectTile>> {
        let today = now.div_euclid(DAY_MICROS);
        let since = (today - SPEND_DAYS as i64 + 1) * DAY_MICROS;
        let mut tiles: Vec<ProjectTile> = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT p.id, p.name, p.root,
                    (SELECT count(*) FROM runs WHERE project_id = p.id),
                    (SELECT count(*) FROM runs WHERE project_id = p.id AND status = 'failed'),
                    (SELECT count(*) FROM runs WHERE project_id = p.id AND status IN ('queued', 'running')),
                    (SELECT status FROM runs WHERE project_id = p.id ORDER BY created_at DESC, id DESC LIMIT 1),
                    (SELECT max(created_at) FROM runs WHERE project_id = p.id)
                 FROM projects p ORDER BY p.name LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let sql_limit = limit.map_or(-1, |n| n as i64);
        let rows = stmt
            .query_map([sql_limit], |r| {
                let status: Option<String> = r.get(6)?;
                Ok(ProjectTile {
                    id: Some(r.get(0)?),
                    name: r.get(1)?,
                    root: Some(r.get(2)?),
                    runs: r.get(3)?,
                    failed: r.get(4)?,
                    running: r.get(5)?,
                    last_status: status.and_then(|s| s.parse().ok()),
                    last_at: r.get(7)?,
                    spend: [0.0; SPEND_DAYS],
                })
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            tiles.push(row.map_err(|e| self.err(e))?);
        }
        let full = limit.is_some_and(|n| tiles.len() >= n);
        let other: (i64, i64, i64, Option<i64>) = if full {
            (0, 0, 0, None)
        } else {
            self.conn
                .query_row(
                    "SELECT count(*), coalesce(sum(status = 'failed'), 0),
                    coalesce(sum(status IN ('queued', 'running')), 0), max(created_at)
                 FROM runs WHERE project_id IS NULL",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .map_err(|e| self.err(e))?
        };
        if other.0 > 0 {
            let status: Option<String> = self
                .conn
                .query_row(
                    "SELECT status FROM runs WHERE project_id IS NULL ORDER BY created_at DESC, id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e))?;
            tiles.push(ProjectTile {
                id: None,
                name: "other runs".into(),
                root: None,
                runs: other.0,
                failed: other.1,
                running: other.2,
                last_status: status.and_then(|s| s.parse().ok()),
                last_at: other.3,
                spend: [0.0; SPEND_DAYS],
            });
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.project_id, g.created_at / ?2, sum(coalesce(g.cost_usd, 0))
                 FROM generations g JOIN runs r ON r.id = g.run_id
                 WHERE g.created_at >= ?1 GROUP BY 1, 2",
            )
            .map_err(|e| self.err(e))?;
        let spend = stmt
            .query_map(params![since, DAY_MICROS], |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in spend {
            let (project, day, cost) = row.map_err(|e| self.err(e))?;
            let slot = SPEND_DAYS as i64 - 1 - (today - day);
            if let (Some(tile), Ok(slot)) = (
                tiles.iter_mut().find(|t| t.id == project),
                usize::try_from(slot),
            ) && slot < SPEND_DAYS
            {
                tile.spend[slot] += cost;
            }
        }
        Ok(tiles)
    }

    /// The newest runs of a scope with their request, attempts, tokens and cost.
    pub fn run_rows(&self, scope: RunScope, limit: usize) -> Result<Vec<RunRow>> {
        let filter = match scope {
            RunScope::All => "?2 = ?2",
            RunScope::Project(_) => "r.project_id = ?2",
            RunScope::NoProject => "r.project_id IS NULL AND ?2 = ?2",
        };
        let param = match scope {
            RunScope::Project(id) => id,
            _ => 0,
        };
        let sql = format!(
            "{RUN_ROW_SELECT} WHERE {filter} ORDER BY r.created_at DESC, r.id DESC LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_map(params![limit as i64, param], run_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    /// One run as a row.
    pub fn run_row(&self, run_id: i64) -> Result<Option<RunRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{RUN_ROW_SELECT} WHERE r.id = ?1"))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query_map([run_id], run_row).map_err(|e| self.err(e))?;
        rows.next().transpose().map_err(|e| self.err(e))
    }

    /// The model calls of a run, oldest first.
    pub fn call_rows(&self, run_id: i64) -> Result<Vec<CallRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, stage_id, model, status, messages, response, tokens_in, tokens_out,
                    latency_ms, ttft_ms, cost_usd, cache_hit, created_at
                 FROM generations WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([run_id], |r| {
            Ok(CallRow {
                id: r.get(0)?,
                stage_id: r.get(1)?,
                model: r.get(2)?,
                status: r.get(3)?,
                messages_json: r.get(4)?,
                response: r.get(5)?,
                tokens_in: r.get(6)?,
                tokens_out: r.get(7)?,
                latency_ms: r.get(8)?,
                ttft_ms: r.get(9)?,
                cost_usd: r.get(10)?,
                cache_hit: r.get::<_, i64>(11)? != 0,
                created_at: r.get(12)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.err(e))
    }

    /// Model spend per UTC day over the last `days` days, oldest first.
    pub fn spend_by_day(&self, now: i64, days: i64) -> Result<Vec<DaySpend>> {
        let since = (now.div_euclid(DAY_MICROS) - days + 1) * DAY_MICROS;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT created_at / ?2, count(*), sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)),
                    sum(coalesce(cost_usd, 0)) FROM generations WHERE created_at >= ?1 GROUP BY 1 ORDER BY 1",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![since, DAY_MICROS], |r| {
            Ok(DaySpend {
                day: r.get(0)?,
                calls: r.get(1)?,
                tokens: r.get(2)?,
                cost_usd: r.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.err(e))
    }

    /// The test results of a run, failures first.
    pub fn test_rows(&self, run_id: i64) -> Result<Vec<TestResultRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, outcome, duration_ms, message FROM test_results WHERE run_id = ?1
                 ORDER BY outcome IN ('passed', 'skipped'), id",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([run_id], test_result_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }
}
