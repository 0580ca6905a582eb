//! `update`: keys and engine events into state changes and effects. No I/O here: reads and
//! writes are effects the app (or a test harness) carries out.

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use kiln::engine::api::CheckParams;
use kiln::engine::api::{
    Envelope, Event, ExportMode, ExportParams, FeedbackParams, Op, Origin, ProjectRef,
    StartRunParams,
};
use kiln::engine::ids::{ProjectId, RunId};
use kiln::engine::store::{FeedbackTarget, LogLevel, LogStream, RunScope, Status, Verdict};

use super::action::Action;
use super::effect::{Effect, Load};
use super::keymap::{Key, Keymap};
use super::logs::{FilterSpec, ScanKind, ScanRequest};
use super::prompt::{Edit, Prompt, PromptKind};
use super::state::{ArtifactMode, ExportConfirm, UiState, ViewId};

/// Bytes of streamed model text kept for the run detail.
const MODEL_TEXT_KEEP: usize = 16 * 1024;

/// A key press.
pub(crate) fn on_key(state: &mut UiState, keymap: &Keymap, key: &KeyEvent) -> Vec<Effect> {
    state.notice = None;
    if let Some(prompt) = state.prompt.as_mut() {
        return match prompt.key(key) {
            Edit::Changed => Vec::new(),
            Edit::Cancel => {
                state.prompt = None;
                Vec::new()
            }
            Edit::Submit => {
                #[allow(
                    clippy::expect_used,
                    reason = "Edit::Submit is only produced while a prompt is open"
                )]
                let prompt = state
                    .prompt
                    .take()
                    .expect("a prompt is open in this branch");
                submit_prompt(state, keymap, &prompt)
            }
        };
    }
    if let Some(export) = state.export.as_mut() {
        match key.code {
            KeyCode::Char('y') => {
                let run = export.run;
                state.export = None;
                return vec![Effect::Op(Op::ExportRun(ExportParams {
                    run: RunId(run),
                    mode: ExportMode::Apply,
                    ..ExportParams::default()
                }))];
            }
            KeyCode::Char('j') | KeyCode::Down => export.scroll += 1,
            KeyCode::Char('k') | KeyCode::Up => export.scroll = export.scroll.saturating_sub(1),
            _ => state.export = None,
        }
        return Vec::new();
    }
    if state.help {
        state.help = false;
        return Vec::new();
    }
    match keymap.action(state.view, Key::from_event(key)) {
        Some(action) => update(state, action),
        None => Vec::new(),
    }
}

fn submit_prompt(state: &mut UiState, keymap: &Keymap, prompt: &Prompt) -> Vec<Effect> {
    let text = prompt.text.trim().to_string();
    match prompt.kind {
        PromptKind::Search => start_search(state, text),
        PromptKind::Filter => {
            let (inverse, pattern) = match text.strip_prefix('!') {
                Some(rest) => (true, rest.to_string()),
                None => (false, text),
            };
            state.logs.filter.inverse = inverse && !pattern.is_empty();
            state.logs.filter.pattern = (!pattern.is_empty()).then_some(pattern);
            refilter(state)
        }
        PromptKind::Command => command(state, keymap, &text),
        PromptKind::Comment(verdict, run) => vec![Effect::Op(Op::AddFeedback(FeedbackParams {
            target: FeedbackTarget::Run(run),
            verdict,
            comment: text,
        }))],
        PromptKind::Request(project) => {
            if text.is_empty() {
                state.notify(true, "the request is empty; nothing was started");
                return Vec::new();
            }
            let language = prompt.language.trim();
            vec![Effect::Op(Op::StartRun(StartRunParams {
                request: text,
                project: project.map(|p| ProjectRef::Id(ProjectId(p))),
                language: (!language.is_empty()).then(|| language.to_string()),
                origin: Origin::Tui,
                ..StartRunParams::default()
            }))]
        }
    }
}

/// `:` commands: an action name (`:quit`, `:next_error`), or `:theme`-free basics.
fn command(state: &mut UiState, _keymap: &Keymap, text: &str) -> Vec<Effect> {
    let name = text.trim_start_matches(':').trim().replace('-', "_");
    let name = match name.as_str() {
        "q" => "quit",
        "e" | "edit" => "editor",
        other => other,
    };
    match Action::from_name(name) {
        Some(action) => update(state, action),
        None if name.is_empty() => Vec::new(),
        None => {
            state.notify(
                true,
                format!("unknown command '{name}'; `?` lists the keys and their names"),
            );
            Vec::new()
        }
    }
}

fn start_search(state: &mut UiState, query: String) -> Vec<Effect> {
    let Some(run) = state.logs.run else {
        return Vec::new();
    };
    if query.is_empty() {
        state.logs.search = None;
        return vec![Effect::CancelScan(ScanKind::Search)];
    }
    state.logs.search = Some(super::logs::Scan {
        query: query.clone(),
        ..super::logs::Scan::default()
    });
    vec![Effect::Scan(
        ScanRequest {
            kind: ScanKind::Search,
            run,
            from_seq: 0,
            query,
            spec: FilterSpec::default(),
        },
        None,
    )]
}

fn refilter(state: &mut UiState) -> Vec<Effect> {
    let Some(run) = state.logs.run else {
        return Vec::new();
    };
    state.logs.top = 0;
    state.logs.cursor = 0;
    if !state.logs.filter.is_active() {
        state.logs.matches = None;
        return vec![
            Effect::CancelScan(ScanKind::Filter),
            Effect::Load(Load::Page),
        ];
    }
    state.logs.matches = Some(super::logs::Scan::default());
    vec![
        Effect::Scan(
            ScanRequest {
                kind: ScanKind::Filter,
                run,
                from_seq: 0,
                query: String::new(),
                spec: state.logs.filter.clone(),
            },
            None,
        ),
        Effect::Load(Load::Page),
    ]
}

/// Opens the log of `run` (from the first line, or following its end while it runs).
fn open_logs(state: &mut UiState, run: i64, title: String, follow: bool) -> Vec<Effect> {
    if state.logs.run != Some(run) {
        let height = state.logs.height;
        let wrap = state.logs.wrap;
        state.logs = super::logs::LogState {
            run: Some(run),
            title,
            follow,
            height,
            wrap,
            ..super::logs::LogState::default()
        };
        state.view = ViewId::Logs;
        return vec![
            Effect::Load(Load::Logs),
            Effect::Scan(
                ScanRequest {
                    kind: ScanKind::Marks,
                    run,
                    from_seq: 0,
                    query: String::new(),
                    spec: FilterSpec::default(),
                },
                None,
            ),
        ];
    }
    state.view = ViewId::Logs;
    vec![Effect::Load(Load::Logs)]
}

fn open_run(state: &mut UiState, run: i64) -> Vec<Effect> {
    if state.detail.run.as_ref().map(|r| r.id) != Some(run) {
        state.detail = super::state::DetailState::default();
        state.detail.run = state.runs.rows.iter().find(|r| r.id == run).cloned();
        state.artifacts = super::state::ArtifactState::default();
    }
    state.view = ViewId::Detail;
    vec![Effect::Load(Load::Detail)]
}

fn move_selection(selected: &mut usize, len: usize, delta: i64) {
    if len == 0 {
        *selected = 0;
        return;
    }
    *selected = (*selected as i64 + delta).clamp(0, len as i64 - 1) as usize;
}

fn no_run(state: &mut UiState) -> Vec<Effect> {
    state.notify(true, "no run selected: pick one in the runs panel (2)");
    Vec::new()
}

/// Applies one action.
pub(crate) fn update(state: &mut UiState, action: Action) -> Vec<Effect> {
    use Action as A;
    let page = i64::from(state.size.1.saturating_sub(4)).max(1);
    match action {
        A::Quit => {
            state.quit = true;
            Vec::new()
        }
        A::Help => {
            state.help = true;
            Vec::new()
        }
        A::Back => {
            state.view = match state.view {
                ViewId::Home | ViewId::Runs => ViewId::Home,
                ViewId::Detail => ViewId::Runs,
                ViewId::Logs | ViewId::Artifacts | ViewId::Findings | ViewId::Calls => {
                    if state.detail.run.is_some() {
                        ViewId::Detail
                    } else {
                        ViewId::Runs
                    }
                }
            };
            Vec::new()
        }
        A::Command => {
            state.prompt = Some(Prompt::new(PromptKind::Command));
            Vec::new()
        }
        A::Home => {
            state.view = ViewId::Home;
            vec![Effect::Load(Load::Home)]
        }
        A::Runs => {
            state.view = ViewId::Runs;
            vec![Effect::Load(Load::Runs)]
        }
        A::Detail => match state.current_run() {
            Some(run) => open_run(state, run),
            None => no_run(state),
        },
        A::Logs => match (state.logs.run, state.current_run()) {
            (_, Some(run)) => {
                let follow = state
                    .detail
                    .run
                    .as_ref()
                    .is_some_and(|r| !r.status.is_finished());
                open_logs(state, run, format!("run {run}"), follow)
            }
            (Some(_), None) => {
                state.view = ViewId::Logs;
                Vec::new()
            }
            (None, None) => no_run(state),
        },
        A::Artifacts | A::Findings | A::Calls => {
            if state.current_run().is_none() {
                return no_run(state);
            }
            let (view, load) = match action {
                A::Artifacts => (ViewId::Artifacts, Load::Artifacts),
                A::Findings => (ViewId::Findings, Load::Findings),
                _ => (ViewId::Calls, Load::Calls),
            };
            state.view = view;
            vec![Effect::Load(load)]
        }
        A::Up | A::Down | A::PageUp | A::PageDown | A::Top | A::Bottom | A::Left | A::Right => {
            navigate(state, action, page)
        }
        A::Open => open(state),
        A::NewRequest => {
            let project = match state.view {
                ViewId::Home => state.home.tiles.get(state.home.selected).and_then(|t| t.id),
                _ => match state.runs.scope {
                    RunScope::Project(p) => Some(p),
                    _ => None,
                },
            };
            state.prompt = Some(Prompt::new(PromptKind::Request(project)));
            Vec::new()
        }
        A::StartRun => match state.home.tiles.get(state.home.selected).cloned() {
            Some(tile) if tile.id.is_some() => {
                let root = tile.root.clone().unwrap_or_default();
                state.notify(false, format!("starting kiln run in '{root}'"));
                vec![Effect::Op(Op::CheckProject(CheckParams {
                    root: root.into(),
                    project: tile.id.map(|p| ProjectRef::Id(ProjectId(p))),
                    run_tests: true,
                    origin: Origin::Tui,
                    ..CheckParams::default()
                }))]
            }
            _ => {
                state.notify(true, "select a project tile to run");
                Vec::new()
            }
        },
        A::AddProject => {
            let cwd = state.home.cwd.display().to_string();
            state.notify(false, format!("adding '{cwd}' as a project"));
            vec![Effect::Kiln(vec!["project".into(), "add".into(), cwd])]
        }
        A::OpenExample => {
            if let Some(path) = state.home.example.as_ref().map(|p| p.display().to_string()) {
                state.notify(false, format!("adding the example project '{path}'"));
                vec![Effect::Kiln(vec!["project".into(), "add".into(), path])]
            } else {
                state.notify(true, "examples/tempconv is not in this checkout");
                Vec::new()
            }
        }
        A::FilterStatus => {
            state.runs.status = match state.runs.status {
                None => Some(Status::Running),
                Some(Status::Running) => Some(Status::Failed),
                Some(Status::Failed) => Some(Status::Succeeded),
                Some(Status::Succeeded) => Some(Status::Cancelled),
                Some(_) => None,
            };
            state.runs.selected = 0;
            Vec::new()
        }
        A::Cancel | A::Retry | A::Resume | A::Export => {
            let Some(run) = state.current_run() else {
                return no_run(state);
            };
            let run_id = RunId(run);
            let op = match action {
                A::Cancel => Op::CancelRun { run: run_id },
                A::Retry => Op::RetryStage {
                    run: run_id,
                    stage: (state.view == ViewId::Detail)
                        .then(|| state.detail.stages.get(state.detail.selected))
                        .flatten()
                        .filter(|s| s.status == Status::Failed)
                        .map(|s| s.name.clone()),
                },
                A::Resume => Op::ResumeRun { run: run_id },
                _ => Op::ExportRun(ExportParams {
                    run: run_id,
                    mode: ExportMode::Preview,
                    ..ExportParams::default()
                }),
            };
            vec![Effect::Op(op)]
        }
        A::Accept | A::Reject => match state.current_run() {
            Some(run) => {
                let verdict = if action == A::Accept {
                    Verdict::Accept
                } else {
                    Verdict::Reject
                };
                state.prompt = Some(Prompt::new(PromptKind::Comment(verdict, run)));
                Vec::new()
            }
            None => no_run(state),
        },
        A::Editor => editor(state),
        A::Search => {
            state.prompt = Some(Prompt::new(PromptKind::Search));
            Vec::new()
        }
        A::Filter => {
            state.prompt = Some(Prompt::new(PromptKind::Filter));
            Vec::new()
        }
        A::NextHit | A::PrevHit => {
            let hits = state
                .logs
                .search
                .as_ref()
                .map(|s| s.hits.clone())
                .unwrap_or_default();
            jump(state, &hits, action == A::NextHit, "search hit")
        }
        A::NextError | A::PrevError => {
            let marks = state.logs.errors.hits.clone();
            jump(state, &marks, action == A::NextError, "error")
        }
        A::NextWarn | A::PrevWarn => {
            let marks = state.logs.warnings.clone();
            jump(state, &marks, action == A::NextWarn, "warning")
        }
        A::Follow => {
            state.logs.follow = !state.logs.follow;
            if state.logs.follow {
                state.logs.show_end();
            }
            vec![Effect::Load(Load::Page)]
        }
        A::Wrap => {
            state.logs.wrap = !state.logs.wrap;
            Vec::new()
        }
        A::StageFilter => {
            let stages = &state.logs.stages;
            let next = match &state.logs.filter.stage {
                None => stages.first().cloned(),
                Some((id, _)) => stages
                    .iter()
                    .position(|(s, _)| s == id)
                    .and_then(|i| stages.get(i + 1))
                    .cloned(),
            };
            state.logs.filter.stage = next;
            refilter(state)
        }
        A::StreamFilter => {
            state.logs.filter.stream = match state.logs.filter.stream {
                None => Some(LogStream::Stdout),
                Some(LogStream::Stdout) => Some(LogStream::Stderr),
                Some(LogStream::Stderr) => Some(LogStream::Kiln),
                Some(LogStream::Kiln) => None,
            };
            refilter(state)
        }
        A::LevelFilter => {
            state.logs.filter.level = match state.logs.filter.level {
                None => Some(LogLevel::Warn),
                Some(LogLevel::Warn) => Some(LogLevel::Error),
                Some(_) => None,
            };
            refilter(state)
        }
        A::Select => {
            state.logs.anchor = match state.logs.anchor {
                Some(_) => None,
                None => Some(state.logs.cursor),
            };
            Vec::new()
        }
        A::Copy if state.logs.anchor.is_some() => copy_selection(state),
        A::Copy => {
            let row = state.logs.cursor - state.logs.top;
            match usize::try_from(row)
                .ok()
                .and_then(|r| state.logs.page.get(r))
                .map(|l| l.text.clone())
            {
                Some(text) => {
                    state.notify(false, "copied the line (OSC 52)");
                    vec![Effect::Copy(text)]
                }
                None => Vec::new(),
            }
        }
        A::DiffPrev | A::DiffProject => {
            let mode = if action == A::DiffPrev {
                ArtifactMode::DiffPrev
            } else {
                ArtifactMode::DiffProject
            };
            state.artifacts.mode = if state.artifacts.mode == mode {
                ArtifactMode::Content
            } else {
                mode
            };
            state.artifacts.scroll = 0;
            Vec::new()
        }
    }
}

/// Lines a selection copies at most (OSC 52 payloads beyond a few hundred kilobytes are cut by
/// terminals and tmux).
pub(crate) const COPY_MAX_LINES: i64 = 5_000;

fn copy_selection(state: &mut UiState) -> Vec<Effect> {
    let (Some(run), Some((first, last))) = (state.logs.run, state.logs.selection()) else {
        return Vec::new();
    };
    state.logs.anchor = None;
    let end = last.min(first + COPY_MAX_LINES - 1);
    let seqs: Vec<i64> = (first..=end)
        .filter_map(|row| state.logs.seq_of_row(row))
        .collect();
    let n = seqs.len();
    if end < last {
        state.notify(
            true,
            format!(
                "copied the first {n} of {} selected lines (OSC 52 holds no more)",
                last - first + 1
            ),
        );
    } else {
        state.notify(false, format!("copied {n} lines (OSC 52)"));
    }
    vec![Effect::CopyLines(run, seqs)]
}

fn jump(state: &mut UiState, marks: &[i64], forward: bool, what: &str) -> Vec<Effect> {
    if state.view != ViewId::Logs {
        return Vec::new();
    }
    if state.logs.jump(marks, forward) {
        vec![Effect::Load(Load::Page)]
    } else {
        let dir = if forward { "below" } else { "above" };
        state.notify(false, format!("no {what} {dir}"));
        Vec::new()
    }
}

fn navigate(state: &mut UiState, action: Action, page: i64) -> Vec<Effect> {
    use Action as A;
    let delta = match action {
        A::Up | A::Left => -1,
        A::Down | A::Right => 1,
        A::PageUp => -page,
        A::PageDown => page,
        A::Top => i64::MIN / 2,
        _ => i64::MAX / 2,
    };
    match state.view {
        ViewId::Home => {
            // Tiles sit in a grid: left/right move one, up/down one row of tiles.
            let per_row = (i64::from(state.size.0) / i64::from(super::render::TILE_WIDTH)).max(1);
            let step = match action {
                A::Up => -per_row,
                A::Down => per_row,
                _ => delta,
            };
            move_selection(&mut state.home.selected, state.home.tiles.len(), step);
        }
        ViewId::Runs => {
            let n = state.runs.visible().len();
            move_selection(&mut state.runs.selected, n, delta);
        }
        ViewId::Detail => {
            move_selection(&mut state.detail.selected, state.detail.stages.len(), delta);
        }
        ViewId::Logs => {
            if matches!(action, A::Left | A::Right) {
                return Vec::new();
            }
            let target = state.logs.cursor.saturating_add(delta);
            state.logs.follow = action == A::Bottom;
            state.logs.goto_row(target);
            if state.logs.follow {
                state.logs.show_end();
            }
            return vec![Effect::Load(Load::Page)];
        }
        ViewId::Artifacts => match action {
            A::Left | A::Right | A::Top | A::Bottom => {
                move_selection(
                    &mut state.artifacts.selected,
                    state.artifacts.files.len(),
                    delta,
                );
                state.artifacts.scroll = 0;
                state.artifacts.jump_line = None;
            }
            _ => {
                state.artifacts.scroll = (state.artifacts.scroll as i64 + delta).max(0) as usize;
            }
        },
        ViewId::Findings => {
            let n = state.findings.findings.len() + state.findings.tests.len();
            move_selection(&mut state.findings.selected, n, delta);
        }
        ViewId::Calls => move_selection(&mut state.calls.selected, state.calls.calls.len(), delta),
    }
    Vec::new()
}

fn open(state: &mut UiState) -> Vec<Effect> {
    match state.view {
        ViewId::Home => match super::load::tile_scope(state, state.home.selected) {
            Some((scope, title)) => {
                if state.runs.scope != scope {
                    state.runs = super::state::RunsState {
                        scope,
                        title,
                        ..super::state::RunsState::default()
                    };
                }
                state.view = ViewId::Runs;
                vec![Effect::Load(Load::Runs)]
            }
            None => Vec::new(),
        },
        ViewId::Runs => match state.runs.visible().get(state.runs.selected).map(|r| r.id) {
            Some(run) => open_run(state, run),
            None => Vec::new(),
        },
        ViewId::Detail => {
            let Some(run) = state.detail.run.as_ref() else {
                return Vec::new();
            };
            let (id, running) = (run.id, !run.status.is_finished());
            let selected = state.detail.stages.get(state.detail.selected).cloned();
            let mut effects = open_logs(state, id, format!("run {id}"), running);
            if let Some(stage) = selected {
                state.logs.filter.stage =
                    Some((stage.id, format!("{}#{}", stage.name, stage.attempt)));
                effects.extend(refilter(state));
            }
            effects
        }
        ViewId::Findings => {
            let Some(finding) = state.findings.findings.get(state.findings.selected) else {
                return Vec::new();
            };
            let (file, line) = (finding.file.clone(), finding.range.start.line as usize);
            state.view = ViewId::Artifacts;
            state.artifacts.jump_path = Some(file);
            state.artifacts.mode = ArtifactMode::Content;
            state.artifacts.jump_line = Some(line);
            state.artifacts.scroll = line.saturating_sub(3);
            vec![Effect::Load(Load::Artifacts)]
        }
        _ => Vec::new(),
    }
}

fn editor(state: &mut UiState) -> Vec<Effect> {
    let (path, line) = match state.view {
        ViewId::Findings => match state.findings.findings.get(state.findings.selected) {
            Some(f) => (f.file.clone(), Some(f.range.start.line as usize + 1)),
            None => return Vec::new(),
        },
        _ => match state.artifacts.files.get(state.artifacts.selected) {
            Some(a) => (a.path.clone(), state.artifacts.jump_line.map(|l| l + 1)),
            None => return Vec::new(),
        },
    };
    let full = match &state.artifacts.project_root {
        Some(root) => root.join(&path),
        None => path.into(),
    };
    vec![Effect::Editor(full, line)]
}

/// A mouse event (only with `--mouse` or `tui.mouse`): the wheel scrolls the focused view, a
/// click on the tab line opens that panel, on a tile selects it, on a log line moves the cursor.
pub(crate) fn on_mouse(state: &mut UiState, event: MouseEvent) -> Vec<Effect> {
    let (x, y) = (event.column, event.row);
    match event.kind {
        MouseEventKind::ScrollUp => update(state, Action::Up),
        MouseEventKind::ScrollDown => update(state, Action::Down),
        MouseEventKind::Down(MouseButton::Left) if y == 0 => match tab_at(x) {
            Some(view) => update(state, panel_action(view)),
            None => Vec::new(),
        },
        MouseEventKind::Down(MouseButton::Left) => {
            state.notice = None;
            match state.view {
                ViewId::Home => {
                    if let Some(i) = super::render::tile_at(state, x, y - 1) {
                        state.home.selected = i;
                    }
                    Vec::new()
                }
                ViewId::Logs => {
                    // Below the tab line and the box's top border.
                    let row = i64::from(y) - 2;
                    if row < 0 || row >= state.logs.height as i64 {
                        return Vec::new();
                    }
                    state.logs.follow = false;
                    state.logs.goto_row(state.logs.top + row);
                    vec![Effect::Load(Load::Page)]
                }
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// The panel whose tab covers column `x` (the tab line is " kiln " then " N Title " each).
fn tab_at(x: u16) -> Option<ViewId> {
    let mut at = 6u16;
    for (i, view) in ViewId::ALL.iter().enumerate() {
        let width = (format!(" {} {} ", i + 1, view.title()).chars().count()) as u16;
        if (at..at + width).contains(&x) {
            return Some(*view);
        }
        at += width;
    }
    None
}

fn panel_action(view: ViewId) -> Action {
    match view {
        ViewId::Home => Action::Home,
        ViewId::Runs => Action::Runs,
        ViewId::Detail => Action::Detail,
        ViewId::Logs => Action::Logs,
        ViewId::Artifacts => Action::Artifacts,
        ViewId::Findings => Action::Findings,
        ViewId::Calls => Action::Calls,
    }
}

/// An engine event.
pub(crate) fn on_event(state: &mut UiState, envelope: &Envelope) -> Vec<Effect> {
    let for_detail = envelope.run.is_some()
        && envelope.run.map(RunId::get) == state.detail.run.as_ref().map(|r| r.id);
    let for_logs = envelope.run.is_some() && envelope.run.map(RunId::get) == state.logs.run;
    let mut effects = Vec::new();
    match &envelope.event {
        Event::RunCreated { .. } | Event::RunFinished { .. } => {
            effects.extend([Effect::Load(Load::Home), Effect::Load(Load::Runs)]);
            if for_detail {
                effects.push(Effect::Load(Load::Detail));
            }
            if for_logs {
                effects.push(Effect::Load(Load::Logs));
            }
        }
        Event::StageStarted { .. } | Event::StageFinished { .. } | Event::GateEvaluated { .. } => {
            if for_detail {
                effects.push(Effect::Load(Load::Detail));
                // A model stage's call is this engine's own commit (no `StoreChanged` for it).
                if matches!(envelope.event, Event::StageFinished { .. }) {
                    effects.push(Effect::Load(Load::Calls));
                }
            }
            effects.push(Effect::Load(Load::Runs));
        }
        Event::ModelDelta { text, .. } if for_detail => {
            let keep = &mut state.detail.model_text;
            keep.push_str(text);
            if keep.len() > MODEL_TEXT_KEEP {
                let mut cut = keep.len() - MODEL_TEXT_KEEP;
                while !keep.is_char_boundary(cut) {
                    cut += 1;
                }
                keep.drain(..cut);
            }
        }
        Event::LogLines { .. } if for_logs => effects.extend(log_grew(state)),
        Event::ArtifactStored { .. } if for_detail => effects.push(Effect::Load(Load::Artifacts)),
        Event::FindingsReady { .. } | Event::TestResults { .. } if for_detail => {
            effects.push(Effect::Load(Load::Findings));
        }
        Event::ExportPreview { files } => {
            if let Some(run) = envelope.run {
                state.export = Some(ExportConfirm {
                    run: run.get(),
                    files: files.clone(),
                    scroll: 0,
                });
            }
        }
        Event::Exported { files, .. } => {
            state.notify(false, format!("exported {} file(s)", files.len()));
        }
        Event::OpFailed { op, error } => {
            state.notify(true, format!("{op}: {error}"));
        }
        Event::Notice { level, message } => {
            state.notify(*level <= LogLevel::Warn, message.clone());
        }
        Event::StoreChanged { changes } => {
            let touched = |table: &str| changes.iter().any(|c| c.table == table);
            if touched("projects") || touched("runs") || touched("generations") {
                effects.extend([Effect::Load(Load::Home), Effect::Load(Load::Runs)]);
            }
            if touched("runs") || touched("stages") || touched("gates") {
                effects.push(Effect::Load(Load::Detail));
            }
            if changes
                .iter()
                .any(|c| c.table == "log_lines" && Some(c.row_id) == state.logs.run)
            {
                effects.extend(log_grew(state));
            }
            if touched("artifacts") {
                effects.push(Effect::Load(Load::Artifacts));
            }
            if touched("findings") || touched("test_results") {
                effects.push(Effect::Load(Load::Findings));
            }
            if touched("generations") {
                effects.push(Effect::Load(Load::Calls));
            }
        }
        Event::Resync { .. } => effects.extend(reload_all(state)),
        Event::AskFinished { .. } => effects.push(Effect::Load(Load::Calls)),
        _ => {}
    }
    effects
}

/// New lines arrived in the shown log: reload its size and page, continue finished scans.
fn log_grew(state: &mut UiState) -> Vec<Effect> {
    let Some(run) = state.logs.run else {
        return Vec::new();
    };
    let mut effects = vec![Effect::Load(Load::Logs)];
    let scans = [
        (
            ScanKind::Marks,
            Some(&state.logs.errors),
            String::new(),
            FilterSpec::default(),
        ),
        (
            ScanKind::Search,
            state.logs.search.as_ref(),
            state
                .logs
                .search
                .as_ref()
                .map(|s| s.query.clone())
                .unwrap_or_default(),
            FilterSpec::default(),
        ),
        (
            ScanKind::Filter,
            state.logs.matches.as_ref(),
            String::new(),
            state.logs.filter.clone(),
        ),
    ];
    let mut continued = Vec::new();
    for (kind, scan, query, spec) in scans {
        if let Some(scan) = scan.filter(|s| s.done) {
            continued.push(kind);
            effects.push(Effect::Scan(
                ScanRequest {
                    kind,
                    run,
                    from_seq: scan.scanned,
                    query,
                    spec,
                },
                Some(scan.scanned),
            ));
        }
    }
    // Not done until the continuation reports, so a second batch of lines does not start a
    // second scan over the same range.
    for kind in continued {
        let scan = match kind {
            ScanKind::Marks => Some(&mut state.logs.errors),
            ScanKind::Search => state.logs.search.as_mut(),
            ScanKind::Filter => state.logs.matches.as_mut(),
        };
        if let Some(scan) = scan {
            scan.done = false;
        }
    }
    effects
}

/// Everything the current screen shows, reloaded (after a resync or a start).
pub(crate) fn reload_all(state: &UiState) -> Vec<Effect> {
    let mut effects = vec![Effect::Load(Load::Home), Effect::Load(Load::Runs)];
    if state.detail.run.is_some() {
        effects.push(Effect::Load(Load::Detail));
    }
    if state.logs.run.is_some() {
        effects.push(Effect::Load(Load::Logs));
    }
    match state.view {
        ViewId::Artifacts => effects.push(Effect::Load(Load::Artifacts)),
        ViewId::Findings => effects.push(Effect::Load(Load::Findings)),
        ViewId::Calls => effects.push(Effect::Load(Load::Calls)),
        _ => {}
    }
    effects
}
