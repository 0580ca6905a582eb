//! The log view: the loaded page, search hits highlighted, the filter's hidden count, and a
//! scrollbar that marks errors (left of the thumb) and hits over the whole log.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::Look;
use crate::tui::ansi;
use crate::tui::logs::compile;
use crate::tui::state::UiState;
use kiln::engine::store::{LogLevel, LogStream};

pub(super) fn render(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let logs = &state.logs;
    let mut title = format!(" 4 Logs: {} ", kiln::engine::untrusted::inert(&logs.title));
    let _ = write!(title, "{} lines", logs.total);
    if logs.filter.is_active() {
        let mut what = Vec::new();
        if let Some(p) = &logs.filter.pattern {
            what.push(format!(
                "{}{}",
                if logs.filter.inverse { "!" } else { "" },
                p
            ));
        }
        if let Some((_, s)) = &logs.filter.stage {
            what.push(format!("stage {s}"));
        }
        if let Some(s) = logs.filter.stream {
            what.push(format!("stream {s}"));
        }
        if let Some(l) = logs.filter.level {
            what.push(format!("level {l}+"));
        }
        let _ = write!(
            title,
            ", filter {} ({} hidden)",
            what.join(" "),
            logs.hidden()
        );
    }
    if let Some(s) = &logs.search {
        let state_text = if s.done { "" } else { "searching… " };
        let _ = write!(title, ", /{} {state_text}{} hits", s.query, s.hits.len());
    }
    if let Some((a, b)) = logs.selection() {
        let _ = write!(title, ", {} selected", b - a + 1);
    }
    if logs.follow {
        let _ = write!(title, " {} follow", look.symbols.follow);
    }
    title.push(' ');
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(look.theme.focus)
        .title(Span::styled(title, look.theme.accent));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text_area, bar] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let hit_re = logs
        .search
        .as_ref()
        .filter(|s| !s.query.is_empty())
        .map(|s| compile(&s.query));
    let lines: Vec<Line<'_>> = logs
        .page
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let base = match (l.level, l.stream) {
                (LogLevel::Error, _) => look.theme.error,
                (LogLevel::Warn, _) => look.theme.warn,
                (_, LogStream::Kiln) => look.theme.muted,
                _ => look.theme.text,
            };
            let row = logs.top + i as i64;
            let in_selection = logs
                .selection()
                .is_some_and(|(a, b)| (a..=b).contains(&row));
            let selected = row == logs.cursor || in_selection;
            let mut line = ansi::line(&l.text, base);
            if in_selection {
                line = line.patch_style(look.theme.selection);
            }
            if let Some(re) = &hit_re {
                line = highlight(line, re, look.theme.hit);
            }
            let mut spans = vec![Span::styled(
                format!("{:>7} ", l.seq + 1),
                if selected {
                    look.theme.selection
                } else {
                    look.theme.muted
                },
            )];
            spans.extend(line.spans);
            Line::from(spans)
        })
        .collect();
    let mut para = Paragraph::new(lines);
    if logs.wrap {
        para = para.wrap(Wrap { trim: false });
    }
    frame.render_widget(para, text_area);
    scrollbar(state, look, frame, bar);
}

/// Marks the matches of `re` in `line` with `hit` (over the line's own styles).
fn highlight(line: Line<'static>, re: &regex::Regex, hit: Style) -> Line<'static> {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let ranges: Vec<(usize, usize)> = re.find_iter(&text).map(|m| (m.start(), m.end())).collect();
    if ranges.is_empty() {
        return line;
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for span in line.spans {
        let content = span.content.to_string();
        let (start, end) = (offset, offset + content.len());
        offset = end;
        let mut cut = start;
        for &(a, b) in ranges.iter().filter(|(a, b)| *b > start && *a < end) {
            let (a, b) = (a.max(start), b.min(end));
            if a > cut {
                out.push(Span::styled(
                    content[cut - start..a - start].to_string(),
                    span.style,
                ));
            }
            out.push(Span::styled(
                content[a - start..b - start].to_string(),
                span.style.patch(hit),
            ));
            cut = b;
        }
        if cut < end {
            out.push(Span::styled(content[cut - start..].to_string(), span.style));
        }
    }
    Line::from(out)
}

fn scrollbar(state: &UiState, look: &Look<'_>, frame: &mut Frame<'_>, area: Rect) {
    let logs = &state.logs;
    let h = i64::from(area.height);
    let rows = logs.rows().max(1);
    if h == 0 {
        return;
    }
    let cell = |row: i64| ((row * h) / rows).clamp(0, h - 1);
    let mut marks = vec![(look.symbols.track, look.theme.border); h as usize];
    let thumb_a = cell(logs.top);
    let thumb_b = cell((logs.top + logs.height as i64 - 1).min(rows - 1));
    for m in marks
        .iter_mut()
        .take(thumb_b as usize + 1)
        .skip(thumb_a as usize)
    {
        *m = (look.symbols.thumb, look.theme.accent);
    }
    if let Some(s) = &logs.search {
        for &seq in &s.hits {
            marks[cell(logs.row_of_seq(seq)) as usize] = (look.symbols.hit_mark, look.theme.warn);
        }
    }
    for &seq in &logs.errors.hits {
        marks[cell(logs.row_of_seq(seq)) as usize] = (look.symbols.error_mark, look.theme.error);
    }
    let lines: Vec<Line<'_>> = marks
        .into_iter()
        .map(|(s, st)| Line::styled(s, st))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
