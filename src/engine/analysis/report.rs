//! Rendering a check's outcome: `human` (code frames, as styled spans the front-end colours),
//! `json` and `sarif` (SARIF 2.1.0). The engine only builds text; the CLI prints it.

mod human;
mod sarif;

pub use human::{FRAME_WIDTH, Role, Styled, human};
pub use sarif::sarif;

use serde::Serialize;

use super::batch::CheckOutcome;
use super::finding::{Finding, Severity};
use super::note::Note;

/// Counts per severity.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
    pub hint: usize,
    pub fixable: usize,
}

pub fn summary(outcome: &CheckOutcome) -> Summary {
    let mut s = Summary::default();
    for (_, f) in outcome.findings() {
        match f.severity {
            Severity::Error => s.error += 1,
            Severity::Warning => s.warning += 1,
            Severity::Info => s.info += 1,
            Severity::Hint => s.hint += 1,
        }
        if f.fix.is_some() {
            s.fixable += 1;
        }
    }
    s
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    file: String,
    #[serde(flatten)]
    finding: &'a Finding,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    files_checked: usize,
    cache_hits: usize,
    fixed: usize,
    summary: Summary,
    findings: Vec<JsonFinding<'a>>,
    notes: &'a [Note],
}

/// One JSON document: every finding with its file, plus notes and counts.
pub fn json(outcome: &CheckOutcome) -> String {
    let report = JsonReport {
        version: 1,
        files_checked: outcome.files_checked,
        cache_hits: outcome.cache_hits,
        fixed: outcome.fixed,
        summary: summary(outcome),
        findings: outcome
            .findings()
            .map(|(file, finding)| JsonFinding {
                file: display_path(&file.path),
                finding,
            })
            .collect(),
        notes: &outcome.notes,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A path as shown in reports: forward slashes, no leading `./`.
pub fn display_path(p: &std::path::Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}
