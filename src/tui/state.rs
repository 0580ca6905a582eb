//! The dashboard's state: everything `render` reads. Only `update` (and the loader, applying
//! what it read from the store) changes it. Split by view so no struct grows past a screen.

use std::path::PathBuf;

use kiln::engine::api::ExportFile;
use kiln::engine::store::{
    Artifact, CallRow, DaySpend, GateRow, ProjectTile, RunRow, RunScope, StageRow, Status,
    StoredFinding, TestResultRow,
};

use super::logs::LogState;
use super::prompt::Prompt;

/// The numbered panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ViewId {
    Home,
    Runs,
    Detail,
    Logs,
    Artifacts,
    Findings,
    Calls,
}

impl ViewId {
    pub(crate) const ALL: [ViewId; 7] = [
        Self::Home,
        Self::Runs,
        Self::Detail,
        Self::Logs,
        Self::Artifacts,
        Self::Findings,
        Self::Calls,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Home => "Projects",
            Self::Runs => "Runs",
            Self::Detail => "Run",
            Self::Logs => "Logs",
            Self::Artifacts => "Artifacts",
            Self::Findings => "Findings",
            Self::Calls => "Model calls",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct HomeState {
    pub(crate) tiles: Vec<ProjectTile>,
    pub(crate) selected: usize,
    /// The directory the dashboard started in (offered as a project on first run).
    pub(crate) cwd: PathBuf,
    /// The bundled example project, when this checkout has one.
    pub(crate) example: Option<PathBuf>,
    /// Whether any model is configured (the first-run screen says how to add one).
    pub(crate) has_model: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunsState {
    pub(crate) scope: RunScope,
    pub(crate) title: String,
    pub(crate) rows: Vec<RunRow>,
    pub(crate) selected: usize,
    pub(crate) status: Option<Status>,
}

impl Default for RunsState {
    fn default() -> Self {
        Self {
            scope: RunScope::All,
            title: "all projects".into(),
            rows: Vec::new(),
            selected: 0,
            status: None,
        }
    }
}

impl RunsState {
    /// The rows the status filter lets through.
    pub(crate) fn visible(&self) -> Vec<&RunRow> {
        self.rows
            .iter()
            .filter(|r| self.status.is_none_or(|s| r.status == s))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DetailState {
    pub(crate) run: Option<RunRow>,
    pub(crate) stages: Vec<StageRow>,
    pub(crate) gates: Vec<GateRow>,
    pub(crate) selected: usize,
    /// Streamed model text of the running stage (the last few kilobytes).
    pub(crate) model_text: String,
}

/// What the artifact pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ArtifactMode {
    #[default]
    Content,
    DiffPrev,
    DiffProject,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ArtifactState {
    /// Every version of every file of the run, by path then version.
    pub(crate) files: Vec<Artifact>,
    pub(crate) selected: usize,
    pub(crate) mode: ArtifactMode,
    pub(crate) scroll: usize,
    /// The line to mark after a jump from a finding (0-based).
    pub(crate) jump_line: Option<usize>,
    /// The file to select once the artifacts are loaded (a jump from a finding).
    pub(crate) jump_path: Option<String>,
    /// The project's root, for diffs against its files.
    pub(crate) project_root: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct FindingsState {
    pub(crate) findings: Vec<StoredFinding>,
    pub(crate) tests: Vec<TestResultRow>,
    pub(crate) selected: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct CallsState {
    pub(crate) calls: Vec<CallRow>,
    pub(crate) days: Vec<DaySpend>,
    pub(crate) selected: usize,
}

/// A message for the user at the bottom of the screen, until the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    pub(crate) error: bool,
    pub(crate) text: String,
}

/// An export waiting for confirmation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExportConfirm {
    pub(crate) run: i64,
    pub(crate) files: Vec<ExportFile>,
    pub(crate) scroll: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UiState {
    pub(crate) view: ViewId,
    pub(crate) home: HomeState,
    pub(crate) runs: RunsState,
    pub(crate) detail: DetailState,
    pub(crate) logs: LogState,
    pub(crate) artifacts: ArtifactState,
    pub(crate) findings: FindingsState,
    pub(crate) calls: CallsState,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) export: Option<ExportConfirm>,
    pub(crate) notice: Option<Notice>,
    pub(crate) help: bool,
    /// Terminal size (columns, rows).
    pub(crate) size: (u16, u16),
    /// Spinner frame; advances only while something runs.
    pub(crate) tick: usize,
    /// Operations submitted and not yet done, with what they were.
    pub(crate) pending_ops: Vec<(u64, &'static str)>,
    pub(crate) quit: bool,
    /// Microseconds since the epoch when the state was last updated (pinned in tests).
    pub(crate) now: i64,
}

impl UiState {
    pub(crate) fn new(cwd: PathBuf, example: Option<PathBuf>, has_model: bool) -> Self {
        Self {
            view: ViewId::Home,
            home: HomeState {
                cwd,
                example,
                has_model,
                ..HomeState::default()
            },
            runs: RunsState::default(),
            detail: DetailState::default(),
            logs: LogState::default(),
            artifacts: ArtifactState::default(),
            findings: FindingsState::default(),
            calls: CallsState::default(),
            prompt: None,
            export: None,
            notice: None,
            help: false,
            size: (80, 24),
            tick: 0,
            pending_ops: Vec::new(),
            quit: false,
            now: 0,
        }
    }

    /// Whether anything is running (the spinner ticks only then).
    pub(crate) fn is_busy(&self) -> bool {
        self.home.tiles.iter().any(|t| t.running > 0)
            || self.runs.rows.iter().any(|r| !r.status.is_finished())
            || self
                .detail
                .run
                .as_ref()
                .is_some_and(|r| !r.status.is_finished())
            || self.logs.is_searching()
    }

    /// The selected run: the detail's, else the runs list's.
    pub(crate) fn current_run(&self) -> Option<i64> {
        self.detail
            .run
            .as_ref()
            .map(|r| r.id)
            .or_else(|| self.runs.visible().get(self.runs.selected).map(|r| r.id))
    }

    pub(crate) fn notify(&mut self, error: bool, text: impl Into<String>) {
        self.notice = Some(Notice {
            error,
            text: text.into(),
        });
    }
}
