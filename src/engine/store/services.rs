//! Sandboxed services started by `kiln serve` (`services` table): inserted `starting` with the
//! owning kiln's pid, marked `up` when the health check passes, and `stopped` or `failed` with
//! the exit status when the service ends. A row left `starting`/`up` by a kiln that died is
//! reported as such by the caller (which checks the recorded pid and start time).

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{Error, Result, Store, now_micros};

/// A service about to start.
#[derive(Debug, Clone)]
pub struct NewService<'a> {
    pub run_id: i64,
    pub dir: &'a Path,
    pub command: &'a [String],
    pub url: &'a str,
    pub host_port: u16,
    pub app_port: u16,
    pub pid: u32,
    pub pid_start: Option<u64>,
}

/// One row of `services`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRecord {
    pub id: i64,
    pub run_id: i64,
    pub dir: PathBuf,
    pub command: Vec<String>,
    pub url: String,
    pub host_port: u16,
    pub app_port: u16,
    pub pid: u32,
    pub pid_start: Option<u64>,
    pub status: String,
    pub started_at: i64,
    pub up_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, run_id, dir, command, url, host_port, app_port, pid, pid_start, status, started_at, up_at, stopped_at, exit_code, error";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ServiceRecord> {
    let command: String = r.get(3)?;
    Ok(ServiceRecord {
        id: r.get(0)?,
        run_id: r.get(1)?,
        dir: PathBuf::from(r.get::<_, String>(2)?),
        command: serde_json::from_str(&command).unwrap_or_default(),
        url: r.get(4)?,
        host_port: r.get(5)?,
        app_port: r.get(6)?,
        pid: r.get(7)?,
        pid_start: r.get::<_, Option<i64>>(8)?.map(|s| s as u64),
        status: r.get(9)?,
        started_at: r.get(10)?,
        up_at: r.get(11)?,
        stopped_at: r.get(12)?,
        exit_code: r.get(13)?,
        error: r.get(14)?,
    })
}

impl Store {
    /// Records a service in the `starting` state.
    pub fn insert_service(&self, new: &NewService<'_>) -> Result<i64> {
        let command = serde_json::to_string(new.command).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO services (run_id, dir, command, url, host_port, app_port, pid, pid_start, status, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'starting', ?9)",
                params![
                    new.run_id,
                    new.dir.to_string_lossy(),
                    command,
                    new.url,
                    new.host_port,
                    new.app_port,
                    new.pid,
                    new.pid_start.map(|s| s as i64),
                    now_micros()
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks a service healthy.
    pub fn service_up(&self, id: i64) -> Result<()> {
        self.update_service(
            id,
            "UPDATE services SET status = 'up', up_at = ?2 WHERE id = ?1",
            params![id, now_micros()],
        )
    }

    /// Marks a service ended: `failed` when `error` is set, else `stopped`.
    pub fn service_ended(
        &self,
        id: i64,
        exit_code: Option<i32>,
        error: Option<&str>,
    ) -> Result<()> {
        let status = if error.is_some() { "failed" } else { "stopped" };
        self.update_service(
            id,
            "UPDATE services SET status = ?2, stopped_at = ?3, exit_code = ?4, error = ?5 WHERE id = ?1",
            params![id, status, now_micros(), exit_code, error],
        )
    }

    fn update_service(&self, id: i64, sql: &str, p: impl rusqlite::Params) -> Result<()> {
        let changed = self.conn.execute(sql, p).map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(Error::NotFound {
                what: "service",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    pub fn service(&self, id: i64) -> Result<ServiceRecord> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM services WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "service",
                id: id.to_string(),
            })
    }

    /// The service whose run is `run_id` (a run of kind `service`), if any.
    pub fn service_of_run(&self, run_id: i64) -> Result<Option<ServiceRecord>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM services WHERE run_id = ?1 ORDER BY id DESC LIMIT 1"
                ),
                [run_id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Services newest first; only those not yet ended unless `all`.
    pub fn services(&self, all: bool, limit: usize) -> Result<Vec<ServiceRecord>> {
        let filter = if all {
            ""
        } else {
            "WHERE status IN ('starting', 'up')"
        };
        let sql = format!("SELECT {COLUMNS} FROM services {filter} ORDER BY id DESC LIMIT ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_map([limit as i64], from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::{NewRun, RunKind, StoreConfig};

    #[test]
    fn service_lifecycle() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("k.db"), &StoreConfig::default()).unwrap();
        let run = store
            .start_run(&NewRun {
                project_id: None,
                request_id: None,
                kind: RunKind::Service,
            })
            .unwrap();
        let cmd = vec!["python3".to_owned()];
        let id = store
            .insert_service(&NewService {
                run_id: run.id,
                dir: Path::new("/app"),
                command: &cmd,
                url: "http://127.0.0.1:5000",
                host_port: 5000,
                app_port: 8000,
                pid: 42,
                pid_start: Some(7),
            })
            .unwrap();
        assert_eq!(store.services(false, 10).unwrap().len(), 1);
        store.service_up(id).unwrap();
        assert_eq!(store.service(id).unwrap().status, "up");
        store.service_ended(id, Some(0), None).unwrap();
        let s = store.service(id).unwrap();
        assert_eq!((s.status.as_str(), s.exit_code), ("stopped", Some(0)));
        assert_eq!(s.command, cmd);
        assert!(store.services(false, 10).unwrap().is_empty());
        assert_eq!(store.run(run.id).unwrap().kind, RunKind::Service);
        assert!(matches!(store.service(99), Err(Error::NotFound { .. })));
    }
}
