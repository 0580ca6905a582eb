//! Home: one tile per project (runs, failed, last status and age, 14-day spend sparkline),
//! "other runs" for runs outside any project, or the first-run screen on an empty database.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Look, clip, duration};
use crate::tui::state::UiState;

pub(crate) const TILE_WIDTH: u16 = 38;
const TILE_HEIGHT: u16 = 6;

/// How many tiles a terminal of `size` shows at once (the first frame reads only these).
pub(crate) fn window(size: (u16, u16)) -> usize {
    let body = size.1.saturating_sub(3);
    usize::from((size.0 / TILE_WIDTH).max(1)) * usize::from((body / TILE_HEIGHT).max(1))
}

/// The first row of tiles shown, so the selected tile is on screen (render and clicks agree).
fn first_row(state: &UiState, per_row: u16, rows_fit: u16) -> u16 {
    let selected_row = state.home.selected as u16 / per_row;
    selected_row.saturating_sub(rows_fit - 1)
}

/// The tile under body cell (`x`, `y`) (0-based within the body), if any.
pub(crate) fn tile_at(state: &UiState, x: u16, y: u16) -> Option<usize> {
    let body = Rect::new(0, 0, state.size.0, state.size.1.saturating_sub(3));
    let per_row = (body.width / TILE_WIDTH).max(1);
    let rows_fit = (body.height / TILE_HEIGHT).max(1);
    let (col, row) = (x / TILE_WIDTH, y / TILE_HEIGHT);
    if col >= per_row || row >= rows_fit {
        return None;
    }
    let i = usize::from((first_row(state, per_row, rows_fit) + row) * per_row + col);
    (i < state.home.tiles.len()).then_some(i)
}

pub(super) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    if state.home.tiles.is_empty() {
        return first_run(state, look, frame, area);
    }
    let per_row = (area.width / TILE_WIDTH).max(1);
    let rows_fit = (area.height / TILE_HEIGHT).max(1);
    let first_row = first_row(state, per_row, rows_fit);
    for (i, tile) in state.home.tiles.iter().enumerate() {
        let (row, col) = (i as u16 / per_row, i as u16 % per_row);
        if row < first_row || row >= first_row + rows_fit {
            continue;
        }
        let rect = Rect {
            x: area.x + col * TILE_WIDTH,
            y: area.y + (row - first_row) * TILE_HEIGHT,
            width: TILE_WIDTH.min(area.width),
            height: TILE_HEIGHT.min(area.height),
        };
        let border = if i == state.home.selected {
            look.theme.focus
        } else {
            look.theme.border
        };
        let inner = (TILE_WIDTH as usize).saturating_sub(4);
        let last = match (tile.last_status, tile.last_at) {
            (Some(s), Some(at)) => Line::from(vec![
                Span::styled(
                    format!("{} {s}", look.symbols.status(s, state.tick)),
                    status_style(look, s),
                ),
                Span::styled(
                    format!(" {} ago", duration(look.now - at)),
                    look.theme.muted,
                ),
            ]),
            _ => Line::styled("no runs yet", look.theme.muted),
        };
        let max = tile.spend.iter().copied().fold(0.0_f64, f64::max);
        let spark: String = tile
            .spend
            .iter()
            .map(|&v| {
                let n = look.symbols.spark.len();
                if max <= 0.0 {
                    look.symbols.spark[0]
                } else {
                    look.symbols.spark[((v / max) * (n - 1) as f64).round() as usize]
                }
            })
            .collect();
        let total: f64 = tile.spend.iter().sum();
        let lines = vec![
            Line::from(vec![
                Span::styled(format!("{} runs", tile.runs), look.theme.text),
                Span::styled(
                    format!("  {} failed", tile.failed),
                    if tile.failed > 0 {
                        look.theme.error
                    } else {
                        look.theme.muted
                    },
                ),
                Span::styled(
                    if tile.running > 0 {
                        format!("  {} running", tile.running)
                    } else {
                        String::new()
                    },
                    look.theme.running,
                ),
            ]),
            last,
            Line::from(vec![
                Span::styled(spark, look.theme.accent),
                Span::styled(format!(" ${total:.2}/14d"), look.theme.muted),
            ]),
            Line::styled(
                clip(
                    &kiln::engine::untrusted::inert(
                        tile.root.as_deref().unwrap_or("runs outside any project"),
                    ),
                    inner,
                ),
                look.theme.muted,
            ),
        ];
        frame.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(border)
                    .title(Span::styled(
                        format!(
                            " {} ",
                            clip(&kiln::engine::untrusted::inert(&tile.name), inner)
                        ),
                        look.theme.accent,
                    )),
            ),
            rect,
        );
    }
}

pub(super) fn status_style(
    look: &Look<'_>,
    s: kiln::engine::store::Status,
) -> ratatui::style::Style {
    use kiln::engine::store::Status as S;
    match s {
        S::Succeeded => look.theme.ok,
        S::Failed => look.theme.error,
        S::Running | S::Queued => look.theme.running,
        S::Cancelled | S::Skipped | S::Interrupted => look.theme.warn,
    }
}

fn first_run(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let cwd = kiln::engine::untrusted::inert(&state.home.cwd.display().to_string()).into_owned();
    let mut lines = vec![
        Line::styled("Welcome to kiln", look.theme.accent),
        Line::default(),
        Line::styled("No projects or runs yet. To begin:", look.theme.text),
        Line::default(),
        Line::from(vec![
            Span::styled("  a ", look.theme.accent),
            Span::styled(
                format!("add this directory as a project: {cwd}"),
                look.theme.text,
            ),
        ]),
    ];
    match &state.home.example {
        Some(path) => lines.push(Line::from(vec![
            Span::styled("  x ", look.theme.accent),
            Span::styled(
                format!(
                    "open the bundled example {} and run it with r (no model needed)",
                    path.display()
                ),
                look.theme.text,
            ),
        ])),
        None => lines.push(Line::styled(
            "  (the bundled examples/tempconv is not in this checkout)",
            look.theme.muted,
        )),
    }
    lines.extend([
        Line::from(vec![
            Span::styled("  n ", look.theme.accent),
            Span::styled(
                "describe what you want built (needs a model)",
                look.theme.text,
            ),
        ]),
        Line::default(),
    ]);
    if state.home.has_model {
        lines.push(Line::styled(
            "A model is configured: `kiln models` lists it.",
            look.theme.ok,
        ));
    } else {
        lines.extend([
            Line::styled(
                "No model is configured: add a [models.named.NAME] entry to",
                look.theme.warn,
            ),
            Line::styled(
                "~/.config/kiln/config.toml with api_key_env naming your key's variable",
                look.theme.muted,
            ),
            Line::styled(
                "(docs/models.md); `kiln models` checks it.",
                look.theme.muted,
            ),
        ]);
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(look.theme.border)
                    .title(" 1 Projects "),
            ),
        area,
    );
}
