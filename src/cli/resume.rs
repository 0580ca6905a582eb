//! `kiln resume RUN`: continues an interrupted, cancelled or failed run from its last
//! completed stage; finished stages (and their model calls) are not redone.

use std::process::ExitCode;

use kiln::engine::api::Op;
use kiln::engine::ids::RunId;

use super::engine as cli_engine;
use super::{Context, new};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The run id
    run: RunId,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let rt = cli_engine::runtime()?;
    let followed = rt.block_on(async {
        let engine = cli_engine::start(ctx)?;
        let mut events = engine.subscribe();
        let op = engine.submit(Op::ResumeRun { run: args.run });
        let mut followed = cli_engine::follow(ctx, &engine, &mut events, op).await;
        followed.run.get_or_insert(args.run);
        engine.shutdown().await;
        anyhow::Ok(followed)
    })?;
    new::summarize(ctx, &followed, "kiln resume")
}
