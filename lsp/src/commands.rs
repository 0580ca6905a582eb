//! The `workspace/executeCommand` commands kiln-lsp offers and their arguments.

use serde::Deserialize;
use tower_lsp_server::ls_types::Range;

pub(crate) const GENERATE: &str = "kiln.generate";
pub(crate) const IMPROVE: &str = "kiln.improve";
pub(crate) const GENERATE_TESTS: &str = "kiln.generateTests";
pub(crate) const RUN_TESTS: &str = "kiln.runTests";
pub(crate) const SHOW_RUN: &str = "kiln.showRun";
pub(crate) const CANCEL: &str = "kiln.cancel";
pub(crate) const NOT_A_PROBLEM: &str = "kiln.notAProblem";

pub(crate) const ALL: [&str; 7] = [
    GENERATE,
    IMPROVE,
    GENERATE_TESTS,
    RUN_TESTS,
    SHOW_RUN,
    CANCEL,
    NOT_A_PROBLEM,
];

/// The one argument object every command takes (fields unused by a command are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Args {
    pub uri: Option<String>,
    /// A line in the function to act on (0-based).
    pub line: Option<u32>,
    pub function: Option<String>,
    /// A selection to improve instead of the whole function.
    pub range: Option<Range>,
    /// What the user wants changed (`kiln.improve`).
    pub instruction: Option<String>,
    /// A run id (`kiln.showRun`, `kiln.cancel`); the latest run when absent.
    pub run: Option<i64>,
    pub rule: Option<String>,
    pub message: Option<String>,
    /// One test to run (`kiln.runTests` from a code lens).
    pub test: Option<String>,
    /// The finding's LSP severity (1 error … 4 hint; `kiln.notAProblem`).
    pub severity: Option<u8>,
    /// The suppression comment was added with the verdict (`kiln.notAProblem`).
    pub suppressed: bool,
    /// Answer when the run has ended and its edit was applied, not at once: for scripted
    /// clients. Editors that time out requests (Helix: 20 s) must not set it.
    pub wait: bool,
}

impl Args {
    /// Reads `arguments[0]`: an object, a bare URI string, or nothing.
    pub(crate) fn parse(arguments: &[serde_json::Value]) -> Result<Self, String> {
        match arguments.first() {
            None | Some(serde_json::Value::Null) => Ok(Self::default()),
            Some(serde_json::Value::String(uri)) => Ok(Self {
                uri: Some(uri.clone()),
                ..Self::default()
            }),
            Some(v) => Self::deserialize(v).map_err(|e| format!("invalid command arguments: {e}")),
        }
    }
}
