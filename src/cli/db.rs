//! `kiln db check|prune|vacuum`.

use std::process::ExitCode;

use kiln::engine::store::{ChangeFeed, FeedEvent, SCHEMA_VERSION, Status, Store};

use super::{Context, Format, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check integrity (reads every page) and show the schema version and sizes
    Check,
    /// Delete old runs per store.keep_days and store.max_db_size_mb
    Prune {
        /// Report what would be deleted without deleting
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild the file to give free space back to the file system
    Vacuum,
    /// Print changes to the database as they are committed (one line each) until interrupted
    Watch {
        /// Stop after this long, e.g. 30s [default: never]
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
}

#[derive(serde::Serialize)]
struct CheckReport {
    path: String,
    ok: bool,
    integrity: Vec<String>,
    schema_version: i64,
    supported_schema_version: i64,
    journal_mode: String,
    sizes: kiln::engine::store::Sizes,
    runs: RunsReport,
}

#[derive(serde::Serialize)]
struct RunsReport {
    running: i64,
    /// Runs whose kiln process died before finishing them (marked so by a later kiln).
    interrupted: i64,
    /// Runs still `running` whose process is gone: the next kiln command that writes marks them.
    orphaned: Vec<i64>,
}

pub(crate) fn run(ctx: &Context, cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Check => {
            let store = Store::open_read_only(&ctx.paths.db, &ctx.config.config.store)?;
            let health = store.health()?;
            let report = CheckReport {
                path: ctx.paths.db.display().to_string(),
                ok: health.is_ok(),
                integrity: health.integrity,
                schema_version: health.schema_version,
                supported_schema_version: SCHEMA_VERSION,
                journal_mode: health.journal_mode,
                sizes: store.sizes()?,
                runs: RunsReport {
                    running: store.count_runs(Status::Running)?,
                    interrupted: store.count_runs(Status::Interrupted)?,
                    orphaned: store.orphaned_runs()?,
                },
            };
            match ctx.format {
                Format::Json => output::print_json(&report)?,
                Format::Human => {
                    println!("database   {}", report.path);
                    println!("integrity  {}", report.integrity.join("; "));
                    println!(
                        "schema     version {} (this kiln: {})",
                        report.schema_version, SCHEMA_VERSION
                    );
                    println!("journal    {}", report.journal_mode);
                    println!(
                        "size       {} file, {} WAL, {} used, {} free, {} reserve",
                        bytes(report.sizes.file_bytes),
                        bytes(report.sizes.wal_bytes),
                        bytes(report.sizes.used_bytes),
                        bytes(report.sizes.free_bytes),
                        bytes(report.sizes.reserve_bytes)
                    );
                    let orphaned = &report.runs.orphaned;
                    println!(
                        "runs       {} running, {} interrupted{}",
                        report.runs.running - orphaned.len() as i64,
                        report.runs.interrupted,
                        if orphaned.is_empty() {
                            String::new()
                        } else {
                            format!(
                                ", {} whose kiln process is gone (run {}; the next kiln command that writes marks them interrupted)",
                                orphaned.len(),
                                orphaned
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    );
                    let rows: Vec<Vec<String>> = report
                        .sizes
                        .rows
                        .iter()
                        .map(|(t, n)| vec![t.clone(), n.to_string()])
                        .collect();
                    output::print_table(&["TABLE", "ROWS"], &rows);
                }
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Prune { dry_run } => {
            let store = ctx.open_store()?;
            let report = store.prune(*dry_run)?;
            match ctx.format {
                Format::Json => output::print_json(&report)?,
                Format::Human => println!(
                    "{} {} runs; data {} -> {}{}",
                    if report.dry_run {
                        "would delete"
                    } else {
                        "deleted"
                    },
                    report.runs_deleted,
                    bytes(report.used_bytes_before),
                    bytes(report.used_bytes_after),
                    if report.dry_run {
                        ""
                    } else {
                        " (run `kiln db vacuum` to shrink the file)"
                    }
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Vacuum => {
            let store = ctx.open_store()?;
            let before = store.sizes()?.file_bytes;
            store.vacuum()?;
            let after = store.sizes()?.file_bytes;
            match ctx.format {
                Format::Json => output::print_json(
                    &serde_json::json!({"bytes_before": before, "bytes_after": after}),
                )?,
                Format::Human => println!("vacuumed: {} -> {}", bytes(before), bytes(after)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch { timeout } => watch(ctx, *timeout),
    }
}

fn watch(ctx: &Context, timeout: Option<std::time::Duration>) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    use std::time::{Duration, Instant};

    drop(ctx.open_store()?); // creates and migrates a new database, so there is a feed to read
    let mut feed = ChangeFeed::open(&ctx.paths.db, &ctx.config.config.store)?;
    eprintln!(
        "watching {} ({})",
        ctx.paths.db.display(),
        if feed.is_event_driven() {
            "inotify"
        } else {
            "checking every second"
        }
    );
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut out = std::io::stdout().lock();
    loop {
        let left = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Ok(ExitCode::SUCCESS);
        }
        let changes = match feed.wait(left)? {
            FeedEvent::Resync => {
                writeln!(
                    out,
                    "{}",
                    if ctx.format == Format::Json {
                        r#"{"kind":"resync"}"#
                    } else {
                        "resync"
                    }
                )?;
                out.flush()?;
                continue;
            }
            FeedEvent::Changes(changes) => changes,
        };
        for c in &changes {
            match ctx.format {
                Format::Json => writeln!(out, "{}", serde_json::to_string(c)?)?,
                Format::Human => writeln!(out, "{} {} {} {}", c.id, c.table, c.op, c.row_id)?,
            }
        }
        out.flush()?;
    }
}

/// A byte count for people: 1.5 MiB.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
