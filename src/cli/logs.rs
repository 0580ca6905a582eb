//! `kiln logs RUN [-f] [--stage S] [--raw]`: a run's log lines from the store (read-only); `-f`
//! keeps printing new lines until the run ends. Program output is untrusted: shown inert, or
//! with `--raw` written byte for byte as the program wrote it (refused on a terminal).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use kiln::engine::store::{ChangeFeed, Store};
use kiln::engine::untrusted::inert;

use super::{Context, Format};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The run id
    run: i64,
    /// Keep printing new lines until the run ends
    #[arg(long, short)]
    follow: bool,
    /// Only lines of stages with this name
    #[arg(long)]
    stage: Option<String>,
    /// Write the output exactly as the program wrote it (bytes, nothing escaped); only to a
    /// pipe or file, never to a terminal
    #[arg(long)]
    raw: bool,
}

/// Lines per read with `--raw` (a byte chunk's line is up to 64 KiB: at most 16 MiB at once).
const RAW_PAGE: usize = 256;

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    if args.raw && std::io::stdout().is_terminal() {
        anyhow::bail!(
            "refusing to write raw program output to a terminal (it may hold control sequences); redirect it to a file or a pipe, or drop --raw"
        );
    }
    let store = Store::open_read_only(&ctx.paths.db, &ctx.config.config.store)?;
    store.run(args.run)?;
    let mut feed = if args.follow {
        Some(ChangeFeed::open(&ctx.paths.db, &ctx.config.config.store)?)
    } else {
        None
    };
    let mut next = 0i64;
    loop {
        let stages: Vec<i64> = match &args.stage {
            Some(name) => store
                .pipeline_stages(args.run)?
                .into_iter()
                .filter(|s| s.name == *name)
                .map(|s| s.id)
                .collect(),
            None => Vec::new(),
        };
        let wanted = |stage_id: Option<i64>| {
            args.stage.is_none() || stage_id.is_some_and(|s| stages.contains(&s))
        };
        let mut out = std::io::stdout().lock();
        let read = if args.raw {
            let lines = store.log_range_exact(args.run, next, RAW_PAGE)?;
            for l in &lines {
                next = next.max(l.line.seq + 1);
                if wanted(l.line.stage_id) {
                    out.write_all(&l.bytes)?;
                }
            }
            lines.len()
        } else {
            let lines = store.log_range(args.run, next, 10_000)?;
            for l in &lines {
                next = next.max(l.seq + 1);
                if !wanted(l.stage_id) {
                    continue;
                }
                if ctx.format == Format::Json {
                    writeln!(out, "{}", serde_json::to_string(l)?)?;
                } else {
                    writeln!(out, "{}", inert(&l.text))?;
                }
            }
            lines.len()
        };
        out.flush()?;
        drop(out);
        if args.raw && read > 0 {
            continue;
        }
        let Some(feed) = feed.as_mut() else { break };
        if read == 0 {
            if store.run(args.run)?.status.is_finished() {
                break;
            }
            let _ = feed.wait(Duration::from_millis(500))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
