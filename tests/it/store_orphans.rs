//! Runs whose kiln process died: kill -9 a real `kiln sandbox run`, and the next kiln that opens
//! the store for writing marks its run (and process row) `interrupted`; `kiln db check` reports
//! it before and after; `kiln db prune` deletes it like any finished run.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::kiln::Kiln;
use kiln::engine::store::{ProcessStatus, Status, Store, StoreConfig};
use serde_json::{Value, json};

#[test]
fn kill_9_of_a_sandbox_run_is_marked_interrupted_by_the_next_kiln() {
    if !crate::support::sandbox::isolation_available("orphaned runs: a real sandbox run") {
        return;
    }
    let kiln = Kiln::new();
    let mut child = kiln
        .command(&["sandbox", "run", "--", "/bin/sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let process_id = loop {
        let recorded = Store::open_read_only(&kiln.db(), &StoreConfig::default())
            .ok()
            .and_then(|s| {
                let id = *s.recent_processes(1).ok()?.first()?;
                let run = s.run(1).ok()?;
                (run.status == Status::Running).then_some(id)
            });
        if let Some(id) = recorded {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the sandbox run was never recorded as running"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap(); // SIGKILL: no chance to record anything
    child.wait().unwrap();

    let check: Value =
        serde_json::from_str(&kiln.ok(&["db", "check", "--format", "json"])).unwrap();
    assert_eq!(check["runs"]["orphaned"], json!([1]), "{check}");
    assert!(
        kiln.ok(&["db", "check"])
            .contains("whose kiln process is gone")
    );

    let next = kiln.run(&["project", "list"]).ok();
    assert!(
        next.stderr.contains("marked 1 run interrupted"),
        "{}",
        next.stderr
    );
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let run = store.run(1).unwrap();
    assert_eq!(run.status, Status::Interrupted);
    assert!(run.finished_at.is_some());
    assert_eq!(
        store.get_process(process_id).unwrap().unwrap().status,
        ProcessStatus::Interrupted
    );
    // Said once: the next command finds nothing more to mark.
    assert!(
        !kiln
            .run(&["project", "list"])
            .ok()
            .stderr
            .contains("interrupted")
    );

    let check: Value =
        serde_json::from_str(&kiln.ok(&["db", "check", "--format", "json"])).unwrap();
    assert_eq!(check["runs"]["interrupted"], 1);
    assert_eq!(check["runs"]["orphaned"], json!([]));

    let pruned: Value = serde_json::from_str(&kiln.ok(&[
        "db",
        "prune",
        "--format",
        "json",
        "--set",
        "store.max_db_size_mb=0",
    ]))
    .unwrap();
    assert_eq!(pruned["runs_deleted"], 1, "{pruned}");
}
