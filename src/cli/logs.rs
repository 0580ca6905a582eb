//! `kiln logs RUN [-f] [--stage S]`: a run's log lines from the store (read-only); `-f` keeps
//! printing new lines until the run ends. Program output is untrusted: shown inert.

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
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
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
        let lines = store.log_range(args.run, next, 10_000)?;
        for l in &lines {
            next = next.max(l.seq + 1);
            if args.stage.is_some() && !l.stage_id.is_some_and(|s| stages.contains(&s)) {
                continue;
            }
            if ctx.format == Format::Json {
                println!("{}", serde_json::to_string(l)?);
            } else {
                println!("{}", inert(&l.text));
            }
        }
        let Some(feed) = feed.as_mut() else { break };
        if lines.is_empty() {
            if store.run(args.run)?.status.is_finished() {
                break;
            }
            let _ = feed.wait(Duration::from_millis(500))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
