//! Requests, runs and their stages: the spine every other record hangs from.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Error, Result, Store, now_micros};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Pipeline,
    Check,
    Sandbox,
    Ask,
    Service,
}

/// Lifecycle of a run or stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Skipped,
    /// The process running it ended without finishing it (killed, crashed); see `owner`.
    Interrupted,
}

/// The pipeline stages, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    Spec,
    Generate,
    Tests,
    Check,
    TestRun,
    Review,
    Improve,
    Docs,
    Export,
    /// A model stage of the project's own (`[[pipeline.custom]]`); `stages.name` names it.
    Custom,
    /// The optional HTTP smoke checks of a served app (`pipeline::smoke`).
    Smoke,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($text => Ok(Self::$variant),)* other => Err(format!("unknown {} '{other}'", stringify!($ty))) }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
pub(super) use text_enum;

text_enum!(RunKind { Pipeline => "pipeline", Check => "check", Sandbox => "sandbox", Ask => "ask", Service => "service" });
text_enum!(Status {
    Queued => "queued", Running => "running", Succeeded => "succeeded",
    Failed => "failed", Cancelled => "cancelled", Skipped => "skipped",
    Interrupted => "interrupted",
});
text_enum!(StageKind {
    Spec => "spec", Generate => "generate", Tests => "tests", Check => "check", TestRun => "test_run",
    Review => "review", Improve => "improve", Docs => "docs", Export => "export",
    Custom => "custom", Smoke => "smoke",
});

impl Status {
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub id: i64,
    pub project_id: Option<i64>,
    pub request_id: Option<i64>,
    pub kind: RunKind,
    pub status: Status,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub log_lines: i64,
    pub log_lines_dropped: i64,
}

/// What it takes to create a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub project_id: Option<i64>,
    pub request_id: Option<i64>,
    pub kind: RunKind,
}

/// A stage of a run as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub id: i64,
    pub run_id: i64,
    pub kind: StageKind,
    pub status: Status,
    pub attempt: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

pub(super) fn parse<T: std::str::FromStr<Err = String>>(
    r: &Row<'_>,
    i: usize,
) -> rusqlite::Result<T> {
    let text: String = r.get(i)?;
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

const RUN_COLUMNS: &str = "id, project_id, request_id, kind, status, created_at, started_at, finished_at, error, log_lines, log_lines_dropped";

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        project_id: r.get(1)?,
        request_id: r.get(2)?,
        kind: parse(r, 3)?,
        status: parse(r, 4)?,
        created_at: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        error: r.get(8)?,
        log_lines: r.get(9)?,
        log_lines_dropped: r.get(10)?,
    })
}

const STAGE_COLUMNS: &str = "id, run_id, kind, status, attempt, started_at, finished_at, error";

fn stage_from_row(r: &Row<'_>) -> rusqlite::Result<Stage> {
    Ok(Stage {
        id: r.get(0)?,
        run_id: r.get(1)?,
        kind: parse(r, 2)?,
        status: parse(r, 3)?,
        attempt: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        error: r.get(7)?,
    })
}

impl Store {
    /// Records a natural-language request; `origin` is the front-end (cli, tui, lsp).
    pub fn add_request(&self, project_id: Option<i64>, text: &str, origin: &str) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO requests (project_id, text, origin, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![project_id, text, origin, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Creates a run in the `running` state.
    pub fn start_run(&self, new: &NewRun) -> Result<Run> {
        let now = now_micros();
        self.conn
            .execute(
                "INSERT INTO runs (project_id, request_id, kind, status, created_at, started_at) VALUES (?1, ?2, ?3, 'running', ?4, ?4)",
                params![new.project_id, new.request_id, new.kind.as_str(), now],
            )
            .map_err(|e| self.err(e))?;
        let id = self.conn.last_insert_rowid();
        self.own_run(id)?;
        self.run(id)
    }

    /// Marks a run finished with `status` and an optional error message.
    pub fn finish_run(&self, id: i64, status: Status, error: Option<&str>) -> Result<Run> {
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4,
                    owner_pid = NULL, owner_start = NULL, owner_ns = NULL WHERE id = ?1",
                params![id, status.as_str(), error, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(Error::NotFound {
                what: "run",
                id: id.to_string(),
            });
        }
        self.run(id)
    }

    pub fn run(&self, id: i64) -> Result<Run> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "run",
                id: id.to_string(),
            })
    }

    /// The newest runs first, optionally of one project.
    pub fn latest_runs(&self, project_id: Option<i64>, limit: usize) -> Result<Vec<Run>> {
        let (filter, param) = match project_id {
            Some(id) => ("WHERE project_id = ?2", id),
            None => ("WHERE ?2 = ?2", 0),
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs {filter} ORDER BY created_at DESC, id DESC LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_map(params![limit as i64, param], run_from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    /// How many runs have `status`.
    pub fn count_runs(&self, status: Status) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM runs WHERE status = ?1",
                [status.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Starts a stage; its attempt number counts earlier stages of the same kind in the run.
    pub fn start_stage(&self, run_id: i64, kind: StageKind) -> Result<Stage> {
        self.conn
            .execute(
                "INSERT INTO stages (run_id, kind, status, attempt, started_at)
                 VALUES (?1, ?2, 'running', 1 + (SELECT count(*) FROM stages WHERE run_id = ?1 AND kind = ?2), ?3)",
                params![run_id, kind.as_str(), now_micros()],
            )
            .map_err(|e| self.err(e))?;
        self.stage(self.conn.last_insert_rowid())
    }

    pub fn finish_stage(&self, id: i64, status: Status, error: Option<&str>) -> Result<Stage> {
        let changed = self
            .conn
            .execute(
                "UPDATE stages SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, status.as_str(), error, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(Error::NotFound {
                what: "stage",
                id: id.to_string(),
            });
        }
        self.stage(id)
    }

    pub fn stage(&self, id: i64) -> Result<Stage> {
        self.conn
            .query_row(
                &format!("SELECT {STAGE_COLUMNS} FROM stages WHERE id = ?1"),
                [id],
                stage_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "stage",
                id: id.to_string(),
            })
    }

    /// The stages of a run in the order they started.
    pub fn stages_of_run(&self, run_id: i64) -> Result<Vec<Stage>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {STAGE_COLUMNS} FROM stages WHERE run_id = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        stmt.query_map([run_id], stage_from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }
}
