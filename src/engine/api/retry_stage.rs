//! `Op::RetryStage`: runs a failed stage (or the named one) of a pipeline run again and
//! continues from there; every stage finished before it is replayed from the store.

use super::start_run::run_pipeline;
use crate::engine::context::OpContext;
use crate::engine::ids::RunId;
use crate::engine::pipeline::{self, RunOptions};
use crate::engine::store::{RunKind, StageRow, Status};

pub(crate) async fn retry_stage(
    ctx: OpContext,
    run: RunId,
    stage: Option<String>,
) -> Result<(), crate::engine::Error> {
    let (opts, rows) = load(&ctx, run, "retried").await?;
    let target =
        match &stage {
            Some(name) => rows.iter().rev().find(|r| r.name == *name).ok_or_else(|| {
                pipeline::Error::Stage {
                    stage: name.clone(),
                    message: format!(
                        "run {run} has no stage '{name}'; its stages: {}",
                        names(&rows)
                    ),
                }
            })?,
            None => rows
                .iter()
                .rev()
                .find(|r| matches!(r.status, Status::Failed | Status::Cancelled))
                .ok_or_else(|| pipeline::Error::Stage {
                    stage: "retry".into(),
                    message: format!(
                        "run {run} has no failed stage; name one to run again with --stage ({})",
                        names(&rows)
                    ),
                })?,
        };
    let first = rows
        .iter()
        .find(|r| r.name == target.name && r.iteration == target.iteration)
        .map_or(target.id, |r| r.id);
    let replay: Vec<StageRow> = rows
        .iter()
        .filter(|r| r.id < first && r.status == Status::Succeeded)
        .cloned()
        .collect();
    reopen(&ctx, run).await?;
    run_pipeline(&ctx, run, opts, replay).await
}

fn names(rows: &[StageRow]) -> String {
    let mut v: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    v.dedup();
    v.join(", ")
}

/// The run's options and stages, checking it is a pipeline run not running anywhere.
pub(crate) async fn load(
    ctx: &OpContext,
    run: RunId,
    what: &'static str,
) -> Result<(RunOptions, Vec<StageRow>), crate::engine::Error> {
    let id = run.get();
    let (row, options, stages, owner) = ctx
        .write(move |s| {
            Ok((
                s.run(id)?,
                s.run_options(id)?,
                s.pipeline_stages(id)?,
                s.live_owner(id)?,
            ))
        })
        .await?;
    if row.kind != RunKind::Pipeline {
        return Err(pipeline::Error::NotPipeline(id).into());
    }
    if matches!(row.status, Status::Running | Status::Queued) {
        if let Some(pid) = owner {
            return Err(pipeline::Error::WrongState {
                run: id,
                what,
                status: format!("{} in process {pid}", row.status),
            }
            .into());
        }
        // Its owner died (kill -9, power loss): the run was interrupted.
        ctx.write(move |s| s.set_run_status(id, Status::Interrupted))
            .await?;
    }
    let opts: RunOptions = serde_json::from_str(&options).map_err(|e| pipeline::Error::Stage {
        stage: "options".into(),
        message: format!("run {id} has unreadable options ({e}); start it again with kiln new"),
    })?;
    Ok((opts, stages))
}

pub(crate) async fn reopen(ctx: &OpContext, run: RunId) -> Result<(), crate::engine::Error> {
    let id = run.get();
    ctx.write(move |s| s.reopen_run(id)).await?;
    ctx.claim_run(run);
    Ok(())
}
