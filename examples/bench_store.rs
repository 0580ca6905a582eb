//! Store benchmark (run through `bench/store.sh`): log ingest through the store API against a
//! plain file written with a BufWriter, and open + read the newest 1,000 lines of a run when the
//! database holds 10,000,000 lines, against `tail -n 1000` on a plain file of the same lines.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use kiln::engine::store::{
    LogLevel, LogLine, LogStream, LogWriter, NewRun, RunKind, Store, StoreConfig,
};

const INGEST_LINES: usize = 1_000_000;

fn text(i: usize) -> String {
    // ~80 bytes, like a line of test output.
    format!(
        "{i:>8} tests/test_dates.py::test_parse_rfc3339[case-{:04}] PASSED  [ 42%] ....",
        i % 9973
    )
}

fn line(ts: i64, i: usize) -> LogLine {
    LogLine {
        stage_id: Some(1),
        ts,
        stream: LogStream::Stdout,
        level: LogLevel::Info,
        text: text(i),
    }
}

fn config() -> StoreConfig {
    StoreConfig {
        max_log_lines_per_run: u64::MAX / 2,
        ..StoreConfig::default()
    }
}

fn ingest_file(path: &Path, n: usize) -> Duration {
    let start = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        // Same fields the store keeps: timestamp, stream, level, text.
        writeln!(
            out,
            "{} stdout info {}",
            1_795_300_000_000_000_i64 + i as i64,
            text(i)
        )
        .unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();
    start.elapsed()
}

fn ingest_store(store: &Store, run_id: i64, from: usize, n: usize) -> Duration {
    let start = Instant::now();
    let mut writer = LogWriter::new(store, run_id);
    for i in from..from + n {
        writer
            .push(line(1_795_300_000_000_000 + i as i64, i))
            .unwrap();
    }
    writer.flush().unwrap();
    start.elapsed()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).map_or("bench/out", String::as_str)).to_path_buf();
    let big_lines: usize = args.get(2).map_or(10_000_000, |n| n.parse().unwrap());
    std::fs::create_dir_all(&dir).unwrap();

    // 1. Ingest.
    let db = dir.join("ingest.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = Store::open(&db, &config()).unwrap();
    let run = store
        .start_run(&NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Sandbox,
        })
        .unwrap();
    let file_time = ingest_file(&dir.join("ingest.log"), INGEST_LINES);
    let store_time = ingest_store(&store, run.id, 0, INGEST_LINES);
    let rate = INGEST_LINES as f64 / store_time.as_secs_f64();
    println!("ingest {INGEST_LINES} lines (~80 B):");
    println!(
        "  plain file (BufWriter + fsync): {:>8.1} ms  {:>10.0} lines/s",
        ms(file_time),
        INGEST_LINES as f64 / file_time.as_secs_f64()
    );
    println!(
        "  kiln store (LogWriter)        : {:>8.1} ms  {rate:>10.0} lines/s",
        ms(store_time)
    );
    println!(
        "  ratio store/file              : {:.2}x  (target <= 3x, >= 500000 lines/s)",
        store_time.as_secs_f64() / file_time.as_secs_f64()
    );
    drop(store);

    // 2. Open and read the newest 1,000 lines of a run among `big_lines` stored lines.
    let big = dir.join("big.db");
    let big_log = dir.join("big.log");
    let store = Store::open(&big, &config()).unwrap();
    let have: i64 = store
        .latest_runs(None, 1000)
        .unwrap()
        .iter()
        .map(|r| r.log_lines)
        .sum();
    if have as usize != big_lines {
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", big.display()));
        }
        let store = Store::open(&big, &config()).unwrap();
        let runs = 100;
        let per_run = big_lines / runs;
        print!("building {big_lines} lines in {runs} runs ... ");
        std::io::stdout().flush().unwrap();
        let started = Instant::now();
        for r in 0..runs {
            let run = store
                .start_run(&NewRun {
                    project_id: None,
                    request_id: None,
                    kind: RunKind::Sandbox,
                })
                .unwrap();
            ingest_store(&store, run.id, r * per_run, per_run);
        }
        println!("{:.1} s", started.elapsed().as_secs_f64());
        ingest_file(&big_log, big_lines);
    }
    let mut opens = Vec::new();
    let mut target_run = 0;
    for _ in 0..21 {
        let start = Instant::now();
        let store = Store::open(&big, &config()).unwrap();
        let newest = store.latest_runs(None, 1).unwrap()[0].id;
        let tail = store.log_tail(newest, 1_000).unwrap();
        opens.push(start.elapsed());
        assert_eq!(tail.len(), 1_000);
        target_run = newest;
    }
    let mut tails = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        let out = std::process::Command::new("tail")
            .args(["-n", "1000"])
            .arg(&big_log)
            .output()
            .unwrap();
        tails.push(start.elapsed());
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1_000);
    }
    println!(
        "open + newest 1000 lines of run {target_run} with {big_lines} lines stored (median of 21):"
    );
    println!(
        "  kiln store     : {:>6.2} ms  (target < 10 ms)",
        ms(median(opens))
    );
    println!(
        "  tail -n 1000   : {:>6.2} ms  (plain file, includes process start)",
        ms(median(tails))
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
