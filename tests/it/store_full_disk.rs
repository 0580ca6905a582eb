//! A full disk under the database: `kiln db prune` still frees space (it releases the store's
//! space reserve to get room), `kiln db vacuum` says how much free space it needs when the disk
//! lacks it and shrinks the file once it has it. A real tmpfs, really full.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::support::kiln::Kiln;
use kiln::engine::store::{LogLevel, LogLine, LogStream, LogWriter, NewRun, RunKind, Status};
use kiln::engine::store::{Store, StoreConfig};
use serde_json::Value;

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kiln-full-")
            .tempdir()
            .unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn available(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).unwrap();
    st.blocks_available() * st.fragment_size()
}

/// Records sandbox-like runs until the disk is full; returns how many runs finished.
fn fill_with_runs(db: &Path, config: &StoreConfig) -> usize {
    let store = Store::open(db, config).unwrap();
    let text = "output line of a generated program, padded to look like real output ....";
    for n in 0.. {
        let Ok(run) = store.start_run(&NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Sandbox,
        }) else {
            return n;
        };
        let mut writer = LogWriter::new(&store, run.id);
        let wrote = (0..2_000).try_for_each(|i| {
            writer.push(LogLine::now(
                None,
                LogStream::Stdout,
                LogLevel::Info,
                format!("{i} {text}"),
            ))
        });
        let full = wrote.and_then(|()| writer.flush()).is_err();
        if full || store.finish_run(run.id, Status::Succeeded, None).is_err() {
            return n;
        }
    }
    unreachable!()
}

#[test]
fn prune_works_on_a_full_disk_and_vacuum_says_what_it_needs() {
    if !crate::support::require(
        crate::support::sandbox::is_root(),
        "full disk: prune and vacuum",
        "mounting a small tmpfs needs root",
    ) {
        return;
    }
    let Some(fs) = Tmpfs::mount("12m") else {
        crate::support::require(false, "full disk: prune and vacuum", "cannot mount a tmpfs");
        return;
    };
    let db: PathBuf = fs.path().join("kiln.db");
    let config = StoreConfig {
        reserve_mb: 1,
        ..StoreConfig::default()
    };
    let runs = fill_with_runs(&db, &config);
    assert!(runs > 3, "only {runs} runs fit");
    let free = available(fs.path());
    assert!(free < 64 << 10, "the disk is not full: {free} bytes free");
    assert!(db.with_file_name("kiln.db-reserve").exists());
    eprintln!("filled a 12 MiB tmpfs with {runs} runs; {free} bytes free");

    let kiln = Kiln::new();
    let db_arg = db.to_str().unwrap();
    let flags = ["--db", db_arg, "--set", "store.reserve_mb=1"];
    let args = |extra: &[&'static str]| -> Vec<&str> {
        flags.iter().copied().chain(extra.iter().copied()).collect()
    };

    let pruned: Value = serde_json::from_str(&kiln.ok(&args(&[
        "db",
        "prune",
        "--format",
        "json",
        "--set",
        "store.max_db_size_mb=1",
    ])))
    .unwrap();
    assert!(pruned["runs_deleted"].as_i64().unwrap() >= 1, "{pruned}");
    assert!(
        pruned["used_bytes_after"].as_u64().unwrap() <= 1 << 20,
        "{pruned}"
    );

    // Now take the disk's free space away: vacuum refuses and says how much it needs.
    let filler = fs.path().join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let err = kiln.fails(&args(&["db", "vacuum"]));
    assert!(
        err.contains("needs about") && err.contains("MiB free beside database"),
        "{err}"
    );
    let before = std::fs::metadata(&db).unwrap().len();
    // The user frees space: the filler goes, and the disk grows.
    std::fs::remove_file(&filler).unwrap();
    assert!(
        std::process::Command::new("mount")
            .args(["-o", "remount,size=32m"])
            .arg(fs.path())
            .status()
            .unwrap()
            .success()
    );
    let vacuumed: Value =
        serde_json::from_str(&kiln.ok(&args(&["db", "vacuum", "--format", "json"]))).unwrap();
    let after = vacuumed["bytes_after"].as_u64().unwrap();
    assert!(after < before / 2, "{before} -> {after}");
    // The store works again, and the reserve is back for next time.
    let store = Store::open(&db, &config).unwrap();
    assert!(
        store
            .start_run(&NewRun {
                project_id: None,
                request_id: None,
                kind: RunKind::Sandbox,
            })
            .is_ok()
    );
    assert!(db.with_file_name("kiln.db-reserve").exists());
}
