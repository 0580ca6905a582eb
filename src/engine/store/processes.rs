//! Sandboxed processes (`processes` table): inserted as `running` when a sandbox run starts,
//! finished with its outcome when it ends.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Error, Result, Store, now_micros};

/// How a sandboxed process ended (the `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    Running,
    Exited,
    Signaled,
    Limit,
    FailedToStart,
    Cancelled,
    /// Its kiln process ended without recording how it ended.
    Interrupted,
}

impl ProcessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Exited => "exited",
            Self::Signaled => "signaled",
            Self::Limit => "limit",
            Self::FailedToStart => "failed_to_start",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "exited" => Self::Exited,
            "signaled" => Self::Signaled,
            "limit" => Self::Limit,
            "failed_to_start" => Self::FailedToStart,
            "cancelled" => Self::Cancelled,
            "interrupted" => Self::Interrupted,
            _ => Self::Running,
        }
    }
}

/// A process about to start.
#[derive(Debug, Clone)]
pub struct NewProcess<'a> {
    pub run_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub argv: &'a [String],
    pub workdir: Option<&'a Path>,
    /// JSON object of the limits applied.
    pub limits: serde_json::Value,
    /// JSON object of the isolation layers active.
    pub isolation: serde_json::Value,
}

/// How a process ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessEnd {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub limit_hit: Option<String>,
    pub wall_ms: u64,
    pub user_ms: u64,
    pub sys_ms: u64,
    pub max_rss_kb: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub bytes_dropped: u64,
}

/// One row of `processes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessRecord {
    pub id: i64,
    pub run_id: Option<i64>,
    pub argv: Vec<String>,
    pub workdir: Option<PathBuf>,
    pub limits: serde_json::Value,
    pub isolation: serde_json::Value,
    pub status: ProcessStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub limit_hit: Option<String>,
    pub wall_ms: Option<i64>,
    pub user_ms: Option<i64>,
    pub sys_ms: Option<i64>,
    pub max_rss_kb: Option<i64>,
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub bytes_dropped: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

impl Store {
    /// Records a process as running; returns its id.
    pub fn insert_process(&self, p: &NewProcess<'_>) -> Result<i64> {
        let argv = serde_json::to_string(p.argv).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO processes (run_id, stage_id, command, workdir, limits, isolation, status, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
                params![
                    p.run_id,
                    p.stage_id,
                    argv,
                    p.workdir.map(|w| w.to_string_lossy().into_owned()),
                    p.limits.to_string(),
                    p.isolation.to_string(),
                    now_micros(),
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how process `id` ended.
    pub fn finish_process(&self, id: i64, status: ProcessStatus, end: &ProcessEnd) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE processes SET status = ?2, exit_code = ?3, signal = ?4, limit_hit = ?5,
                    wall_ms = ?6, user_ms = ?7, sys_ms = ?8, max_rss_kb = ?9, stdout_bytes = ?10,
                    stderr_bytes = ?11, bytes_dropped = ?12, finished_at = ?13
                 WHERE id = ?1",
                params![
                    id,
                    status.as_str(),
                    end.exit_code,
                    end.signal,
                    end.limit_hit,
                    end.wall_ms as i64,
                    end.user_ms as i64,
                    end.sys_ms as i64,
                    end.max_rss_kb as i64,
                    end.stdout_bytes as i64,
                    end.stderr_bytes as i64,
                    end.bytes_dropped as i64,
                    now_micros(),
                ],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::NotFound {
                what: "process",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// The process with this id, if any.
    pub fn get_process(&self, id: i64) -> Result<Option<ProcessRecord>> {
        self.conn
            .query_row(
                "SELECT id, run_id, command, workdir, limits, isolation, status, exit_code, signal,
                        limit_hit, wall_ms, user_ms, sys_ms, max_rss_kb, stdout_bytes, stderr_bytes,
                        bytes_dropped, started_at, finished_at
                 FROM processes WHERE id = ?1",
                [id],
                |r| {
                    let json =
                        |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
                    Ok(ProcessRecord {
                        id: r.get(0)?,
                        run_id: r.get(1)?,
                        argv: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                        workdir: r.get::<_, Option<String>>(3)?.map(PathBuf::from),
                        limits: json(r.get(4)?),
                        isolation: json(r.get(5)?),
                        status: ProcessStatus::parse(&r.get::<_, String>(6)?),
                        exit_code: r.get(7)?,
                        signal: r.get(8)?,
                        limit_hit: r.get(9)?,
                        wall_ms: r.get(10)?,
                        user_ms: r.get(11)?,
                        sys_ms: r.get(12)?,
                        max_rss_kb: r.get(13)?,
                        stdout_bytes: r.get(14)?,
                        stderr_bytes: r.get(15)?,
                        bytes_dropped: r.get(16)?,
                        started_at: r.get(17)?,
                        finished_at: r.get(18)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The most recent processes, newest first.
    pub fn recent_processes(&self, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM processes ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([limit as i64], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<i64>>>()
            .map_err(|e| self.err(e))?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::StoreConfig;

    #[test]
    fn process_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db"), &StoreConfig::default()).unwrap();
        let argv = vec!["echo".to_owned(), "hi".to_owned()];
        let id = store
            .insert_process(&NewProcess {
                run_id: None,
                stage_id: None,
                argv: &argv,
                workdir: Some(Path::new("/w")),
                limits: serde_json::json!({"pids": 64}),
                isolation: serde_json::json!({"seccomp": true}),
            })
            .unwrap();
        let p = store.get_process(id).unwrap().unwrap();
        assert_eq!(p.status, ProcessStatus::Running);
        assert_eq!(p.argv, argv);
        let end = ProcessEnd {
            exit_code: Some(3),
            limit_hit: Some("cpu".into()),
            wall_ms: 5,
            stdout_bytes: 3,
            ..ProcessEnd::default()
        };
        store
            .finish_process(id, ProcessStatus::Limit, &end)
            .unwrap();
        let p = store.get_process(id).unwrap().unwrap();
        assert_eq!(p.status, ProcessStatus::Limit);
        assert_eq!(p.exit_code, Some(3));
        assert_eq!(p.limit_hit.as_deref(), Some("cpu"));
        assert_eq!(p.stdout_bytes, 3);
        assert!(p.finished_at.is_some());
        assert_eq!(store.recent_processes(5).unwrap(), vec![id]);
        assert!(
            store
                .finish_process(id + 1, ProcessStatus::Exited, &end)
                .is_err()
        );
    }
}
