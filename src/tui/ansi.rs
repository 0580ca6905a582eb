//! Untrusted program output to styled text: SGR colour sequences become styles, every other
//! control or escape sequence is shown inert (via `engine::untrusted`), so nothing a sandboxed
//! program prints can reach the terminal as a command (OSC 52, titles, cursor moves, screens).

use kiln::engine::untrusted::{inert, sgr_len};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// One line of output as spans over `base`.
pub(crate) fn line(text: &str, base: Style) -> Line<'static> {
    let mut spans = Vec::new();
    let mut style = base;
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        if at > 0 {
            spans.push(Span::styled(inert(&rest[..at]).into_owned(), style));
        }
        let tail = &rest[at..];
        if let Some(len) = sgr_len(tail) {
            style = apply_sgr(style, base, &tail[2..len - 1]);
            rest = &tail[len..];
        } else {
            spans.push(Span::styled("␛", style));
            rest = &tail[1..];
        }
    }
    if !rest.is_empty() {
        spans.push(Span::styled(inert(rest).into_owned(), style));
    }
    Line::from(spans)
}

fn basic(n: u16, bright: bool) -> Color {
    match (n, bright) {
        (0, false) => Color::Black,
        (1, false) => Color::Red,
        (2, false) => Color::Green,
        (3, false) => Color::Yellow,
        (4, false) => Color::Blue,
        (5, false) => Color::Magenta,
        (6, false) => Color::Cyan,
        (7, false) => Color::Gray,
        (0, true) => Color::DarkGray,
        (1, true) => Color::LightRed,
        (2, true) => Color::LightGreen,
        (3, true) => Color::LightYellow,
        (4, true) => Color::LightBlue,
        (5, true) => Color::LightMagenta,
        (6, true) => Color::LightCyan,
        _ => Color::White,
    }
}

#[allow(clippy::many_single_char_names)] // r, g, b and the SGR parameter n
fn apply_sgr(mut style: Style, base: Style, params: &str) -> Style {
    let nums: Vec<u16> = params
        .split([';', ':'])
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let mut i = 0;
    while i < nums.len() {
        let n = nums[i];
        style = match n {
            0 => base,
            1 => style.add_modifier(Modifier::BOLD),
            2 => style.add_modifier(Modifier::DIM),
            3 => style.add_modifier(Modifier::ITALIC),
            4 => style.add_modifier(Modifier::UNDERLINED),
            7 => style.add_modifier(Modifier::REVERSED),
            9 => style.add_modifier(Modifier::CROSSED_OUT),
            22 => style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style.remove_modifier(Modifier::ITALIC),
            24 => style.remove_modifier(Modifier::UNDERLINED),
            27 => style.remove_modifier(Modifier::REVERSED),
            30..=37 => style.fg(basic(n - 30, false)),
            39 => Style {
                fg: base.fg,
                ..style
            },
            40..=47 => style.bg(basic(n - 40, false)),
            49 => Style {
                bg: base.bg,
                ..style
            },
            90..=97 => style.fg(basic(n - 90, true)),
            100..=107 => style.bg(basic(n - 100, true)),
            38 | 48 => {
                let color = match nums.get(i + 1) {
                    Some(5) => {
                        i += 2;
                        nums.get(i).map(|&c| Color::Indexed(c as u8))
                    }
                    Some(2) => {
                        i += 4;
                        match (nums.get(i - 2), nums.get(i - 1), nums.get(i)) {
                            (Some(&r), Some(&g), Some(&b)) => {
                                Some(Color::Rgb(r as u8, g as u8, b as u8))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                match (color, n) {
                    (Some(c), 38) => style.fg(c),
                    (Some(c), _) => style.bg(c),
                    (None, _) => style,
                }
            }
            _ => style,
        };
        i += 1;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn sgr_becomes_style() {
        let l = line("a\x1b[1;31mred\x1b[0m b", Style::new());
        assert_eq!(text(&l), "ared b");
        assert_eq!(
            l.spans[1].style,
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        );
        assert_eq!(l.spans[2].style, Style::new());
        let l = line("\x1b[38;2;1;2;3mx", Style::new());
        assert_eq!(l.spans[0].style.fg, Some(Color::Rgb(1, 2, 3)));
    }

    #[test]
    fn every_other_sequence_is_inert() {
        let hostile = "\x1b]52;c;aGVsbG8=\x07\x1b]0;title\x07\x1b[2J\x1b[H\x1b[?1049h\x1b[5Aend\r";
        let l = line(hostile, Style::new());
        let shown = text(&l);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "␛]52;c;aGVsbG8=␇␛]0;title␇␛[2J␛[H␛[?1049h␛[5Aend␍");
    }
}
