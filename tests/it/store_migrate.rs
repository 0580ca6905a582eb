//! Migrations: every fixture made with an earlier schema opens with this kiln and loses nothing.
//! Add `vN.db` (made with schema N, see make-v1.py and make-v2.py) whenever schema N+1 ships.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns may unwrap too

use std::collections::BTreeMap;
use std::path::Path;

use kiln::engine::store::{SCHEMA_VERSION, Store, StoreConfig};

/// Every row of every table, each column's value as text by column name, for before/after
/// comparison (a later schema may add columns; the old ones must keep their values).
type Row = BTreeMap<String, String>;

fn dump(path: &Path) -> BTreeMap<String, Vec<Row>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'changes' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let rows = conn
                .prepare(&format!("SELECT * FROM {t} ORDER BY 1"))
                .unwrap()
                .query_map([], |r| {
                    let names = r.as_ref().column_names();
                    Ok(names
                        .enumerate()
                        .map(|(i, name)| (name.to_owned(), format!("{:?}", r.get_ref(i).unwrap())))
                        .collect::<Row>())
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (t, rows)
        })
        .collect()
}

#[test]
fn every_fixture_migrates_without_losing_rows() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/db");
    let mut seen = 0;
    for version in 1..=SCHEMA_VERSION {
        let fixture = fixtures.join(format!("v{version}.db"));
        if version < SCHEMA_VERSION {
            assert!(
                fixture.exists(),
                "schema {version} has no fixture: add {}",
                fixture.display()
            );
        }
        if !fixture.exists() {
            continue;
        }
        seen += 1;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kiln.db");
        std::fs::copy(&fixture, &db).unwrap();
        let before = dump(&db);
        assert!(
            before.values().all(|rows| !rows.is_empty()),
            "the fixture has a row in every table"
        );

        let store = Store::open(&db, &StoreConfig::default()).unwrap();
        assert!(store.health().unwrap().is_ok());
        assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
        // Reading through the typed API works on the migrated data.
        let run = store.run(1).unwrap();
        assert_eq!(
            store.log_tail(run.id, 10).unwrap().len() as i64,
            run.log_lines
        );
        drop(store);

        let after = dump(&db);
        for (table, rows) in &before {
            let now = after
                .get(table)
                .unwrap_or_else(|| panic!("table {table} disappeared"));
            for row in rows {
                let kept = now
                    .iter()
                    .any(|new| row.iter().all(|(col, value)| new.get(col) == Some(value)));
                assert!(kept, "v{version}: row lost from {table}: {row:?}");
            }
        }
        let backups = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("kiln.db.bak-v")
            })
            .count();
        assert_eq!(
            backups,
            usize::from(version < SCHEMA_VERSION),
            "a backup precedes every migration"
        );
    }
    assert!(seen > 0, "no fixtures found in {}", fixtures.display());
}

#[test]
fn many_openers_of_a_fresh_database_all_succeed() {
    // Two commands started at once on a new machine both find no database and both create it;
    // the second must see the first one's schema, not fail with "table already exists".
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kiln.db");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&db, &StoreConfig::default()).map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            let result = opener.join().unwrap();
            assert!(result.is_ok(), "round {round}: {:?}", result.err());
        }
        let store = Store::open(&db, &StoreConfig::default()).unwrap();
        assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
    }
}
