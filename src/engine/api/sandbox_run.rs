//! `Op::RunSandbox`: one program in the sandbox, recorded as a run of kind `sandbox` (in the
//! project containing its work directory, or the one named): the process, every output line
//! (also sent as `LogLines` when asked) and how it ended.

use super::lifecycle::{finish_run, log_event, start_run};
use super::op::SandboxParams;
use crate::engine::context::{Event, OpContext};
use crate::engine::ids::ProcessId;
use crate::engine::sandbox::Termination;
use crate::engine::store::{LogLine, RunKind};
use crate::engine::testing::process::{self, Target};

pub(crate) async fn run_sandbox(
    ctx: OpContext,
    params: SandboxParams,
) -> crate::engine::Result<()> {
    let SandboxParams {
        spec,
        project,
        stream_output,
    } = params;
    let (run, _) = start_run(
        &ctx,
        project.as_ref(),
        spec.workdir.as_deref(),
        RunKind::Sandbox,
    )
    .await?;
    let emitter = ctx.clone();
    let mut on_lines = move |lines: &[LogLine]| {
        if stream_output {
            emitter.emit(Some(run), log_event(None, lines));
        }
    };
    let target = Target {
        run_id: run.get(),
        stage_id: None,
    };
    let result = process::run_recorded(
        &ctx.shared.sandbox,
        &spec,
        &ctx.shared.writer,
        target,
        &ctx.cancel,
        &mut |_| {},
        &mut on_lines,
    )
    .await;
    let verdict = match &result {
        Ok((outcome, process_id)) => {
            ctx.emit(
                Some(run),
                Event::ProcessFinished {
                    process: ProcessId(*process_id),
                    stage: None,
                    exit_code: outcome.exit_code(),
                    limit: outcome.limit.map(|l| l.as_str().to_owned()),
                },
            );
            Ok(if outcome.cancelled {
                Some("cancelled".to_owned())
            } else if let Some(limit) = outcome.limit.filter(|l| l.kills()) {
                Some(format!("killed by the {} limit", limit.as_str()))
            } else if outcome.termination == Termination::Exited(0) {
                None
            } else {
                Some(format!("exited with {}", outcome.exit_code()))
            })
        }
        Err(e) => Err(crate::engine::Error::Unsupported(e.to_string())),
    };
    finish_run(&ctx, run, &verdict).await?;
    result.map(|_| ())
}
