//! `kiln cancel RUN`: asks the process running RUN to cancel it (through the store; the owner
//! notices within a second and records the run as cancelled).

use std::process::ExitCode;

use kiln::engine::api::{Event, Op};
use kiln::engine::ids::RunId;

use super::engine as cli_engine;
use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The run id
    run: RunId,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let rt = cli_engine::runtime()?;
    let result = rt.block_on(async {
        let engine = cli_engine::start(ctx)?;
        let mut events = engine.subscribe();
        let op = engine.submit(Op::CancelRun { run: args.run });
        let mut error = None;
        while let Some(e) = events.next().await {
            if e.op != Some(op) {
                continue;
            }
            match e.event {
                Event::OpDone => break,
                Event::OpFailed { error: msg, .. } => {
                    error = Some(msg);
                    break;
                }
                _ => {}
            }
        }
        engine.shutdown().await;
        anyhow::Ok(error)
    })?;
    if let Some(error) = result {
        anyhow::bail!("cannot cancel run {}: {error}", args.run);
    }
    if ctx.format == Format::Json {
        output::print_json(&serde_json::json!({ "run": args.run, "cancel_requested": true }))?;
    } else {
        println!("asked run {} to cancel", args.run);
    }
    Ok(ExitCode::SUCCESS)
}
