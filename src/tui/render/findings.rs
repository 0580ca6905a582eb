//! Findings and test results of the run; Enter jumps to the finding's line in the artifacts.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Look, clip};
use crate::tui::state::UiState;
use kiln::engine::analysis::Severity;
use kiln::engine::untrusted::inert;

pub(super) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let f = &state.findings;
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for (i, finding) in f.findings.iter().enumerate() {
        let style = match finding.severity {
            Severity::Error => look.theme.error,
            Severity::Warning => look.theme.warn,
            _ => look.theme.muted,
        };
        let sel = i == f.selected;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<8}", format!("{:?}", finding.severity).to_lowercase()),
                if sel { look.theme.selection } else { style },
            ),
            Span::styled(
                clip(
                    &format!(
                        " {}:{}:{} {} {}",
                        inert(&finding.file),
                        finding.range.start.line + 1,
                        finding.range.start.character + 1,
                        finding.rule,
                        inert(&finding.message)
                    ),
                    width.saturating_sub(8),
                ),
                look.theme.text,
            ),
        ]));
    }
    let base = f.findings.len();
    let (passed, failed) = f.tests.iter().fold((0, 0), |(p, x), t| {
        if t.outcome == "passed" {
            (p + 1, x)
        } else if t.outcome == "failed" || t.outcome == "error" {
            (p, x + 1)
        } else {
            (p, x)
        }
    });
    lines.push(Line::styled(
        format!(
            "tests: {passed} passed, {failed} failed, {} total",
            f.tests.len()
        ),
        look.theme.accent,
    ));
    for (i, t) in f.tests.iter().enumerate() {
        let (sym, style) = match t.outcome.as_str() {
            "passed" => (look.symbols.ok, look.theme.ok),
            "skipped" => (look.symbols.skipped, look.theme.muted),
            _ => (look.symbols.failed, look.theme.error),
        };
        let sel = base + i == f.selected;
        lines.push(Line::from(vec![
            Span::styled(format!("{sym} "), style),
            Span::styled(
                clip(
                    &format!(
                        "{} {}",
                        inert(&t.name),
                        t.message
                            .as_deref()
                            .map(|m| inert(&m.replace('\n', " ")).into_owned())
                            .unwrap_or_default()
                    ),
                    width.saturating_sub(2),
                ),
                if sel {
                    look.theme.selection
                } else {
                    look.theme.text
                },
            ),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.focus)
                .title(format!(" 6 Findings ({}) and tests ", f.findings.len())),
        ),
        area,
    );
}
