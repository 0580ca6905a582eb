//! What `update` asks the app to do after changing the state: submit an engine operation,
//! reload something from the store, start a log scan, copy, open an editor, run a kiln command.
//! Plain data, so tests assert on it.

use std::path::PathBuf;

use kiln::engine::api::Op;

use super::logs::{ScanKind, ScanRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Load {
    Home,
    Runs,
    Detail,
    /// The log's size and stages, then its page.
    Logs,
    /// Only the visible page of the log.
    Page,
    Artifacts,
    Findings,
    Calls,
}

#[derive(Debug)]
pub(crate) enum Effect {
    Op(Op),
    Load(Load),
    /// A new scan (`continue_from`: `None`), or the current one continued over new lines.
    Scan(ScanRequest, Option<i64>),
    CancelScan(ScanKind),
    /// Text for the clipboard (sent as OSC 52).
    Copy(String),
    /// These lines (positions, ascending) of a run's log, read from the store, to the clipboard.
    CopyLines(i64, Vec<i64>),
    /// Suspend the screen and edit this file at this 1-based line.
    Editor(PathBuf, Option<usize>),
    /// Run `kiln ARGS...` as a child (no terminal: stdin/stdout/stderr are not the tty).
    Kiln(Vec<String>),
}
