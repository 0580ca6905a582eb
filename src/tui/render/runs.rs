//! Runs of a project (or all, or "other runs"): status, kind, request, duration, attempts,
//! tokens, cost; filtered by status; live as runs progress.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::home::status_style;
use super::{Look, clip, duration};
use crate::tui::state::UiState;

pub(super) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let rows = state.runs.visible();
    let wide = area.width >= 100;
    let table_rows: Vec<Row<'_>> = rows
        .iter()
        .map(|r| {
            let end = r.finished_at.unwrap_or(look.now);
            let took = r.started_at.map_or(String::new(), |s| duration(end - s));
            let request = r.request.as_deref().map_or_else(
                || r.kind.to_string(),
                |q| kiln::engine::untrusted::inert(&q.replace('\n', " ")).into_owned(),
            );
            let mut cells = vec![
                Cell::from(Span::styled(
                    format!("{} {}", look.symbols.status(r.status, state.tick), r.status),
                    status_style(look, r.status),
                )),
                Cell::from(format!("#{}", r.id)),
                Cell::from(r.kind.to_string()),
                Cell::from(clip(&request, if wide { 60 } else { 24 })),
                Cell::from(took),
            ];
            if wide {
                cells.extend([
                    Cell::from(r.attempts.to_string()),
                    Cell::from(r.tokens.to_string()),
                    Cell::from(format!("${:.3}", r.cost_usd)),
                    Cell::from(r.log_lines.to_string()),
                ]);
            }
            Row::new(cells).style(look.theme.text)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Min(10),
        Constraint::Length(8),
    ];
    let mut header = vec!["status", "run", "kind", "request", "took"];
    if wide {
        widths.extend([
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
        ]);
        header.extend(["attempts", "tokens", "cost", "log lines"]);
    }
    let filter = state
        .runs
        .status
        .map_or("all".to_string(), |s| s.to_string());
    let title = format!(
        " 2 Runs: {} ({} of {}, status: {filter}) ",
        kiln::engine::untrusted::inert(&state.runs.title),
        rows.len(),
        state.runs.rows.len()
    );
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(look.theme.muted))
        .row_highlight_style(look.theme.selection)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.border)
                .title(Line::styled(title, look.theme.accent)),
        );
    let mut ts = TableState::default();
    if !rows.is_empty() {
        ts.select(Some(state.runs.selected));
    }
    frame.render_stateful_widget(table, area, &mut ts);
}
