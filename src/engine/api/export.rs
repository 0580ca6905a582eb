//! `Op::ExportRun`: the diff of a run's final artifacts against its project (`ExportPreview`),
//! or the export itself (`Exported`): into the project, onto a new git branch, into a zip.
//! Planning reads through a read-only store connection; nothing is written when a path is
//! refused or a file changed since the run read it (unless forced).

use super::op::{ExportMode, ExportParams};
use crate::engine::context::{Event, ExportFile, FileChange, OpContext};
use crate::engine::export::{self, ApplyOptions, Change};
use crate::engine::store::Store;

pub(crate) async fn export_run(ctx: OpContext, params: ExportParams) -> crate::engine::Result<()> {
    let shared = ctx.shared.clone();
    let run = params.run;
    let options = ApplyOptions {
        force: params.force,
        git_branch: params.git_branch.clone(),
        zip: params.zip.clone(),
        env: shared.env.clone(),
    };
    let mode = params.mode;
    let (plan, applied) = tokio::task::spawn_blocking(move || -> crate::engine::Result<_> {
        let store = Store::open_read_only(&shared.paths.db, &shared.config.store)?;
        let plan = export::plan(&store, run.get())?;
        drop(store);
        let applied = match mode {
            ExportMode::Preview => None,
            ExportMode::Apply => Some(export::apply(&plan, &options)?),
        };
        Ok((plan, applied))
    })
    .await
    .map_err(|e| crate::engine::Error::Unsupported(format!("export task failed: {e}")))??;
    let files = plan
        .files
        .iter()
        .map(|f| ExportFile {
            path: f.path.clone(),
            change: match f.change {
                Change::Added => FileChange::Added,
                Change::Modified => FileChange::Modified,
                Change::Unchanged => FileChange::Unchanged,
                Change::Conflict => FileChange::Conflict,
            },
            diff: f.diff.clone(),
        })
        .collect();
    ctx.emit(Some(run), Event::ExportPreview { files });
    if let Some(applied) = applied {
        ctx.emit(
            Some(run),
            Event::Exported {
                files: applied.files,
                branch: applied.branch,
                zip: applied.zip.map(|z| z.display().to_string()),
            },
        );
    }
    Ok(())
}
