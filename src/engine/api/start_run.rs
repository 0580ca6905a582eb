//! `Op::StartRun`: a request becomes a pipeline run. Also the part every pipeline operation
//! shares ([`run_pipeline`]): owning the run, waiting for a run slot, watching for a cancel
//! request from another process, driving the stages, recording the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::Instrument as _;

use super::op::{AutoExport, StartRunParams};
use crate::engine::context::{Event, OpContext};
use crate::engine::ids::{ProjectId, RunId};
use crate::engine::pipeline::{self, Lang, RunOptions};
use crate::engine::store::{NewRun, RunKind, StageRow, Status};

/// How often a running run checks whether another process asked to cancel it.
const CANCEL_POLL: Duration = Duration::from_millis(300);

/// Context files larger than this are refused (they go into every prompt).
const MAX_CONTEXT_BYTES: usize = 256 * 1024;

pub(crate) async fn start_run(
    ctx: OpContext,
    params: StartRunParams,
) -> Result<(), crate::engine::Error> {
    let project = super::project::resolve(&ctx, params.project.as_ref()).await?;
    let project_row = match project {
        Some(id) => Some(ctx.write(move |s| s.project_by_id(id.get())).await?),
        None => None,
    };
    let root = params
        .root
        .clone()
        .or_else(|| project_row.as_ref().map(|p| p.root.clone()));
    let language = match params
        .language
        .as_deref()
        .or(project_row.as_ref().and_then(|p| p.language.as_deref()))
    {
        Some(name) => {
            Lang::parse(name).ok_or_else(|| pipeline::Error::Language(name.to_owned()))?
        }
        None => params
            .files
            .iter()
            .find_map(|f| Lang::of_path(&f.to_string_lossy()))
            .unwrap_or_default(),
    };
    if params.request.trim().is_empty() {
        return Err(pipeline::Error::Stage {
            stage: "request".into(),
            message: "the request is empty; say what the code should do".into(),
        }
        .into());
    }
    let mut files = read_context(root.as_deref(), &params.files)?;
    files.extend(params.context.clone());
    let opts = RunOptions {
        request: params.request.clone(),
        language,
        root,
        files,
        stages: params.stages.clone(),
        models: params.models.clone(),
        export: params.export == AutoExport::WhenGatesPass,
        sandbox: params.sandbox,
    };
    pipeline::runner::validate(&ctx.shared.config.pipeline, &opts)?;
    let options = serde_json::to_string(&opts).unwrap_or_else(|_| "{}".into());
    let origin = params.origin.as_str();
    let project_id = project.map(ProjectId::get);
    let text = params.request.clone();
    let run = ctx
        .write(move |s| {
            let request_id = s.add_request(project_id, &text, origin)?;
            let run = s.start_run(&NewRun {
                project_id,
                request_id: Some(request_id),
                kind: RunKind::Pipeline,
            })?;
            s.set_run_options(run.id, &options)?;
            s.set_run_status(run.id, Status::Queued)?;
            Ok(run)
        })
        .await?;
    let run_id = RunId(run.id);
    ctx.claim_run(run_id);
    ctx.emit(
        Some(run_id),
        Event::RunCreated {
            project,
            kind: RunKind::Pipeline,
            request: Some(params.request),
        },
    );
    run_pipeline(&ctx, run_id, opts, Vec::new()).await
}

/// Reads the `--file` context files; each is named relative to the root when inside it.
fn read_context(
    root: Option<&Path>,
    files: &[PathBuf],
) -> Result<BTreeMap<String, String>, pipeline::Error> {
    let mut out = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| pipeline::Error::Io {
            what: format!("cannot read the context file '{}'", file.display()),
            source,
        })?;
        if text.len() > MAX_CONTEXT_BYTES {
            return Err(pipeline::Error::Stage {
                stage: "request".into(),
                message: format!(
                    "the context file '{}' is {} bytes, over the {MAX_CONTEXT_BYTES}-byte limit; pass a smaller file",
                    file.display(),
                    text.len()
                ),
            });
        }
        let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
        let rel = root
            .and_then(|r| r.canonicalize().ok())
            .and_then(|r| canonical.strip_prefix(r).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from(file.file_name().unwrap_or_default()));
        out.insert(rel.to_string_lossy().into_owned(), text);
    }
    Ok(out)
}

/// Owns the run, waits for a run slot, drives it and records how it ended.
pub(crate) async fn run_pipeline(
    ctx: &OpContext,
    run: RunId,
    opts: RunOptions,
    replay: Vec<StageRow>,
) -> Result<(), crate::engine::Error> {
    let id = run.get();
    ctx.write(move |s| s.own_run(id)).await?;
    let permit = tokio::select! {
        p = ctx.shared.pipeline.runs.clone().acquire_owned() => p.ok(),
        () = ctx.cancel.cancelled() => None,
    };
    let ended = if permit.is_some() {
        ctx.write(move |s| s.set_run_status(id, Status::Running))
            .await?;
        let watcher = tokio::spawn(watch_cancel(ctx.clone(), run));
        let ended = pipeline::runner::drive(ctx, run, opts, replay)
            .instrument(tracing::info_span!("run", %run))
            .await;
        watcher.abort();
        ended
    } else {
        pipeline::runner::Ended {
            status: Status::Cancelled,
            error: Some("cancelled while queued".into()),
        }
    };
    drop(permit);
    let status = ended.status;
    let error = ended.error.clone();
    // Finishing clears the owner.
    ctx.write(move |s| s.finish_run(id, status, error.as_deref()))
        .await?;
    ctx.emit(
        Some(run),
        Event::RunFinished {
            status: ended.status,
            error: ended.error,
        },
    );
    Ok(())
}

/// Cancels the operation when another process stored a cancel request for the run.
async fn watch_cancel(ctx: OpContext, run: RunId) {
    loop {
        tokio::time::sleep(CANCEL_POLL).await;
        let id = run.get();
        if let Ok(true) = ctx.write(move |s| s.cancel_requested(id)).await {
            tracing::info!(%run, "cancel requested by another process");
            ctx.cancel.cancel();
            return;
        }
    }
}
