//! Builds the dashboard benchmark's database: PROJECTS projects, RUNS runs spread over them
//! with LINES_PER_RUN log lines each, and one run of BIG_LINES lines in project "aaa-big" (the
//! first tile, its newest run) whose last line holds the only "needle-last". The big run's
//! lines are also written to `big.log` for lnav. Prints how long the store's own scan of the
//! big log takes (what the dashboard's background search does).
//! Usage: bench_tui OUT_DIR [PROJECTS RUNS LINES_PER_RUN BIG_LINES]

#![allow(clippy::print_stdout)]
// a benchmark prints its results
// A benchmark tool: a failed set-up step ends it with its message.
#![allow(clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use kiln::engine::store::{
    LogLevel, LogLine, LogStream, NewProject, NewRun, RunKind, Status, Store, StoreConfig,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).map_or("bench/out/tui", String::as_str)).to_path_buf();
    let num = |i: usize, d: usize| args.get(i).map_or(d, |n| n.parse().expect("a number"));
    let (projects, runs, per_run, big) =
        (num(2, 1000), num(3, 10_000), num(4, 900), num(5, 1_000_000));
    std::fs::create_dir_all(&dir).expect("out dir");
    let db = dir.join("kiln.db");
    let _ = std::fs::remove_file(&db);
    let config = StoreConfig {
        max_log_lines_per_run: 100_000_000,
        ..StoreConfig::default()
    };
    let store = Store::open(&db, &config).expect("open");
    let start = Instant::now();
    let mut ids = Vec::new();
    for p in 0..projects {
        let project = store
            .add_project(&NewProject {
                name: format!("project-{p:04}"),
                root: format!("/srv/p{p}").into(),
                language: None,
                description: String::new(),
            })
            .expect("project");
        ids.push(project.id);
    }
    let line = |i: usize, text: String| LogLine {
        stage_id: None,
        ts: i as i64,
        stream: if i.is_multiple_of(10) {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        },
        level: if i % 1000 == 999 {
            LogLevel::Warn
        } else {
            LogLevel::Info
        },
        text,
    };
    for r in 0..runs {
        let run = store
            .start_run(&NewRun {
                project_id: Some(ids[r % ids.len()]),
                request_id: None,
                kind: RunKind::Check,
            })
            .expect("run");
        let lines: Vec<LogLine> = (0..per_run)
            .map(|i| line(i, format!("run {r} step {i}: compiling module m{i} ok")))
            .collect();
        store.append_logs(run.id, &lines).expect("logs");
        store
            .finish_run(
                run.id,
                if r % 7 == 0 {
                    Status::Failed
                } else {
                    Status::Succeeded
                },
                None,
            )
            .expect("finish");
    }
    let big_project = store
        .add_project(&NewProject {
            name: "aaa-big".into(),
            root: "/srv/big".into(),
            language: None,
            description: String::new(),
        })
        .expect("project");
    let run = store
        .start_run(&NewRun {
            project_id: Some(big_project.id),
            request_id: None,
            kind: RunKind::Sandbox,
        })
        .expect("run");
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(dir.join("big.log")).expect("big.log"));
    let mut batch = Vec::with_capacity(8192);
    for i in 0..big {
        let text = if i + 1 == big {
            format!(
                "2027-01-15T08:00:00.{:06}Z INFO worker: needle-last found at {i}",
                i % 1_000_000
            )
        } else {
            format!(
                "2027-01-15T08:00:00.{:06}Z INFO worker: processed item {i} in 3ms",
                i % 1_000_000
            )
        };
        writeln!(file, "{text}").expect("write");
        batch.push(line(i, text));
        if batch.len() == 8192 {
            store.append_logs(run.id, &batch).expect("logs");
            batch.clear();
        }
    }
    store.append_logs(run.id, &batch).expect("logs");
    store
        .finish_run(run.id, Status::Succeeded, None)
        .expect("finish");
    file.flush().expect("flush");
    let total = runs * per_run + big;
    println!(
        "generated: {projects} projects, {} runs, {total} log lines in {:.1?}",
        runs + 1,
        start.elapsed()
    );
    let re = regex::Regex::new("needle-last").expect("regex");
    let t = Instant::now();
    let mut hits = 0;
    store
        .scan_log(run.id, 0, |l| {
            if re.is_match(&l.text) {
                hits += 1;
            }
            std::ops::ControlFlow::Continue(())
        })
        .expect("scan");
    println!(
        "store scan of the {big}-line run: {hits} hit in {:.0?}",
        t.elapsed()
    );
}
