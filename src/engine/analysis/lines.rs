//! Byte offsets to LSP positions (0-based line, UTF-16 column) and back.

use super::finding::Position;

/// Line starts of one text.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            starts,
            len: text.len(),
        }
    }

    /// Updates the index for `text[start..old_end]` replaced by `inserted` (already applied to
    /// the text, whose new length is `new_len`).
    pub fn edit(&mut self, start: usize, old_end: usize, inserted: &str, new_len: usize) {
        let first = self.starts.partition_point(|&s| s <= start);
        let last = self.starts.partition_point(|&s| s <= old_end);
        let delta = inserted.len() as isize - (old_end - start) as isize;
        let new_starts = inserted
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| start + i + 1);
        let tail: Vec<usize> = self.starts[last..]
            .iter()
            .map(|&s| s.saturating_add_signed(delta))
            .collect();
        self.starts.truncate(first);
        self.starts.extend(new_starts);
        self.starts.extend(tail);
        self.len = new_len;
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// The 0-based line of a byte offset.
    pub fn line_of(&self, byte: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= byte)
            .saturating_sub(1)
    }

    pub fn line_start(&self, line: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(self.len)
    }

    /// The byte range of a line without its newline.
    pub fn line_span(&self, text: &str, line: usize) -> (usize, usize) {
        let start = self.line_start(line);
        let mut end = self.starts.get(line + 1).map_or(self.len, |&s| s - 1);
        if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        (start, end.max(start))
    }

    /// The LSP position of a byte offset (clamped to the text, moved back to a char boundary).
    pub fn position(&self, text: &str, byte: usize) -> Position {
        let mut byte = byte.min(text.len());
        while !text.is_char_boundary(byte) {
            byte -= 1;
        }
        let line = self.line_of(byte);
        let start = self.line_start(line);
        let slice = &text[start..byte];
        let character = if slice.is_ascii() {
            slice.len()
        } else {
            slice.encode_utf16().count()
        };
        Position {
            line: line as u32,
            character: character as u32,
        }
    }

    /// The byte offset of an LSP position; `None` when the line is past the end. A column past
    /// the end of its line clamps to the line end, as the LSP specifies.
    pub fn offset(&self, text: &str, pos: Position) -> Option<usize> {
        let line = pos.line as usize;
        if line >= self.starts.len() {
            return (line == self.starts.len() && pos.character == 0).then_some(self.len);
        }
        let (start, end) = self.line_span(text, line);
        let mut units = 0u32;
        for (i, ch) in text[start..end].char_indices() {
            if units >= pos.character {
                return Some(start + i);
            }
            units += ch.len_utf16() as u32;
        }
        Some(end)
    }
}
