//! The human format: `path:line:col: ID [severity] message`, a code frame with the finding
//! underlined, the fix if there is one, then notes and a summary. ANSI colours on request.

use std::fmt::Write;

use super::{display_path, summary};
use crate::engine::analysis::batch::CheckOutcome;
use crate::engine::analysis::finding::{Finding, Severity};

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn severity(&self, sev: Severity) -> String {
        let code = match sev {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;36",
            Severity::Hint => "2",
        };
        self.wrap(code, sev.as_str())
    }
}

/// Renders the outcome for a terminal (`color`: ANSI escapes).
pub fn human(outcome: &CheckOutcome, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    for file in &outcome.files {
        let path = display_path(&file.path);
        for f in &file.findings {
            let _ = writeln!(
                out,
                "{}:{}:{}: {} [{}] {}",
                paint.wrap("1", &path),
                f.range.start.line + 1,
                f.range.start.character + 1,
                paint.wrap("1", &f.rule),
                paint.severity(f.severity),
                f.message
            );
            if let Some(src) = &file.source {
                frame(&mut out, src, f, &paint);
            }
            if let Some(fix) = &f.fix {
                let kind = if fix.safe { "safe" } else { "unsafe" };
                let _ = writeln!(out, "   = fix ({kind}): {}", fix.title);
            }
        }
    }
    for n in &outcome.notes {
        let _ = writeln!(
            out,
            "{}: {}: {}",
            paint.wrap("2", "note"),
            display_path(&n.path),
            n.message
        );
    }
    let s = summary(outcome);
    let total = s.error + s.warning + s.info + s.hint;
    let files = outcome
        .files
        .iter()
        .filter(|f| !f.findings.is_empty())
        .count();
    if total == 0 {
        let _ = write!(
            out,
            "No findings in {} files checked",
            outcome.files_checked
        );
    } else {
        let _ = write!(
            out,
            "Found {total} findings in {files} of {} files checked ({} errors, {} warnings, {} info, {} hints; {} fixable)",
            outcome.files_checked, s.error, s.warning, s.info, s.hint, s.fixable
        );
    }
    if outcome.fixed > 0 {
        let _ = write!(out, "; fixed {}", outcome.fixed);
    }
    out.push('\n');
    out
}

/// The finding's first line with a caret underline.
fn frame(out: &mut String, src: &str, f: &Finding, paint: &Paint) {
    let line_no = f.range.start.line as usize;
    let Some(line) = src.split('\n').nth(line_no) else {
        return;
    };
    let line = line.trim_end_matches('\r');
    let width = (line_no + 1).to_string().len();
    let start = f.range.start.character as usize;
    let line_len: usize = line.encode_utf16().count();
    let end = if f.range.end.line == f.range.start.line {
        f.range.end.character as usize
    } else {
        line_len
    };
    // Columns are UTF-16 units; tabs are shown as one space to keep the caret aligned.
    let shown: String = line
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let pad: String = shown.encode_utf16().take(start).map(|_| ' ').collect();
    let carets = "^".repeat(end.saturating_sub(start).max(1));
    let bar = paint.wrap("2", "|");
    let _ = writeln!(out, "{:width$} {bar}", "");
    let _ = writeln!(
        out,
        "{} {bar} {shown}",
        paint.wrap("2", &(line_no + 1).to_string())
    );
    let _ = writeln!(
        out,
        "{:width$} {bar} {pad}{}",
        "",
        paint.wrap("1;31", &carets)
    );
}
