//! Actions: what a key means, as plain data. The keymap turns keys into actions; `update`
//! applies them to the state. Names (`as_str`) are what `[tui.keys]` and `:` commands use.

macro_rules! actions {
    ($($variant:ident => $name:literal, $help:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Action { $($variant),* }
        impl Action {
            pub(crate) const ALL: &[Action] = &[$(Action::$variant),*];
            pub(crate) fn as_str(self) -> &'static str { match self { $(Self::$variant => $name),* } }
            pub(crate) fn help(self) -> &'static str { match self { $(Self::$variant => $help),* } }
            pub(crate) fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.as_str() == name)
            }
        }
    };
}

actions! {
    Quit => "quit", "quit kiln";
    Help => "help", "list the keys of this view";
    Back => "back", "close the prompt or go back";
    Command => "command", "command prompt";
    Home => "home", "panel 1: projects";
    Runs => "runs", "panel 2: runs";
    Detail => "detail", "panel 3: run detail";
    Logs => "logs", "panel 4: logs";
    Artifacts => "artifacts", "panel 5: artifacts";
    Findings => "findings", "panel 6: findings and tests";
    Calls => "calls", "panel 7: model calls";
    Up => "up", "move up";
    Down => "down", "move down";
    Left => "left", "previous item";
    Right => "right", "next item";
    PageUp => "page_up", "page up";
    PageDown => "page_down", "page down";
    Top => "top", "go to the top";
    Bottom => "bottom", "go to the bottom";
    Open => "open", "open the selection";
    NewRequest => "new_request", "new request for the project";
    StartRun => "start_run", "start the model-free run (kiln run) on the project";
    AddProject => "add_project", "add the current directory as a project";
    OpenExample => "open_example", "add the bundled examples/tempconv project";
    FilterStatus => "filter_status", "cycle the status filter";
    Cancel => "cancel", "cancel the run";
    Retry => "retry", "retry the failed (or selected) stage";
    Resume => "resume", "resume an interrupted run";
    Accept => "accept", "accept the run, with a comment";
    Reject => "reject", "reject the run, with a comment";
    Export => "export", "export: preview the diff, then confirm";
    Editor => "editor", "open in $EDITOR";
    Search => "search", "search the whole log";
    Filter => "filter", "filter lines (regex; start with ! to invert)";
    NextHit => "next_hit", "next search hit";
    PrevHit => "prev_hit", "previous search hit";
    NextError => "next_error", "next error or failed test";
    PrevError => "prev_error", "previous error";
    NextWarn => "next_warn", "next warning";
    PrevWarn => "prev_warn", "previous warning";
    Follow => "follow", "follow the end of the log";
    Wrap => "wrap", "wrap long lines";
    StageFilter => "stage_filter", "show one stage (cycle)";
    StreamFilter => "stream_filter", "show one stream (cycle)";
    LevelFilter => "level_filter", "minimum level (cycle)";
    Select => "select", "select lines (move, then copy them)";
    Copy => "copy", "copy the line or selection (OSC 52)";
    DiffPrev => "diff_prev", "diff against the previous attempt";
    DiffProject => "diff_project", "diff against the project's file";
}
