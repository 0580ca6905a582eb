//! The frame around the views: tabs, status/prompt line, key line, help, request editor and the
//! export confirmation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::Look;
use crate::tui::prompt::Prompt;
use crate::tui::state::{ExportConfirm, UiState, ViewId};

pub(super) fn tabs(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let mut spans = vec![Span::styled(" kiln ", look.theme.accent)];
    for (i, view) in ViewId::ALL.iter().enumerate() {
        let style = if *view == state.view {
            look.theme.selection
        } else {
            look.theme.muted
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, view.title()), style));
    }
    if state.is_busy() {
        spans.push(Span::styled(
            format!(
                " {}",
                look.symbols.spinner[state.tick % look.symbols.spinner.len()]
            ),
            look.theme.running,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub(super) fn status(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let line = match (&state.prompt, &state.notice) {
        (Some(p), _) if !p.is_multiline() => Line::from(vec![
            Span::styled(p.label(), look.theme.accent),
            Span::styled(p.text.clone(), look.theme.text),
            Span::styled("_", look.theme.muted),
        ]),
        (_, Some(n)) => Line::styled(
            crate::tui::render::clip(&n.text, area.width as usize),
            if n.error {
                look.theme.error
            } else {
                look.theme.ok
            },
        ),
        _ => Line::default(),
    };
    frame.render_widget(Paragraph::new(line), area);
}

pub(super) fn keys(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let mut spans = Vec::new();
    let hints = if state.prompt.is_some() {
        let submit = if state.prompt.as_ref().is_some_and(Prompt::is_multiline) {
            "ctrl-s"
        } else {
            "enter"
        };
        vec![(submit.to_string(), "submit"), ("esc".into(), "cancel")]
    } else {
        look.keymap.hints(state.view)
    };
    for (key, name) in hints {
        spans.push(Span::styled(key, look.theme.accent));
        spans.push(Span::styled(format!(" {name}  "), look.theme.muted));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn overlay(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn help(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let lines: Vec<Line<'_>> = look
        .keymap
        .help(state.view)
        .into_iter()
        .map(|(keys, action)| {
            Line::from(vec![
                Span::styled(format!("{keys:>14} "), look.theme.accent),
                Span::styled(format!("{:<14} ", action.as_str()), look.theme.text),
                Span::styled(action.help(), look.theme.muted),
            ])
        })
        .collect();
    let rect = overlay(area, 78, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.focus)
                .title(format!(" keys: {} (any key closes) ", state.view.title())),
        ),
        rect,
    );
}

pub(super) fn request(prompt: &Prompt, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let rect = overlay(area, 72, 12);
    frame.render_widget(Clear, rect);
    let mut lines: Vec<Line<'_>> = prompt
        .text
        .split('\n')
        .map(|l| Line::styled(l.to_string(), look.theme.text))
        .collect();
    if let Some(last) = lines.last_mut()
        && !prompt.on_language
    {
        last.spans.push(Span::styled("_", look.theme.muted));
    }
    lines.push(Line::default());
    let lang_style = if prompt.on_language {
        look.theme.selection
    } else {
        look.theme.muted
    };
    let lang = if prompt.language.is_empty() && !prompt.on_language {
        "(detect)".to_string()
    } else {
        prompt.language.clone()
    };
    lines.push(Line::from(vec![
        Span::styled("language: ", look.theme.muted),
        Span::styled(lang, lang_style),
    ]));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.focus)
                .title(" new request (enter: new line, tab: language, ctrl-s: start) "),
        ),
        rect,
    );
}

pub(super) fn export(export: &ExportConfirm, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let rect = overlay(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, rect);
    let mut lines = Vec::new();
    for f in &export.files {
        lines.push(Line::styled(
            format!("{:?} {}", f.change, kiln::engine::untrusted::inert(&f.path)).to_lowercase(),
            look.theme.accent.add_modifier(Modifier::BOLD),
        ));
        for d in f.diff.lines() {
            let style = if d.starts_with('+') {
                look.theme.ok
            } else if d.starts_with('-') {
                look.theme.error
            } else {
                look.theme.text
            };
            lines.push(Line::styled(
                kiln::engine::untrusted::inert(d).into_owned(),
                style,
            ));
        }
    }
    let lines: Vec<Line<'_>> = lines.into_iter().skip(export.scroll).collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(look.theme.warn)
                .title(format!(
                    " export run {}: y writes these files, any other key cancels ",
                    export.run
                )),
        ),
        rect,
    );
}
