//! Versioned migrations, recorded in `PRAGMA user_version`, each preceded by a backup.
//!
//! Append to `MIGRATIONS`, never edit a shipped entry: version N is `MIGRATIONS[N - 1]`. Every
//! migration from version 2 on gets a test that upgrades a fixture made with the previous schema.

use std::path::PathBuf;

use rusqlite::MAIN_DB;

use super::{Error, Result, Store, now_micros};

/// `PRAGMA application_id` of kiln databases: "kiln" in ASCII.
pub(super) const APPLICATION_ID: i32 = 0x6B69_6C6E;

const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("migrate_v2.sql"),
    include_str!("migrate_v3.sql"),
];

/// The schema version this kiln writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn run(store: &Store, from: i64) -> Result<()> {
    if from > 0 {
        backup(store, from)?;
    }
    let conn = &store.conn;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| store.err(e))?;
    // Another process may have migrated between our read of the version and taking the write
    // lock (two commands creating a fresh database at once): read it again under the lock.
    let from = match conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)) {
        Ok(now) => now.max(from),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(store.err(e));
        }
    };
    let result = (|| {
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            conn.execute_batch(sql)?;
            conn.pragma_update(None, "user_version", index as i64 + 1)?;
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(|e| store.err(e)),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(store.err(e))
        }
    }
}

/// Copies the database (including its WAL) to `<file>.bak-v<version>-<time>` beside it.
fn backup(store: &Store, version: i64) -> Result<PathBuf> {
    let mut name = store
        .path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(format!(".bak-v{version}-{}", now_micros() / 1_000_000));
    let dest = store.path.with_file_name(name);
    store
        .conn
        .backup(MAIN_DB, &dest, None::<fn(rusqlite::backup::Progress)>)
        .map_err(|e| Error::Backup {
            path: store.path.clone(),
            reason: e.to_string(),
        })?;
    tracing::info!(backup = %dest.display(), from = version, "backed up the database before migrating");
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::StoreConfig;

    #[test]
    fn backup_is_a_complete_copy_beside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kiln.db"), &StoreConfig::default()).unwrap();
        store
            .add_feedback(
                crate::engine::store::FeedbackTarget::Run(1),
                crate::engine::store::Verdict::Accept,
                "kept",
            )
            .unwrap();
        let copy = backup(&store, 1).unwrap();
        assert_eq!(copy.parent(), Some(dir.path()));
        assert!(
            copy.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kiln.db.bak-v1-")
        );
        let restored = Store::open(&copy, &StoreConfig::default()).unwrap();
        let kept = restored
            .feedback_for(crate::engine::store::FeedbackTarget::Run(1))
            .unwrap();
        assert_eq!(kept[0].comment, "kept");
    }
}
