//! `kiln.notAProblem`: the user's verdict on a finding, stored in kiln's database as a
//! `reject` feedback on the finding (stored with it, without a run), so rule statistics and
//! the dashboard see it. Runs on a blocking thread of the runs owner.

use std::path::Path;

use kiln::engine::analysis::{Position, Range, Severity};
use kiln::engine::paths::Paths;
use kiln::engine::store::{SeenFinding, Store, StoreConfig, Verdict};
use tower_lsp_server::ls_types::Uri;

use crate::commands::Args;

/// Records the verdict; answers `{recorded, finding, feedback}`.
pub(crate) fn not_a_problem(
    paths: &Paths,
    root: Option<&Path>,
    args: &Args,
) -> Result<serde_json::Value, String> {
    let rule = args
        .rule
        .clone()
        .ok_or("kiln.notAProblem needs the finding's 'rule'")?;
    let uri_text = args
        .uri
        .as_deref()
        .ok_or("kiln.notAProblem needs the document 'uri'")?;
    let uri: Uri = uri_text
        .parse()
        .map_err(|_| format!("invalid uri '{uri_text}'"))?;
    let path = uri
        .to_file_path()
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| format!("'{uri_text}' is not a file"))?;
    let file = root
        .and_then(|r| path.strip_prefix(r).ok())
        .unwrap_or(&path)
        .to_string_lossy()
        .into_owned();
    let line = args.line.unwrap_or(0);
    let range = args.range.map_or(
        Range {
            start: Position { line, character: 0 },
            end: Position { line, character: 0 },
        },
        |r| Range {
            start: Position {
                line: r.start.line,
                character: r.start.character,
            },
            end: Position {
                line: r.end.line,
                character: r.end.character,
            },
        },
    );
    let severity = match args.severity {
        Some(1) => Severity::Error,
        Some(3) => Severity::Info,
        Some(4) => Severity::Hint,
        _ => Severity::Warning,
    };
    let seen = SeenFinding {
        file,
        rule,
        severity,
        range,
        message: args.message.clone().unwrap_or_default(),
    };
    let comment = if args.suppressed {
        "not a problem here (editor); suppression comment added"
    } else {
        "not a problem here (editor)"
    };
    if paths.db == paths.data_dir.join("kiln.db") {
        std::fs::create_dir_all(&paths.data_dir).map_err(|e| {
            format!(
                "cannot create the data directory '{}': {e}",
                paths.data_dir.display()
            )
        })?;
    }
    let store = Store::open(&paths.db, &StoreConfig::default())
        .map_err(|e| format!("kiln: cannot open the database to record the verdict: {e}"))?;
    let (finding, feedback) = store
        .add_finding_feedback(&seen, Verdict::Reject, comment)
        .map_err(|e| format!("kiln: cannot record the verdict: {e}"))?;
    tracing::info!(
        rule = seen.rule,
        file = seen.file,
        finding,
        "finding marked as not a problem"
    );
    Ok(serde_json::json!({ "recorded": true, "finding": finding, "feedback": feedback }))
}
