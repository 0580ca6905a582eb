//! Every bad database the foundation issue names: a clear error, and the file left untouched.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns may unwrap too

use std::time::{Duration, Instant};

use crate::support::kiln::{Kiln, describe, digest};

/// A database with some data in it, closed cleanly (WAL checkpointed into the file).
fn populated(kiln: &Kiln) -> std::path::PathBuf {
    for i in 0..40 {
        let dir = kiln.home().join(format!("p{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        kiln.ok(&[
            "project",
            "add",
            dir.to_str().unwrap(),
            "--description",
            &"x".repeat(2000),
        ]);
    }
    kiln.db()
}

#[test]
fn missing_directory_is_a_clear_error() {
    let kiln = Kiln::new();
    let db = kiln.home().join("no/such/dir/kiln.db");
    let err = kiln.fails(&["project", "list", "--db", db.to_str().unwrap()]);
    assert!(
        err.contains("does not exist") && err.contains("--db"),
        "{err}"
    );
    assert!(
        !db.parent().unwrap().exists(),
        "kiln must not create directories for an explicit --db"
    );
}

#[test]
fn unwritable_location_is_a_clear_error() {
    let kiln = Kiln::new();
    let dir = kiln.home().join("readonly");
    std::fs::create_dir(&dir).unwrap();
    let db = dir.join("kiln.db");
    let mut cmd = kiln.cmd();
    if nix::unistd::geteuid().is_root() {
        // Root ignores permission bits: drop to an unprivileged user for this check.
        std::fs::set_permissions(
            kiln.home(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let program = cmd.get_program().to_owned();
        let mut wrapped = std::process::Command::new("setpriv");
        wrapped
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program);
        wrapped
            .env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .current_dir("/");
        cmd = wrapped;
    }
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    let out = cmd
        .args(["project", "list", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        err.contains("cannot open database") && err.contains("permissions"),
        "{err}"
    );
    assert!(!db.exists());
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_untouched() {
    let kiln = Kiln::new();
    let path = kiln.home().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let before = digest(&path);
    for args in [&["project", "list"][..], &["db", "check"], &["doctor"]] {
        let out = kiln
            .cmd()
            .args(args)
            .args(["--db", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("is not a SQLite database"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(digest(&path), before);
    assert!(!kiln.home().join("notes.db-wal").exists());
}

#[test]
fn a_foreign_sqlite_database_is_refused_and_untouched() {
    let kiln = Kiln::new();
    let path = kiln.home().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let before = digest(&path);
    let err = kiln.fails(&["project", "list", "--db", path.to_str().unwrap()]);
    assert!(err.contains("not kiln's"), "{err}");
    assert_eq!(digest(&path), before);
}

#[test]
fn a_truncated_database_is_refused_and_untouched() {
    let kiln = Kiln::new();
    let db = populated(&kiln);
    let len = std::fs::metadata(&db).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let before = digest(&db);
    let err = kiln.fails(&["project", "list"]);
    assert!(
        err.contains("corrupt") && err.contains("truncated"),
        "{err}"
    );
    let err = kiln.fails(&["db", "check"]);
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(digest(&db), before);
}

#[test]
fn a_corrupt_database_is_reported_and_untouched() {
    let kiln = Kiln::new();
    let db = populated(&kiln);
    let mut bytes = std::fs::read(&db).unwrap();
    // Scribble over every page but the first: the header still looks fine.
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();
    let before = digest(&db);
    let out = kiln.output(&["db", "check"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text.contains("corrupt") || text.contains("malformed"),
        "{text}"
    );
    let err = kiln.fails(&["project", "list"]);
    assert!(
        err.contains("corrupt") || err.contains("malformed"),
        "{err}"
    );
    assert_eq!(digest(&db), before);

    // A scribbled schema page is caught when opening.
    let mut bytes = std::fs::read(&db).unwrap();
    for b in &mut bytes[100..4096] {
        *b = 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
    let before = digest(&db);
    let err = kiln.fails(&["project", "list"]);
    assert!(
        err.contains("corrupt") || err.contains("malformed") || err.contains("not a SQLite"),
        "{err}"
    );
    assert_eq!(digest(&db), before);
}

#[test]
fn a_newer_schema_is_refused_and_untouched() {
    let kiln = Kiln::new();
    kiln.ok(&["project", "list"]);
    let conn = rusqlite::Connection::open(kiln.db()).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let before = digest(&kiln.db());
    let err = kiln.fails(&["project", "list"]);
    assert!(
        err.contains("schema version 99") && err.contains("upgrade kiln"),
        "{err}"
    );
    assert_eq!(digest(&kiln.db()), before);
}

#[test]
fn a_long_write_in_another_process_is_waited_for_then_reported() {
    let kiln = Kiln::new();
    kiln.ok(&["project", "list"]);
    // This test process holds a write transaction on the database...
    let holder = rusqlite::Connection::open(kiln.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE; INSERT INTO feedback (target_kind, target_id, verdict, created_at) VALUES ('run', 1, 'accept', 0);").unwrap();

    // ...so a kiln write in another process waits the busy timeout, then says what happened.
    let started = Instant::now();
    let err = kiln.fails(&[
        "project",
        "add",
        ".",
        "--name",
        "h",
        "--set",
        "store.busy_timeout_ms=400",
    ]);
    let waited = started.elapsed();
    assert!(
        err.contains("locked by another process") && err.contains("busy_timeout_ms"),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(400),
        "gave up after {waited:?}"
    );

    // Released within the timeout, the same write goes through.
    let mut child = kiln
        .cmd()
        .args([
            "project",
            "add",
            ".",
            "--name",
            "h",
            "--set",
            "store.busy_timeout_ms=10000",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    holder.execute_batch("COMMIT").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(kiln.ok(&["project", "list"]).contains('h'));
}
