//! `Op::ResumeRun`: continues an interrupted (or failed, or cancelled) pipeline run from its
//! last completed stage. Finished stages are replayed from their stored outputs, so no
//! finished model call is made again.

use super::retry_stage::{load, reopen};
use super::start_run::run_pipeline;
use crate::engine::context::OpContext;
use crate::engine::ids::RunId;
use crate::engine::pipeline;
use crate::engine::store::Status;

pub(crate) async fn resume_run(ctx: OpContext, run: RunId) -> Result<(), crate::engine::Error> {
    let (opts, rows) = load(&ctx, run, "resumed").await?;
    let id = run.get();
    let status = ctx.write(move |s| s.run(id)).await?.status;
    if status == Status::Succeeded {
        return Err(pipeline::Error::WrongState {
            run: id,
            what: "resumed",
            status: status.to_string(),
        }
        .into());
    }
    let replay = rows
        .into_iter()
        .filter(|r| r.status == Status::Succeeded)
        .collect();
    reopen(&ctx, run).await?;
    run_pipeline(&ctx, run, opts, replay).await
}
