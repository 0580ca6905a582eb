//! `render(&UiState, frame)`: reads the state, never changes it. The frame is the tab line, the
//! focused view, an optional prompt or notice, and the context key line; help and the export
//! confirmation draw over it. Below 20×5 it shows only "too small".

mod artifacts;
mod calls;
mod chrome;
mod detail;
mod findings;
mod home;
mod logs;
mod runs;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::keymap::Keymap;
use super::state::{UiState, ViewId};
use super::symbols::Symbols;
use super::theme::Theme;

pub(crate) use home::{TILE_WIDTH, tile_at, window as home_window};

/// What rendering needs besides the state.
pub(crate) struct Look<'a> {
    pub(crate) theme: &'a Theme,
    pub(crate) symbols: &'a Symbols,
    pub(crate) keymap: &'a Keymap,
    /// "now" for ages and durations (fixed in snapshot tests).
    pub(crate) now: i64,
}

pub(crate) const MIN_SIZE: (u16, u16) = (20, 5);

/// Rows of the log viewport for a terminal of `rows` rows (the app tells the state).
pub(crate) fn log_rows(rows: u16) -> usize {
    usize::from(rows.saturating_sub(5)).max(1)
}

pub(crate) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>) {
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        frame.render_widget(
            Paragraph::new(vec![
                Line::from("too small"),
                Line::from(format!("{}x{}", area.width, area.height)),
            ])
            .style(look.theme.warn),
            area,
        );
        return;
    }
    let [tabs, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    chrome::tabs(state, look, frame, tabs);
    view(state, look, frame, body);
    chrome::status(state, look, frame, status);
    chrome::keys(state, look, frame, keys);
    if let Some(prompt) = &state.prompt
        && prompt.is_multiline()
    {
        chrome::request(prompt, look, frame, body);
    }
    if let Some(export) = &state.export {
        chrome::export(export, look, frame, body);
    }
    if state.help {
        chrome::help(state, look, frame, body);
    }
}

fn view(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    match state.view {
        ViewId::Home => home::render(state, look, frame, area),
        ViewId::Runs => runs::render(state, look, frame, area),
        ViewId::Detail => detail::render(state, look, frame, area),
        ViewId::Logs => logs::render(state, look, frame, area),
        ViewId::Artifacts => artifacts::render(state, look, frame, area),
        ViewId::Findings => findings::render(state, look, frame, area),
        ViewId::Calls => calls::render(state, look, frame, area),
    }
}

/// `1.2s`, `3m04s`, `2h05m`, `3d`.
pub(crate) fn duration(micros: i64) -> String {
    let s = micros.max(0) / 1_000_000;
    match s {
        0..60 => format!("{:.1}s", micros.max(0) as f64 / 1e6),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// Cuts `text` to `width` characters, with `…` when cut.
pub(crate) fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}
