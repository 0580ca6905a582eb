//! The store across real processes: a writer SIGKILLed mid-ingest, and the change feed seen
//! from another process.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns may unwrap too

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln::engine::store::{LogLevel, LogLine, LogStream, NewRun, RunKind, Store, StoreConfig};

const CHILD_ENV: &str = "KILN_TEST_INGEST_CHILD_DB";
const BATCH: usize = 1_000;

/// Not a test on its own (hence ignored): `sigkill_mid_ingest_keeps_every_committed_batch`
/// re-runs this test binary with `--ignored` and `CHILD_ENV` set, and this becomes the ingesting
/// process, printing each batch number once that batch is committed.
#[test]
#[ignore = "child process of sigkill_mid_ingest_keeps_every_committed_batch"]
fn ingest_child_process_entry() {
    let db =
        std::env::var_os(CHILD_ENV).expect("run by sigkill_mid_ingest_keeps_every_committed_batch");
    let store = Store::open(std::path::Path::new(&db), &StoreConfig::default()).unwrap();
    let run = store
        .start_run(&NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Sandbox,
        })
        .unwrap();
    println!("\nKILN-RUN {}", run.id);
    for batch in 0.. {
        let lines: Vec<LogLine> = (0..BATCH)
            .map(|i| {
                LogLine::now(
                    None,
                    LogStream::Stdout,
                    LogLevel::Info,
                    format!("batch {batch} line {i} {}", "p".repeat(60)),
                )
            })
            .collect();
        store.append_logs(run.id, &lines).unwrap();
        println!("KILN-BATCH {batch}");
    }
}

#[test]
fn sigkill_mid_ingest_keeps_every_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kiln.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store_processes::ingest_child_process_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let run_id: i64 = loop {
        let line = lines.next().expect("child output").unwrap();
        if let Some(id) = line.strip_prefix("KILN-RUN ") {
            break id.parse().unwrap();
        }
    };
    let mut committed = 0;
    for line in lines.by_ref() {
        if line.unwrap().starts_with("KILN-BATCH ") {
            committed += 1;
        }
        if committed == 40 {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Batches the child committed but had not yet reported are fine too; count what it reported.
    committed += lines
        .map_while(Result::ok)
        .filter(|l| l.starts_with("KILN-BATCH "))
        .count();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    let store = Store::open(&db, &StoreConfig::default()).unwrap();
    assert!(
        store.health().unwrap().is_ok(),
        "integrity check after SIGKILL"
    );
    let run = store.run(run_id).unwrap();
    let stored = run.log_lines as usize;
    assert!(
        stored >= committed * BATCH,
        "{stored} lines stored, {committed} batches reported"
    );
    assert_eq!(stored % BATCH, 0, "a batch is all or nothing");
    // Every stored line is there, in order, with its text.
    let all = store.log_range(run_id, 0, stored).unwrap();
    assert_eq!(all.len(), stored);
    for (n, line) in all.iter().enumerate() {
        assert_eq!(line.seq as usize, n);
        assert!(
            line.text
                .starts_with(&format!("batch {} line {} ", n / BATCH, n % BATCH)),
            "{}",
            line.text
        );
    }
}

#[test]
fn another_process_sees_changes_quickly_without_burning_cpu() {
    let kiln = crate::support::kiln::Kiln::new();
    kiln.ok(&["project", "list"]); // create the database
    let mut watcher = kiln
        .cmd()
        .args(["db", "watch", "--format", "json", "--timeout", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(watcher.stderr.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(
        ready.contains("watching") && ready.contains("inotify"),
        "{ready}"
    );

    // Idle: the watcher must be asleep, not polling.
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = ticks(watcher.id());
    std::thread::sleep(Duration::from_millis(1_500));
    let idle_ticks = ticks(watcher.id()) - before;
    // A polling watcher burns ~150 ticks in 1.5 s; the strict figure (~0) is in the benchmark.
    eprintln!("idle watcher: {idle_ticks} clock ticks in 1.5 s");
    assert!(
        idle_ticks <= 20,
        "watcher used {idle_ticks} clock ticks of CPU while idle"
    );

    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send((Instant::now(), line.unwrap()));
        }
    });
    for name in ["alpha", "beta", "gamma"] {
        let dir = kiln.home().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let out = kiln.output(&["project", "add", dir.to_str().unwrap()]);
        let committed = Instant::now(); // the writer has exited, so its commit is done
        assert!(out.status.success());
        let (seen_at, line) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the watcher saw nothing");
        let change: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (change["table"].as_str(), change["op"].as_str()),
            (Some("projects"), Some("insert"))
        );
        let latency = seen_at.saturating_duration_since(committed);
        // The target (< 200 ms) is a benchmark's; a loaded CI machine only has to be in time.
        eprintln!("change seen after {latency:?}");
        assert!(
            latency < Duration::from_secs(2),
            "saw the change after {latency:?}"
        );
    }
    watcher.kill().unwrap();
    watcher.wait().unwrap();

    // Watching wrote nothing: only the three inserts are in the feed.
    let conn = rusqlite::Connection::open(kiln.db()).unwrap();
    let changes: i64 = conn
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(changes, 3);
}
