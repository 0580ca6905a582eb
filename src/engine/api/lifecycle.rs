//! The bookkeeping every recorded operation shares: create the run (in the project containing
//! its directory unless one is named), claim it for cancellation, announce it; start and finish
//! stages; finish the run with the operation's result. Each change is committed before its
//! event is sent.

use std::path::Path;

use super::op::ProjectRef;
use crate::engine::context::{Event, OpContext};
use crate::engine::ids::{ProjectId, RunId, StageId};
use crate::engine::store::{LogLine, NewRun, RunKind, StageKind, Status};

/// Creates a run of `kind` working on `root` and announces it.
pub(crate) async fn start_run(
    ctx: &OpContext,
    project: Option<&ProjectRef>,
    root: Option<&Path>,
    kind: RunKind,
) -> crate::engine::Result<(RunId, Option<ProjectId>)> {
    let reference = project
        .cloned()
        .or_else(|| root.map(|r| ProjectRef::Containing(r.to_path_buf())));
    let project = super::project::resolve(ctx, reference.as_ref()).await?;
    let project_id = project.map(ProjectId::get);
    let root = root.map(Path::to_path_buf);
    let run = ctx
        .write(move |s| {
            let run = s.start_run(&NewRun {
                project_id,
                request_id: None,
                kind,
            })?;
            if let Some(root) = &root {
                s.set_run_root(run.id, root)?;
            }
            Ok(run)
        })
        .await?;
    let run_id = RunId(run.id);
    ctx.claim_run(run_id);
    ctx.emit(
        Some(run_id),
        Event::RunCreated {
            project,
            kind,
            request: None,
        },
    );
    Ok((run_id, project))
}

/// Finishes the run: `Ok(None)` succeeded, `Ok(Some(why))` failed its checks, `Err` failed
/// (cancelled when the operation was).
pub(crate) async fn finish_run(
    ctx: &OpContext,
    run: RunId,
    result: &crate::engine::Result<Option<String>>,
) -> crate::engine::Result<()> {
    let (status, error) = match result {
        Ok(None) => (Status::Succeeded, None),
        Ok(Some(why)) if ctx.cancel.is_cancelled() => (Status::Cancelled, Some(why.clone())),
        Ok(Some(why)) => (Status::Failed, Some(why.clone())),
        Err(e) if ctx.cancel.is_cancelled() => (Status::Cancelled, Some(e.to_string())),
        Err(e) => (Status::Failed, Some(e.to_string())),
    };
    let stored = error.clone();
    ctx.write(move |s| s.finish_run(run.get(), status, stored.as_deref()))
        .await?;
    ctx.emit(Some(run), Event::RunFinished { status, error });
    Ok(())
}

pub(crate) async fn start_stage(
    ctx: &OpContext,
    run: RunId,
    kind: StageKind,
) -> crate::engine::Result<StageId> {
    let stage = ctx.write(move |s| s.start_stage(run.get(), kind)).await?;
    let id = StageId(stage.id);
    ctx.emit(
        Some(run),
        Event::StageStarted {
            stage: id,
            name: kind.as_str().to_owned(),
            attempt: stage.attempt as u32,
            iteration: 0,
        },
    );
    Ok(id)
}

pub(crate) async fn finish_stage(
    ctx: &OpContext,
    run: RunId,
    stage: StageId,
    status: Status,
    error: Option<String>,
) -> crate::engine::Result<()> {
    let stored = error.clone();
    let row = ctx
        .write(move |s| s.finish_stage(stage.get(), status, stored.as_deref()))
        .await?;
    ctx.emit(
        Some(run),
        Event::StageFinished {
            stage,
            name: row.kind.as_str().to_owned(),
            status,
            error,
            attempt: row.attempt as u32,
            cached: false,
        },
    );
    Ok(())
}

/// Stored log lines as a `LogLines` event.
pub(crate) fn log_event(stage: Option<StageId>, lines: &[LogLine]) -> Event {
    Event::log_lines(stage, lines)
}
