//! Model calls of the run: model, tokens, latency, time to first token, cost, with totals for
//! the run and per day; the selected call's prompt and response below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Look, clip};
use crate::tui::state::UiState;
use kiln::engine::untrusted::inert;

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

pub(super) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let c = &state.calls;
    let [list, detail] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Min(3)]).areas(area);
    let (tin, tout, cost) = c.calls.iter().fold((0, 0, 0.0), |(a, b, x), r| {
        (
            a + r.tokens_in.unwrap_or(0),
            b + r.tokens_out.unwrap_or(0),
            x + r.cost_usd.unwrap_or(0.0),
        )
    });
    let mut lines = vec![Line::styled(
        format!(
            "{:<24} {:>7} {:>7} {:>8} {:>7} {:>8}",
            "model", "in", "out", "latency", "ttft", "cost"
        ),
        look.theme.muted,
    )];
    for (i, r) in c.calls.iter().enumerate() {
        let style = if i == c.selected {
            look.theme.selection
        } else {
            look.theme.text
        };
        lines.push(Line::styled(
            format!(
                "{:<24} {:>7} {:>7} {:>6}ms {:>5}ms {:>8}{}",
                clip(&r.model, 24),
                opt(r.tokens_in),
                opt(r.tokens_out),
                opt(r.latency_ms),
                opt(r.ttft_ms),
                r.cost_usd
                    .map_or_else(|| "-".into(), |v| format!("${v:.4}")),
                if r.cache_hit { " cached" } else { "" }
            ),
            style,
        ));
    }
    lines.push(Line::styled(
        format!("run total: {tin} in, {tout} out, ${cost:.4}"),
        look.theme.accent,
    ));
    let days: Vec<String> = c
        .days
        .iter()
        .rev()
        .take(3)
        .map(|d| format!("day {}: {} calls ${:.2}", d.day, d.calls, d.cost_usd))
        .collect();
    if !days.is_empty() {
        lines.push(Line::styled(days.join("  "), look.theme.muted));
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.focus)
                .title(" 7 Model calls "),
        ),
        list,
    );
    let body = match c.calls.get(c.selected) {
        Some(r) => {
            let mut lines = vec![Line::styled("prompt", look.theme.accent)];
            lines.extend(
                prompt_text(&r.messages_json)
                    .lines()
                    .map(|l| Line::styled(inert(l).into_owned(), look.theme.text)),
            );
            lines.push(Line::styled("response", look.theme.accent));
            lines.extend(
                r.response
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .map(|l| Line::styled(inert(l).into_owned(), look.theme.text)),
            );
            lines
        }
        None => vec![Line::styled("no model calls in this run", look.theme.muted)],
    };
    frame.render_widget(
        Paragraph::new(body).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.border)
                .title(Span::raw(" call ")),
        ),
        detail,
    );
}

/// The messages as `role: content` lines (the raw JSON when it is not a message list).
fn prompt_text(json: &str) -> String {
    let Ok(serde_json::Value::Array(messages)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return json.to_string();
    };
    messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(|r| r.as_str()).unwrap_or("?");
            let content = m.get("content").map_or(String::new(), |c| {
                c.as_str().map_or_else(|| c.to_string(), str::to_string)
            });
            format!("{role}: {content}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
