//! Between the analysis engine's types and the protocol's, in the negotiated position encoding.
//!
//! Findings carry byte offsets and UTF-16 ranges. With UTF-16 the ranges are used as they are;
//! with UTF-8 a column is the byte distance from the line start, computed from the offsets.

use kiln::engine::analysis::{self, Finding, LineIndex, Severity};
use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticSeverity, NumberOrString, Position, PositionEncodingKind, Range,
};

/// The position encoding agreed in `initialize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Encoding {
    Utf8,
    #[default]
    Utf16,
}

impl Encoding {
    /// UTF-8 when the client offers it, else UTF-16 (which every client must support).
    pub(crate) fn negotiate(offered: Option<&[PositionEncodingKind]>) -> Self {
        if offered.is_some_and(|o| o.contains(&PositionEncodingKind::UTF8)) {
            Self::Utf8
        } else {
            Self::Utf16
        }
    }

    pub(crate) fn kind(self) -> PositionEncodingKind {
        match self {
            Self::Utf8 => PositionEncodingKind::UTF8,
            Self::Utf16 => PositionEncodingKind::UTF16,
        }
    }
}

/// The source name on every analysis diagnostic.
pub(crate) const SOURCE: &str = "kiln";

fn line_start(text: &str, byte: usize) -> usize {
    text[..byte].rfind('\n').map_or(0, |i| i + 1)
}

fn clamp(text: &str, mut byte: usize) -> usize {
    byte = byte.min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    byte
}

/// The protocol position of a byte offset.
pub(crate) fn position(text: &str, byte: usize, enc: Encoding) -> Position {
    let byte = clamp(text, byte);
    let start = line_start(text, byte);
    let line = text[..start].bytes().filter(|&b| b == b'\n').count() as u32;
    let character = match enc {
        Encoding::Utf8 => (byte - start) as u32,
        Encoding::Utf16 => text[start..byte].encode_utf16().count() as u32,
    };
    Position { line, character }
}

/// A byte span as a protocol range, using the known UTF-16 range when that is the encoding.
pub(crate) fn span(
    text: &str,
    start: usize,
    end: usize,
    utf16: analysis::Range,
    enc: Encoding,
) -> Range {
    match enc {
        Encoding::Utf16 => to_range(utf16),
        Encoding::Utf8 => {
            let (s, e) = (clamp(text, start), clamp(text, end));
            let col = |b: usize| (b - line_start(text, b)) as u32;
            Range {
                start: Position {
                    line: utf16.start.line,
                    character: col(s),
                },
                end: Position {
                    line: utf16.end.line,
                    character: col(e),
                },
            }
        }
    }
}

pub(crate) fn to_range(r: analysis::Range) -> Range {
    Range {
        start: Position {
            line: r.start.line,
            character: r.start.character,
        },
        end: Position {
            line: r.end.line,
            character: r.end.character,
        },
    }
}

/// A protocol position in `enc` as the analysis engine's UTF-16 position, against `text` and its
/// line index (used to convert UTF-8 edits before they reach the document).
pub(crate) fn to_utf16(
    text: &str,
    lines: &LineIndex,
    pos: Position,
    enc: Encoding,
) -> analysis::Position {
    let utf16 = analysis::Position {
        line: pos.line,
        character: pos.character,
    };
    if enc == Encoding::Utf16 {
        return utf16;
    }
    let line = pos.line as usize;
    if line >= lines.line_count() {
        return utf16;
    }
    let (s, e) = lines.line_span(text, line);
    let byte = clamp(text, (s + pos.character as usize).min(e));
    lines.position(text, byte)
}

/// The byte offset of a protocol position (clamped to its line).
#[cfg(test)]
pub(crate) fn offset(text: &str, lines: &LineIndex, pos: Position, enc: Encoding) -> usize {
    let p = to_utf16(text, lines, pos, enc);
    lines.offset(text, p).unwrap_or(text.len())
}

fn severity(s: Severity) -> DiagnosticSeverity {
    match s {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

/// One finding as a diagnostic.
pub(crate) fn diagnostic(text: &str, f: &Finding, enc: Encoding) -> Diagnostic {
    Diagnostic {
        range: span(text, f.start, f.end, f.range, enc),
        severity: Some(severity(f.severity)),
        code: Some(NumberOrString::String(f.rule.clone())),
        source: Some(SOURCE.into()),
        message: f.message.clone(),
        ..Diagnostic::default()
    }
}

/// One edit turning `old` into `new`: the span between their common prefix and suffix (on char
/// boundaries); `None` when they are equal.
pub(crate) fn diff_edit(
    old: &str,
    new: &str,
    enc: Encoding,
) -> Option<tower_lsp_server::ls_types::TextEdit> {
    if old == new {
        return None;
    }
    let mut prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let max_suffix = old.len().min(new.len()) - prefix;
    let mut suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(old.len() - suffix) || !new.is_char_boundary(new.len() - suffix) {
        suffix -= 1;
    }
    Some(tower_lsp_server::ls_types::TextEdit {
        range: Range {
            start: position(old, prefix, enc),
            end: position(old, old.len() - suffix, enc),
        },
        new_text: new[prefix..new.len() - suffix].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_both_encodings() {
        let text = "aé🎉x\nb";
        let byte = text.find('x').unwrap();
        assert_eq!(position(text, byte, Encoding::Utf8), Position::new(0, 7));
        assert_eq!(position(text, byte, Encoding::Utf16), Position::new(0, 4));
        let lines = LineIndex::new(text);
        assert_eq!(
            offset(text, &lines, Position::new(0, 7), Encoding::Utf8),
            byte
        );
        assert_eq!(
            offset(text, &lines, Position::new(0, 4), Encoding::Utf16),
            byte
        );
        assert_eq!(
            offset(text, &lines, Position::new(1, 9), Encoding::Utf8),
            text.len()
        );
    }

    #[test]
    fn diff_edits() {
        let e = diff_edit("a = 1\nb = 2\n", "a = 1\nb = 3\n", Encoding::Utf16).unwrap();
        assert_eq!(
            (e.range.start, e.range.end, e.new_text.as_str()),
            (Position::new(1, 4), Position::new(1, 5), "3")
        );
        let e = diff_edit("é", "è", Encoding::Utf8).unwrap();
        assert_eq!(
            (e.range.start, e.range.end, e.new_text.as_str()),
            (Position::new(0, 0), Position::new(0, 2), "è")
        );
        assert!(diff_edit("x", "x", Encoding::Utf8).is_none());
    }
}
