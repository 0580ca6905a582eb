//! The SQLite store: the one source of truth every kiln process shares.
//!
//! Opening is careful: a file that is not a kiln database, is truncated or corrupt, or comes from
//! a newer kiln is refused before anything writes to it. Migrations copy the database to a backup
//! beside it first. No SQL lives outside this module; callers use the typed API of the
//! submodules (`projects`, `runs`, `logs`, ...).

mod artifacts;
mod changes;
mod dashboard;
mod feedback;
mod finding_verdicts;
mod findings;
mod gates;
mod generations;
mod log_search;
mod logs;
mod migrate;
mod open;
mod owner;
mod pipeline;
mod processes;
mod projects;
mod reads;
mod retention;
mod runs;
mod services;
mod space;
mod test_results;
mod trace;
mod trust;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

pub use artifacts::{Artifact, NewArtifact};
pub use changes::{Change, ChangeFeed, ChangeOp, FeedEvent};
pub use dashboard::{CallRow, DaySpend, ProjectTile, RunRow, RunScope, SPEND_DAYS};
pub use feedback::{Feedback, FeedbackTarget, Verdict};
pub use finding_verdicts::SeenFinding;
pub use findings::StoredFinding;
pub use gates::{GateRow, NewGate};
pub use generations::{CachedResponse, Generation, NewGeneration, UsageRow};
pub use log_search::LogLineRef;
pub use logs::{
    Appended, ExactLogLine, LogBytes, LogEntry, LogLevel, LogLine, LogStream, LogWriter,
    PRESENT_BYTES, StoredLogLine,
};
pub use migrate::SCHEMA_VERSION;
pub use open::{Health, OpenMode};
pub use pipeline::{NewStage, StageRow, TestResultRow};
pub use processes::{NewProcess, ProcessEnd, ProcessRecord, ProcessStatus};
pub use projects::{NewProject, Project};
pub use retention::{PruneReport, Sizes};
pub use runs::{NewRun, Run, RunKind, Stage, StageKind, Status};
pub use services::{NewService, ServiceRecord};
pub use test_results::{StoredTestResult, TestCase, TestOutcome};
pub use trace::statements_run;
pub use trust::TrustedConfig;
pub use writer::{OwnChanges, StoreWriter, WriteError};

/// The `[store]` section of the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// How long a write waits for another process's write before giving up.
    pub busy_timeout_ms: u64,
    /// Log lines kept per run; later lines are counted as dropped.
    pub max_log_lines_per_run: u64,
    /// `kiln db prune` deletes the oldest runs until the database is at most this big.
    pub max_db_size_mb: u64,
    /// `kiln db prune` also deletes runs older than this many days (0 keeps them).
    pub keep_days: u64,
    /// Space kept in `<db>-reserve` so `kiln db prune` works on a full disk (0: none).
    pub reserve_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            busy_timeout_ms: 5_000,
            max_log_lines_per_run: 1_000_000,
            max_db_size_mb: 2_048,
            keep_days: 0,
            reserve_mb: 4,
        }
    }
}

/// Errors of the store, each saying what happened and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the directory '{}' of database '{}' does not exist; create it or pass another path with --db or KILN_DB", dir.display(), path.display())]
    MissingDirectory { path: PathBuf, dir: PathBuf },
    #[error("cannot open database '{}' for writing: {reason}; check the permissions or pass another path with --db or KILN_DB", path.display())]
    Unwritable { path: PathBuf, reason: String },
    #[error("'{}' is not a SQLite database (it was left untouched); pass the right file with --db or KILN_DB, or move it away", path.display())]
    NotSqlite { path: PathBuf },
    #[error("'{}' is a SQLite database but not kiln's (application id {app_id:#x}); it was left untouched", path.display())]
    NotKiln { path: PathBuf, app_id: i32 },
    #[error("database '{}' is corrupt ({detail}); it was left untouched. Restore a backup beside it (kiln.db.bak-*, if any) or move it away to start afresh", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("database '{}' has schema version {found}, newer than this kiln understands ({supported}); upgrade kiln", path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database '{}' is locked by another process (waited {}ms); wait for it to finish or raise store.busy_timeout_ms", path.display(), waited.as_millis())]
    Locked { path: PathBuf, waited: Duration },
    #[error("database '{}': the disk is full (or the database reached its size limit); free space on that disk, or delete old runs with `kiln db prune` (it works on a full disk), then shrink the file with `kiln db vacuum`", path.display())]
    Full { path: PathBuf },
    #[error("`kiln db vacuum` needs about {} free beside database '{}' to rebuild it, and has {}; free space on that disk (the temp directory needs as much again), or delete old runs with `kiln db prune` first", mib(*needed), path.display(), mib(*available))]
    VacuumSpace {
        path: PathBuf,
        needed: u64,
        available: u64,
    },
    #[error("cannot back up database '{}' before migrating: {reason}", path.display())]
    Backup { path: PathBuf, reason: String },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// A value the caller passed is not acceptable; the message says why and what to do.
    #[error("{0}")]
    Invalid(String),
    #[error("database '{}': {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database '{}': {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A handle on the kiln database. Cheap to open; one per thread or task.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    config: StoreConfig,
    /// Runs this handle marked `interrupted` when it opened (their owner was gone).
    interrupted: Vec<i64>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Self> {
        open::open(path, config, OpenMode::ReadWrite)
    }

    /// Opens an existing database without ever writing to it (checks, dashboards).
    pub fn open_read_only(path: &Path, config: &StoreConfig) -> Result<Self> {
        open::open(path, config, OpenMode::ReadOnly)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The runs found orphaned and marked `interrupted` when this handle opened for writing.
    pub fn interrupted_at_open(&self) -> &[i64] {
        &self.interrupted
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`): its writes commit together (one
    /// commit instead of one per statement) or not at all. `f` must not open a transaction of
    /// its own (e.g. [`Store::append_logs`]).
    pub fn in_transaction<R>(&self, f: impl FnOnce(&Store) -> Result<R>) -> Result<R> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let done = f(self).and_then(|r| {
            self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
            Ok(r)
        });
        if done.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        done
    }

    /// Maps a rusqlite error to a store error that names this database.
    fn err(&self, source: rusqlite::Error) -> Error {
        classify(&self.path, &self.config, source)
    }
}

/// Turns low-level SQLite failures into the errors a user can act on.
fn classify(path: &Path, config: &StoreConfig, source: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let path = path.to_owned();
    match source.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => Error::Locked {
            path,
            waited: Duration::from_millis(config.busy_timeout_ms),
        },
        Some(C::NotADatabase) => Error::NotSqlite { path },
        Some(C::DiskFull) => Error::Full { path },
        Some(C::DatabaseCorrupt) => Error::Corrupt {
            path,
            detail: source.to_string(),
        },
        Some(C::ReadOnly | C::CannotOpen | C::PermissionDenied) => Error::Unwritable {
            path,
            reason: source.to_string(),
        },
        _ => Error::Sqlite { path, source },
    }
}

/// A byte count in MiB for messages.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Microseconds since the Unix epoch: the unit of every timestamp column.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
