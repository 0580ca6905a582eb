//! Reading the store into the state. The dashboard's own read-only connection; every query is a
//! bounded one (a page of log lines, the newest runs), so a reload costs the same whatever the
//! database holds.

use kiln::engine::store::{RunScope, Store, StoredLogLine};

use super::effect::Load;
use super::state::UiState;

/// Runs a run list shows at most.
const RUN_LIMIT: usize = 500;

pub(crate) fn load(state: &mut UiState, store: &Store, what: Load) -> anyhow::Result<()> {
    match what {
        Load::Home => {
            state.home.tiles = store.project_tiles(state.now)?;
            state.home.selected = state
                .home
                .selected
                .min(state.home.tiles.len().saturating_sub(1));
        }
        Load::Runs => {
            state.runs.rows = store.run_rows(state.runs.scope, RUN_LIMIT)?;
            let n = state.runs.visible().len();
            state.runs.selected = state.runs.selected.min(n.saturating_sub(1));
        }
        Load::Detail => {
            if let Some(id) = state.detail.run.as_ref().map(|r| r.id) {
                state.detail.run = store.run_row(id)?;
                state.detail.stages = store.pipeline_stages(id)?;
                state.detail.gates = store.gates_of_run(id)?;
                let n = state.detail.stages.len();
                state.detail.selected = state.detail.selected.min(n.saturating_sub(1));
            }
        }
        Load::Logs => {
            if let Some(id) = state.logs.run {
                let row = store.run_row(id)?;
                state.logs.total = row.map_or(0, |r| r.log_lines);
                state.logs.stages = store
                    .pipeline_stages(id)?
                    .into_iter()
                    .map(|s| (s.id, format!("{}#{}", s.name, s.attempt)))
                    .collect();
                if state.logs.follow {
                    state.logs.show_end();
                }
                load_page(state, store)?;
            }
        }
        Load::Page => load_page(state, store)?,
        Load::Artifacts => {
            if let Some(id) = state.current_run() {
                let mut files = Vec::new();
                for latest in store.latest_artifacts(id)? {
                    files.extend(store.artifact_versions(id, &latest.path)?);
                }
                state.artifacts.files = files;
                state.artifacts.project_root = match store.run_row(id)?.and_then(|r| r.project_id) {
                    Some(p) => Some(store.project_by_id(p)?.root),
                    None => None,
                };
                if let Some(path) = state.artifacts.jump_path.take()
                    && let Some(i) = state.artifacts.files.iter().rposition(|a| a.path == path)
                {
                    state.artifacts.selected = i;
                }
                let n = state.artifacts.files.len();
                state.artifacts.selected = state.artifacts.selected.min(n.saturating_sub(1));
            }
        }
        Load::Findings => {
            if let Some(id) = state.current_run() {
                state.findings.findings = store.findings_of_run(id)?;
                state.findings.tests = store.test_rows(id)?;
            }
        }
        Load::Calls => {
            if let Some(id) = state.current_run() {
                state.calls.calls = store.call_rows(id)?;
            }
            state.calls.days = store.spend_by_day(state.now, 14)?;
        }
    }
    Ok(())
}

/// Loads the lines of the visible rows only.
fn load_page(state: &mut UiState, store: &Store) -> anyhow::Result<()> {
    let logs = &mut state.logs;
    let Some(run) = logs.run else {
        logs.page.clear();
        return Ok(());
    };
    let height = logs.height.max(1);
    if !logs.filter.is_active() || logs.matches.is_none() {
        logs.page = store.log_range(run, logs.top, height)?;
        return Ok(());
    }
    let seqs: Vec<i64> = (logs.top..logs.top + height as i64)
        .filter_map(|row| logs.seq_of_row(row))
        .collect();
    logs.page = lines_of(store, run, &seqs)?;
    Ok(())
}

/// The lines at positions `seqs` (ascending) of a run's log.
pub(crate) fn lines_of(
    store: &Store,
    run: i64,
    seqs: &[i64],
) -> anyhow::Result<Vec<StoredLogLine>> {
    let mut page: Vec<StoredLogLine> = Vec::with_capacity(seqs.len());
    let mut i = 0;
    while i < seqs.len() {
        // One range read per run of nearby lines (a chunk holds up to 512).
        let start = seqs[i];
        let mut end = i;
        while end + 1 < seqs.len() && seqs[end + 1] - start < 512 {
            end += 1;
        }
        let lines = store.log_range(run, start, (seqs[end] - start + 1) as usize)?;
        page.extend(
            lines
                .into_iter()
                .filter(|l| seqs[i..=end].binary_search(&l.seq).is_ok()),
        );
        i = end + 1;
    }
    Ok(page)
}

/// The text a copy of these lines puts on the clipboard: one line each, as stored.
pub(crate) fn copy_text(store: &Store, run: i64, seqs: &[i64]) -> anyhow::Result<String> {
    let lines = lines_of(store, run, seqs)?;
    Ok(lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The scope and title of the runs of home tile `index`.
pub(crate) fn tile_scope(state: &UiState, index: usize) -> Option<(RunScope, String)> {
    let tile = state.home.tiles.get(index)?;
    Some(match tile.id {
        Some(id) => (RunScope::Project(id), tile.name.clone()),
        None => (RunScope::NoProject, "other runs".into()),
    })
}
