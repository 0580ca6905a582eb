//! Artifacts: the files of each attempt as a tree (path, then versions), the selected version
//! highlighted with syntect in the theme's syntax theme, or its diff against the previous
//! version (the improve loop) or against the project's file on disk.

use std::sync::OnceLock;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use syntect::easy::HighlightLines;
use syntect::highlighting::ThemeSet;
use syntect::parsing::SyntaxSet;

use super::{Look, clip};
use crate::tui::state::{ArtifactMode, UiState};

fn syntaxes() -> &'static (SyntaxSet, ThemeSet) {
    static SETS: OnceLock<(SyntaxSet, ThemeSet)> = OnceLock::new();
    SETS.get_or_init(|| {
        (
            SyntaxSet::load_defaults_newlines(),
            ThemeSet::load_defaults(),
        )
    })
}

pub(super) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let a = &state.artifacts;
    let [tree, body] = Layout::horizontal([
        Constraint::Length(30.min(area.width / 3)),
        Constraint::Min(1),
    ])
    .areas(area);
    let mut lines = Vec::new();
    let mut last_path = "";
    for (i, f) in a.files.iter().enumerate() {
        if f.path != last_path {
            lines.push(Line::styled(
                clip(
                    &kiln::engine::untrusted::inert(&f.path),
                    tree.width as usize - 2,
                ),
                look.theme.accent,
            ));
            last_path = &f.path;
        }
        let style = if i == a.selected {
            look.theme.selection
        } else {
            look.theme.text
        };
        lines.push(Line::styled(format!("  v{} {}B", f.version, f.size), style));
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.border)
                .title(" 5 Files "),
        ),
        tree,
    );
    let Some(file) = a.files.get(a.selected) else {
        frame.render_widget(
            Paragraph::new("no artifacts in this run").style(look.theme.muted),
            body,
        );
        return;
    };
    let content = String::from_utf8_lossy(&file.content).into_owned();
    let (title, lines) = match a.mode {
        ArtifactMode::Content => (
            format!(" {} v{} ", file.path, file.version),
            highlighted(&content, &file.path, look, a.jump_line),
        ),
        ArtifactMode::DiffPrev => {
            let prev = a
                .files
                .iter()
                .filter(|f| f.path == file.path && f.version < file.version)
                .max_by_key(|f| f.version);
            let old = prev
                .map(|p| String::from_utf8_lossy(&p.content).into_owned())
                .unwrap_or_default();
            (
                format!(
                    " {} v{} vs v{} ",
                    file.path,
                    prev.map_or(0, |p| p.version),
                    file.version
                ),
                diff(&old, &content, look),
            )
        }
        ArtifactMode::DiffProject => {
            let on_disk = a
                .project_root
                .as_ref()
                .and_then(|r| std::fs::read_to_string(r.join(&file.path)).ok())
                .unwrap_or_default();
            (
                format!(" project's {} vs v{} ", file.path, file.version),
                diff(&on_disk, &content, look),
            )
        }
    };
    let lines: Vec<Line<'_>> = lines.into_iter().skip(a.scroll).collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.focus)
                .title(Span::styled(
                    kiln::engine::untrusted::inert(&title).into_owned(),
                    look.theme.accent,
                )),
        ),
        body,
    );
}

fn highlighted(
    content: &str,
    path: &str,
    look: &Look<'_>,
    mark: Option<usize>,
) -> Vec<Line<'static>> {
    let (syntax_set, themes) = syntaxes();
    let ext = path.rsplit('.').next().unwrap_or("");
    let syntax = syntax_set.find_syntax_by_extension(ext);
    let theme = themes.themes.get(&look.theme.syntax);
    let truecolor = matches!(look.theme.text.fg, Some(Color::Rgb(..)));
    let mut out = Vec::new();
    let mut hl = match (syntax, theme) {
        (Some(s), Some(t)) => Some(HighlightLines::new(s, t)),
        _ => None,
    };
    for (i, line) in syntect::util::LinesWithEndings::from(content).enumerate() {
        let number = Span::styled(
            format!("{:>4} ", i + 1),
            if mark == Some(i) {
                look.theme.selection
            } else {
                look.theme.muted
            },
        );
        let mut spans = vec![number];
        match hl
            .as_mut()
            .and_then(|h| h.highlight_line(line, syntax_set).ok())
        {
            Some(regions) => {
                for (style, text) in regions {
                    let c = style.foreground;
                    // Named colours unless the terminal has truecolor: syntect's theme colours
                    // are RGB, so only the token boundaries survive on a 16-colour terminal.
                    let st = if truecolor {
                        Style::new().fg(Color::Rgb(c.r, c.g, c.b))
                    } else {
                        named(c.r, c.g, c.b, look)
                    };
                    spans.push(Span::styled(
                        kiln::engine::untrusted::inert(text.trim_end_matches('\n')).into_owned(),
                        st,
                    ));
                }
            }
            None => spans.push(Span::styled(
                kiln::engine::untrusted::inert(line.trim_end_matches('\n')).into_owned(),
                look.theme.text,
            )),
        }
        out.push(Line::from(spans));
    }
    out
}

/// The theme role closest to an RGB token colour (keeps 16-colour terminals readable).
fn named(r: u8, g: u8, b: u8, look: &Look<'_>) -> Style {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    if (r - g).abs() < 24 && (g - b).abs() < 24 {
        look.theme.text
    } else if r > g && r > b {
        look.theme.error
    } else if g > r && g > b {
        look.theme.ok
    } else if b > r && b > g {
        look.theme.running
    } else if r > b {
        look.theme.warn
    } else {
        look.theme.accent
    }
}

fn diff(old: &str, new: &str, look: &Look<'_>) -> Vec<Line<'static>> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(3) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", look.theme.error),
                    similar::ChangeTag::Insert => ("+", look.theme.ok),
                    similar::ChangeTag::Equal => (" ", look.theme.text),
                };
                let text = change.to_string_lossy();
                out.push(Line::styled(
                    format!(
                        "{sign}{}",
                        kiln::engine::untrusted::inert(text.trim_end_matches('\n'))
                    ),
                    style,
                ));
            }
        }
    }
    if out.is_empty() {
        out.push(Line::styled("no differences", look.theme.muted));
    }
    out
}
