//! Builds the dashboard benchmark's database: PROJECTS projects, RUNS runs spread over them
//! with LINES_PER_RUN log lines each, and one run of BIG_LINES lines in project "aaa-big" (the
//! first tile, its newest run) whose last line holds the only "needle-last". The big run's
//! lines are also written to `big.log` for lnav. Prints how long the store's own scan of the
//! big log takes (what the dashboard's background search does).
//!
//! The store creates the schema; the rows then go in through one connection in one transaction
//! with prepared statements and chunks built as text (the layout `log_chunks` documents), so
//! ten million lines take seconds, not the minutes of ten thousand API transactions.
//!
//! `bench_tui tail DB SECONDS RATE`: starts a run in "aaa-big" through the store API and logs
//! RATE lines per second to it (batches every 100 ms) for SECONDS, then finishes it: the live
//! run the dashboard follows while its frame times are measured. The run is deleted afterwards.
//!
//! Usage: bench_tui OUT_DIR [PROJECTS RUNS LINES_PER_RUN BIG_LINES]

#![allow(clippy::print_stdout)]
// a benchmark prints its results
// A benchmark tool: a failed set-up step ends it with its message.
#![allow(clippy::expect_used)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use kiln::engine::store::{
    LogLevel, LogLine, LogStream, NewRun, RunKind, Status, Store, StoreConfig,
};
use rusqlite::params;

/// Lines per chunk, as the store writes them.
const CHUNK: usize = 512;

fn config() -> StoreConfig {
    StoreConfig {
        max_log_lines_per_run: 100_000_000,
        ..StoreConfig::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("tail") {
        let num = |i: usize| -> usize {
            args.get(i)
                .and_then(|n| n.parse().ok())
                .expect("usage: bench_tui tail DB SECONDS RATE")
        };
        return tail(Path::new(&args[2]), num(3) as u64, num(4));
    }
    let dir = Path::new(args.get(1).map_or("bench/out/tui", String::as_str)).to_path_buf();
    let num = |i: usize, d: usize| args.get(i).map_or(d, |n| n.parse().expect("a number"));
    let (projects, runs, per_run, big) =
        (num(2, 1000), num(3, 10_000), num(4, 900), num(5, 1_000_000));
    std::fs::create_dir_all(&dir).expect("out dir");
    let db = dir.join("kiln.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    drop(Store::open(&db, &config()).expect("create the schema"));
    let start = Instant::now();
    let mut conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -200000;")
        .expect("pragmas");
    let tx = conn.transaction().expect("transaction");
    let base = kiln::engine::store::now_micros() - (runs as i64 + 10) * 1_000_000;
    {
        let mut project = tx
            .prepare("INSERT INTO projects (name, root, description, created_at) VALUES (?1, ?2, '', ?3)")
            .expect("prepare");
        let mut run = tx
            .prepare(
                "INSERT INTO runs (project_id, kind, status, created_at, started_at, finished_at, log_lines)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
            )
            .expect("prepare");
        let mut chunk = tx
            .prepare(
                "INSERT INTO log_chunks (run_id, stage_id, first_seq, line_count, first_ts, last_ts, lines)
                 VALUES (?1, NULL, ?2, ?3, ?4, ?5, ?6)",
            )
            .expect("prepare");
        let mut ids = Vec::with_capacity(projects);
        for p in 0..projects {
            project
                .execute(params![
                    format!("project-{p:04}"),
                    format!("/srv/p{p}"),
                    base
                ])
                .expect("project");
            ids.push(tx.last_insert_rowid());
        }
        let mut json = String::with_capacity(64 * 1024);
        for r in 0..runs {
            let at = base + r as i64 * 1_000_000;
            let status = if r % 7 == 0 { "failed" } else { "succeeded" };
            run.execute(params![
                ids[r % ids.len()],
                "check",
                status,
                at,
                at + 500_000,
                per_run as i64
            ])
            .expect("run");
            let id = tx.last_insert_rowid();
            write_chunks(&mut chunk, &mut json, id, per_run, |i, out| {
                let _ = write!(out, "run {r} step {i}: compiling module m{i} ok");
            });
        }
        project
            .execute(params!["aaa-big", "/srv/big", base])
            .expect("project");
        let big_project = tx.last_insert_rowid();
        let at = base + runs as i64 * 1_000_000;
        run.execute(params![
            big_project,
            "sandbox",
            "succeeded",
            at,
            at + 500_000,
            big as i64
        ])
        .expect("run");
        let id = tx.last_insert_rowid();
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(dir.join("big.log")).expect("big.log"));
        write_chunks(&mut chunk, &mut json, id, big, |i, out| {
            let from = out.len();
            if i + 1 == big {
                let _ = write!(
                    out,
                    "2027-01-15T08:00:00.{:06}Z INFO worker: needle-last found at {i}",
                    i % 1_000_000
                );
            } else {
                let _ = write!(
                    out,
                    "2027-01-15T08:00:00.{:06}Z INFO worker: processed item {i} in 3ms",
                    i % 1_000_000
                );
            }
            file.write_all(&out.as_bytes()[from..]).expect("write");
            file.write_all(b"\n").expect("write");
        });
        file.flush().expect("flush");
    }
    tx.commit().expect("commit");
    drop(conn);
    let total = runs * per_run + big;
    println!(
        "generated: {projects} projects, {} runs, {total} log lines in {:.1?}",
        runs + 1,
        start.elapsed()
    );
    let store = Store::open_read_only(&db, &config()).expect("open");
    let run = store
        .run_rows(kiln::engine::store::RunScope::All, 1)
        .expect("runs")[0]
        .id;
    let re = regex::Regex::new("needle-last").expect("regex");
    let t = Instant::now();
    let mut hits = 0;
    store
        .scan_log_refs(
            run,
            0,
            |_| true,
            |l| {
                if re.is_match(l.text) {
                    hits += 1;
                }
                std::ops::ControlFlow::Continue(())
            },
        )
        .expect("scan");
    println!(
        "store scan of the {big}-line run (every line decoded): {hits} hit in {:.0?}",
        t.elapsed()
    );
}

/// Inserts `lines` lines of run `run` in chunks; `text(i, out)` appends line `i`'s text (plain
/// characters only: it goes into the JSON unescaped). Line `i % 1000 == 999` is a warning,
/// every tenth is stderr, as the dashboard's filters expect something to find.
fn write_chunks(
    insert: &mut rusqlite::Statement<'_>,
    json: &mut String,
    run: i64,
    lines: usize,
    mut text: impl FnMut(usize, &mut String),
) {
    let mut first = 0;
    while first < lines {
        let n = CHUNK.min(lines - first);
        json.clear();
        json.push('[');
        for i in first..first + n {
            if i > first {
                json.push(',');
            }
            let stream = if i.is_multiple_of(10) {
                "stderr"
            } else {
                "stdout"
            };
            let level = if i % 1000 == 999 { "warn" } else { "info" };
            let _ = write!(json, "[{i},\"{stream}\",\"{level}\",\"");
            text(i, json);
            json.push_str("\"]");
        }
        json.push(']');
        insert
            .execute(params![
                run,
                first as i64,
                n as i64,
                first as i64,
                (first + n - 1) as i64,
                &*json
            ])
            .expect("chunk");
        first += n;
    }
}

/// Logs `rate` lines a second to a new running run of "aaa-big" for `seconds` seconds.
fn tail(db: &Path, seconds: u64, rate: usize) {
    let store = Store::open(db, &config()).expect("open");
    let project = store
        .project_by_name("aaa-big")
        .expect("the benchmark database has project aaa-big");
    let run = store
        .start_run(&NewRun {
            project_id: Some(project.id),
            request_id: None,
            kind: RunKind::Sandbox,
        })
        .expect("run");
    let per_batch = (rate / 10).max(1);
    let start = Instant::now();
    let mut n = 0usize;
    let mut tick = 0u32;
    while start.elapsed() < Duration::from_secs(seconds) {
        let batch: Vec<LogLine> = (0..per_batch)
            .map(|_| {
                n += 1;
                LogLine::now(
                    None,
                    LogStream::Stdout,
                    if n.is_multiple_of(500) {
                        LogLevel::Warn
                    } else {
                        LogLevel::Info
                    },
                    format!("tail line {n}: worker processed item {n} in 3ms"),
                )
            })
            .collect();
        store.append_logs(run.id, &batch).expect("append");
        tick += 1;
        let due = Duration::from_millis(100) * tick;
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    store
        .finish_run(run.id, Status::Succeeded, None)
        .expect("finish");
    drop(store);
    // Gone again, so a rerun on the same database (REUSE=1) finds the big run newest in aaa-big.
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .expect("pragma");
    conn.execute("DELETE FROM runs WHERE id = ?1", [run.id])
        .expect("delete the tail run");
    println!("tail: {n} lines in {:.1?}", start.elapsed());
}
