//! The human format: `path:line:col: ID [severity] message`, a code frame with the finding
//! underlined, the fix if there is one, then notes and a summary.
//!
//! The engine returns [`Styled`] text: one string plus spans tagged with a [`Role`]; front-ends
//! choose colours for roles and must show the spans whose role [`Role::is_untrusted`] (file
//! names, source lines, messages quoting code) through `engine::untrusted::inert`.
//!
//! Invariant: linear in the size of the outcome. Each file's line index is built once, and a
//! code frame shows at most a window of [`FRAME_WIDTH`] characters around the finding, so a
//! megabyte-long minified line with a thousand findings does not print a gigabyte.

use std::fmt::Write;
use std::ops::Range;

use super::{display_path, summary};
use crate::engine::analysis::batch::CheckOutcome;
use crate::engine::analysis::finding::{Finding, Severity};
use crate::engine::analysis::lines::LineIndex;

/// The most characters of a source line a code frame shows.
pub const FRAME_WIDTH: usize = 160;
/// Characters shown before the finding when the line is cut.
const FRAME_LEAD: usize = 40;

/// What a span of the report is, for a front-end to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// A file name (from the file system: untrusted).
    Path,
    Rule,
    Severity(Severity),
    /// A rule's message (may quote the analysed code: untrusted).
    Message,
    /// Line numbers and the frame's bars.
    Gutter,
    /// A line of the analysed file (untrusted).
    Source,
    /// The carets under a finding.
    Marker,
    /// A fix's title (may quote the analysed code: untrusted).
    Fix,
    /// The `note` label.
    NoteLabel,
    /// A note's message (names paths and OS errors: untrusted).
    Note,
}

impl Role {
    /// Whether the text of this role comes from the analysed files or the file system and must
    /// be made inert before it reaches a terminal.
    pub fn is_untrusted(self) -> bool {
        matches!(
            self,
            Self::Path | Self::Message | Self::Source | Self::Fix | Self::Note
        )
    }
}

/// Report text with styled spans; text outside every span is plain punctuation and spacing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Styled {
    pub text: String,
    /// Byte ranges of `text`, in order, not overlapping.
    pub spans: Vec<(Range<usize>, Role)>,
}

impl Styled {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn styled(&mut self, role: Role, s: &str) {
        let start = self.text.len();
        self.text.push_str(s);
        if !s.is_empty() {
            self.spans.push((start..self.text.len(), role));
        }
    }

    /// The pieces of the text in order, each with its role (`None`: plain).
    pub fn pieces(&self) -> impl Iterator<Item = (&str, Option<Role>)> {
        let mut at = 0;
        let mut spans = self.spans.iter().peekable();
        std::iter::from_fn(move || {
            if at >= self.text.len() {
                return None;
            }
            match spans.peek() {
                Some((r, role)) if r.start == at => {
                    let (r, role) = (r.clone(), *role);
                    spans.next();
                    at = r.end;
                    Some((&self.text[r], Some(role)))
                }
                Some((r, _)) => {
                    let piece = &self.text[at..r.start];
                    at = r.start;
                    Some((piece, None))
                }
                None => {
                    let piece = &self.text[at..];
                    at = self.text.len();
                    Some((piece, None))
                }
            }
        })
    }
}

/// Renders the outcome for people.
pub fn human(outcome: &CheckOutcome) -> Styled {
    let mut out = Styled::default();
    let mut num = String::new();
    for file in &outcome.files {
        let path = display_path(&file.path);
        let lines = file.source.as_deref().map(|s| (s, LineIndex::new(s)));
        for f in &file.findings {
            out.styled(Role::Path, &path);
            num.clear();
            let _ = write!(
                num,
                ":{}:{}: ",
                f.range.start.line + 1,
                f.range.start.character + 1
            );
            out.push(&num);
            out.styled(Role::Rule, &f.rule);
            out.push(" [");
            out.styled(Role::Severity(f.severity), f.severity.as_str());
            out.push("] ");
            out.styled(Role::Message, &f.message);
            out.push("\n");
            if let Some((src, index)) = &lines {
                frame(&mut out, src, index, f);
            }
            if let Some(fix) = &f.fix {
                let kind = if fix.safe { "safe" } else { "unsafe" };
                out.push("   = fix (");
                out.push(kind);
                out.push("): ");
                out.styled(Role::Fix, &fix.title);
                out.push("\n");
            }
        }
    }
    for n in &outcome.notes {
        out.styled(Role::NoteLabel, "note");
        out.push(": ");
        out.styled(Role::Path, &display_path(&n.path));
        out.push(": ");
        out.styled(Role::Note, &n.message);
        out.push("\n");
    }
    let s = summary(outcome);
    let total = s.error + s.warning + s.info + s.hint;
    let files = outcome
        .files
        .iter()
        .filter(|f| !f.findings.is_empty())
        .count();
    let mut line = String::new();
    if total == 0 {
        let _ = write!(
            line,
            "No findings in {} files checked",
            outcome.files_checked
        );
    } else {
        let _ = write!(
            line,
            "Found {total} findings in {files} of {} files checked ({} errors, {} warnings, {} info, {} hints; {} fixable)",
            outcome.files_checked, s.error, s.warning, s.info, s.hint, s.fixable
        );
    }
    if outcome.fixed > 0 {
        let _ = write!(line, "; fixed {}", outcome.fixed);
    }
    line.push('\n');
    out.push(&line);
    out
}

/// The finding's first line (or a window of it) with a caret underline.
fn frame(out: &mut Styled, src: &str, lines: &LineIndex, f: &Finding) {
    let line_no = f.range.start.line as usize;
    if line_no >= lines.line_count() {
        return;
    }
    let (ls, le) = lines.line_span(src, line_no);
    let start = floor_char(src, f.start.clamp(ls, le));
    let end = floor_char(src, f.end.clamp(start, le));
    // A window of the line around the finding, on char boundaries.
    let mut from = start;
    for _ in 0..FRAME_LEAD {
        if from <= ls {
            break;
        }
        from = floor_char(src, from - 1);
    }
    let lead = src[from..start].chars().count();
    let mut to = from;
    for (i, c) in src[from..le].char_indices().take(FRAME_WIDTH) {
        to = from + i + c.len_utf8();
    }
    let cut_left = from > ls;
    let cut_right = to < le;
    let shown: String = src[from..to]
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let width = (line_no + 1).to_string().len();
    let pad_text = " ".repeat(width);
    out.push(&pad_text);
    out.push(" ");
    out.styled(Role::Gutter, "|");
    out.push("\n");
    out.styled(Role::Gutter, &(line_no + 1).to_string());
    out.push(" ");
    out.styled(Role::Gutter, "|");
    out.push(" ");
    if cut_left {
        out.styled(Role::Gutter, "…");
    }
    out.styled(Role::Source, &shown);
    if cut_right {
        out.styled(Role::Gutter, "…");
    }
    out.push("\n");
    out.push(&pad_text);
    out.push(" ");
    out.styled(Role::Gutter, "|");
    out.push(" ");
    let pad = lead + usize::from(cut_left);
    out.push(&" ".repeat(pad));
    let carets = src[start..end.min(to).max(start)].chars().count().max(1);
    out.styled(Role::Marker, &"^".repeat(carets));
    out.push("\n");
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_text_in_order() {
        let mut s = Styled::default();
        s.push("a ");
        s.styled(Role::Rule, "PY1");
        s.push(" b");
        s.styled(Role::Path, "p");
        let pieces: Vec<_> = s.pieces().collect();
        assert_eq!(
            pieces,
            [
                ("a ", None),
                ("PY1", Some(Role::Rule)),
                (" b", None),
                ("p", Some(Role::Path))
            ]
        );
    }
}
