//! Run detail: the stage timeline (one row per stage attempt: status, spinner, iteration,
//! duration bar), the gates, and the streamed model text of the running stage.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::home::status_style;
use super::{Look, clip, duration};
use crate::tui::state::UiState;

pub(super) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let Some(run) = &state.detail.run else {
        frame.render_widget(
            Paragraph::new("no run selected").style(look.theme.muted),
            area,
        );
        return;
    };
    let [head, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);
    let request = run.request.as_deref().map_or_else(
        || run.kind.to_string(),
        |q| kiln::engine::untrusted::inert(&q.replace('\n', " ")).into_owned(),
    );
    let took = run.started_at.map_or(String::new(), |s| {
        duration(run.finished_at.unwrap_or(look.now) - s)
    });
    let head_lines = vec![
        Line::from(vec![
            Span::styled(
                format!(
                    "{} {}",
                    look.symbols.status(run.status, state.tick),
                    run.status
                ),
                status_style(look, run.status),
            ),
            Span::styled(
                format!(
                    "  #{}  {}  {took}  {} tokens  ${:.3}",
                    run.id, run.kind, run.tokens, run.cost_usd
                ),
                look.theme.muted,
            ),
        ]),
        Line::styled(
            clip(&request, head.width.saturating_sub(2) as usize),
            look.theme.text,
        ),
        Line::styled(
            run.error
                .as_deref()
                .map(|e| kiln::engine::untrusted::inert(e).into_owned())
                .unwrap_or_default(),
            look.theme.error,
        ),
    ];
    frame.render_widget(Paragraph::new(head_lines), head);
    let [timeline, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
    let longest = state
        .detail
        .stages
        .iter()
        .filter_map(|s| s.started_at.map(|a| s.finished_at.unwrap_or(look.now) - a))
        .max()
        .unwrap_or(1)
        .max(1);
    let bar_width = i64::from(timeline.width.saturating_sub(36).max(1));
    let lines: Vec<Line<'_>> = state
        .detail
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let took = s
                .started_at
                .map_or(0, |a| s.finished_at.unwrap_or(look.now) - a);
            let bar = look
                .symbols
                .bar
                .repeat(((took * bar_width) / longest).max(1) as usize);
            let style = if i == state.detail.selected {
                look.theme.selection
            } else {
                look.theme.text
            };
            Line::from(vec![
                Span::styled(
                    format!("{} ", look.symbols.status(s.status, state.tick)),
                    status_style(look, s.status),
                ),
                Span::styled(
                    format!(
                        "{:<10} #{} it{} {:>7} ",
                        clip(&s.name, 10),
                        s.attempt,
                        s.iteration,
                        duration(took)
                    ),
                    style,
                ),
                Span::styled(bar, status_style(look, s.status)),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.focus)
                .title(" 3 Stages "),
        ),
        timeline,
    );
    let [gates, model] = Layout::vertical([
        Constraint::Length((state.detail.gates.len() as u16 + 2).min(10)),
        Constraint::Min(3),
    ])
    .areas(right);
    let gate_lines: Vec<Line<'_>> = state
        .detail
        .gates
        .iter()
        .map(|g| {
            let (sym, style) = if g.passed {
                (look.symbols.ok, look.theme.ok)
            } else {
                (look.symbols.failed, look.theme.error)
            };
            Line::from(vec![
                Span::styled(format!("{sym} {:<10} it{} ", g.gate, g.iteration), style),
                Span::styled(
                    kiln::engine::untrusted::inert(&g.detail).into_owned(),
                    look.theme.muted,
                ),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(gate_lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.border)
                .title(" gates "),
        ),
        gates,
    );
    let text = kiln::engine::untrusted::inert(&state.detail.model_text).into_owned();
    let lines: Vec<Line<'_>> = text
        .lines()
        .map(|l| Line::styled(l.to_string(), look.theme.text))
        .collect();
    let visible = model.height.saturating_sub(2) as usize;
    let skip = lines.len().saturating_sub(visible);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>())
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(look.theme.border)
                    .title(" model "),
            ),
        model,
    );
}
