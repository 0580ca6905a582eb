//! Opening a database safely: every check that can refuse a file runs before the first write.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::migrate::{self, APPLICATION_ID, SCHEMA_VERSION};
use super::{Error, Result, Store, StoreConfig, classify};

/// Whether the handle may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    ReadWrite,
    ReadOnly,
}

/// What `kiln db check` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub integrity: Vec<String>,
    pub schema_version: i64,
    pub journal_mode: String,
}

impl Health {
    pub fn is_ok(&self) -> bool {
        self.integrity == ["ok"]
    }
}

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub(super) fn open(path: &Path, config: &StoreConfig, mode: OpenMode) -> Result<Store> {
    let exists = preflight(path, mode)?;
    let flags = match mode {
        OpenMode::ReadWrite => {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        }
        OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    };
    let mut conn =
        Connection::open_with_flags(path, flags).map_err(|e| classify(path, config, e))?;
    super::trace::count_statements(&mut conn);
    let store = Store {
        conn,
        path: path.to_owned(),
        config: config.clone(),
        interrupted: Vec::new(),
    };
    store
        .conn
        .busy_timeout(Duration::from_millis(config.busy_timeout_ms))
        .map_err(|e| store.err(e))?;

    let version = if exists { inspect(&store)? } else { 0 };
    store
        .conn
        .pragma_update(None, "foreign_keys", true)
        .map_err(|e| store.err(e))?;
    if mode == OpenMode::ReadOnly {
        if version < SCHEMA_VERSION {
            return Err(Error::Conflict(format!(
                "database '{}' has schema version {version}; open it once with a kiln command that writes (e.g. `kiln db check`) to migrate it",
                path.display()
            )));
        }
        return Ok(store);
    }
    // The first writes: only after the file has passed every check above.
    store
        .conn
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| store.err(e))?;
    store
        .conn
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| store.err(e))?;
    if version < SCHEMA_VERSION {
        migrate::run(&store, version)?;
    }
    let mut store = store;
    // Every process that writes cleans up after the ones that died; failing to (a lock held
    // too long, a full disk) must not stop the command that opened the store.
    match store.mark_orphaned_runs() {
        Ok(ids) => store.interrupted = ids,
        Err(e) => tracing::warn!("cannot mark orphaned runs interrupted: {e}"),
    }
    store.ensure_reserve();
    Ok(store)
}

/// Checks the file on disk before SQLite touches it. Returns whether it exists (and is not empty).
fn preflight(path: &Path, mode: OpenMode) -> Result<bool> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !dir.is_dir() {
                return Err(Error::MissingDirectory {
                    path: path.to_owned(),
                    dir: dir.to_owned(),
                });
            }
            if mode == OpenMode::ReadOnly {
                return Err(Error::NotFound {
                    what: "database",
                    id: format!("'{}'", path.display()),
                });
            }
            return Ok(false);
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    if meta.is_dir() {
        return Err(Error::NotSqlite {
            path: path.to_owned(),
        });
    }
    if meta.len() == 0 {
        return Ok(false);
    }
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let read = read_up_to(&mut file, &mut header).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if read < MAGIC.len() || &header[..16] != MAGIC {
        return Err(Error::NotSqlite {
            path: path.to_owned(),
        });
    }
    if read < header.len() {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            detail: "the header is truncated".into(),
        });
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let (change_counter, page_count, valid_for) = (be32(24), u64::from(be32(28)), be32(92));
    // The in-header size is trustworthy only when it was written with the current change counter,
    // and only when no WAL holds newer pages that a checkpoint has yet to copy into the file.
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_pending = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    if !wal_pending
        && valid_for == change_counter
        && page_count > 0
        && meta.len() < page_count * page_size
    {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            detail: format!(
                "the file is truncated: {} bytes, the header says {}",
                meta.len(),
                page_count * page_size
            ),
        });
    }
    Ok(true)
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads the schema and identity of an existing database without writing. Returns its version.
fn inspect(store: &Store) -> Result<i64> {
    let conn = &store.conn;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| store.err(e))?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| store.err(e))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| store.err(e))?;
    if app_id != APPLICATION_ID && (app_id != 0 || tables > 0) {
        return Err(Error::NotKiln {
            path: store.path.clone(),
            app_id,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(Error::TooNew {
            path: store.path.clone(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

impl Store {
    /// Runs `PRAGMA integrity_check` (reads every page) and reports the schema version.
    pub fn health(&self) -> Result<Health> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.err(e))?;
        let integrity = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))?;
        let schema_version = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let journal_mode = self
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(Health {
            integrity,
            schema_version,
            journal_mode,
        })
    }
}
