//! Text input: the one-line prompts (`/` search, `&` filter, `:` command, a comment) and the
//! multi-line new-request editor with its language field. Plain data edited by `update`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kiln::engine::store::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PromptKind {
    Search,
    Filter,
    Command,
    /// A comment for a verdict on a run.
    Comment(Verdict, i64),
    /// A new request for a project (`None`: outside any project).
    Request(Option<i64>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    pub(crate) kind: PromptKind,
    /// The text, lines separated by `\n` (only a request has more than one).
    pub(crate) text: String,
    /// Byte offset of the cursor in `text`.
    pub(crate) cursor: usize,
    /// The request's language field (empty: detect).
    pub(crate) language: String,
    /// Whether the language field has the focus.
    pub(crate) on_language: bool,
}

/// What a key did to a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edit {
    Changed,
    Submit,
    Cancel,
}

impl Prompt {
    pub(crate) fn new(kind: PromptKind) -> Self {
        Self {
            kind,
            text: String::new(),
            cursor: 0,
            language: String::new(),
            on_language: false,
        }
    }

    pub(crate) fn is_multiline(&self) -> bool {
        matches!(self.kind, PromptKind::Request(_))
    }

    pub(crate) fn label(&self) -> &'static str {
        match self.kind {
            PromptKind::Search => "/",
            PromptKind::Filter => "&",
            PromptKind::Command => ":",
            PromptKind::Comment(Verdict::Accept, _) => "accept, comment: ",
            PromptKind::Comment(Verdict::Reject, _) => "reject, comment: ",
            PromptKind::Request(_) => "request",
        }
    }

    /// Applies a key. Enter submits a one-line prompt; in a request Enter is a new line and
    /// ctrl-s (or alt-enter) submits, tab switches to the language field.
    pub(crate) fn key(&mut self, key: &KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Esc => return Edit::Cancel,
            KeyCode::Char('c') if ctrl => return Edit::Cancel,
            KeyCode::Char('s') if ctrl => return Edit::Submit,
            KeyCode::Enter if !self.is_multiline() || alt || self.on_language => {
                return Edit::Submit;
            }
            KeyCode::Tab if self.is_multiline() => self.on_language = !self.on_language,
            _ if self.on_language => match key.code {
                KeyCode::Char(c) if !ctrl => self.language.push(c),
                KeyCode::Backspace => {
                    self.language.pop();
                }
                _ => {}
            },
            KeyCode::Enter => self.insert('\n'),
            KeyCode::Char(c) if !ctrl => self.insert(c),
            KeyCode::Backspace => {
                if let Some(c) = self.text[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                    self.text.remove(self.cursor);
                }
            }
            KeyCode::Left => {
                if let Some(c) = self.text[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                }
            }
            KeyCode::Right => {
                if let Some(c) = self.text[self.cursor..].chars().next() {
                    self.cursor += c.len_utf8();
                }
            }
            KeyCode::Home => {
                self.cursor = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
            }
            KeyCode::End => {
                self.cursor += self.text[self.cursor..]
                    .find('\n')
                    .unwrap_or(self.text.len() - self.cursor);
            }
            _ => {}
        }
        Edit::Changed
    }

    fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn request_is_multiline_with_a_language_field() {
        let mut p = Prompt::new(PromptKind::Request(Some(1)));
        for c in "ab".chars() {
            p.key(&key(KeyCode::Char(c)));
        }
        assert_eq!(p.key(&key(KeyCode::Enter)), Edit::Changed);
        p.key(&key(KeyCode::Char('é')));
        p.key(&key(KeyCode::Backspace));
        p.key(&key(KeyCode::Char('c')));
        p.key(&key(KeyCode::Tab));
        for c in "rust".chars() {
            p.key(&key(KeyCode::Char(c)));
        }
        assert_eq!(
            p,
            Prompt {
                kind: PromptKind::Request(Some(1)),
                text: "ab\nc".into(),
                cursor: 4,
                language: "rust".into(),
                on_language: true,
            }
        );
        assert_eq!(
            p.key(&KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Edit::Submit
        );
    }

    #[test]
    fn one_line_prompt_submits_on_enter() {
        let mut p = Prompt::new(PromptKind::Search);
        p.key(&key(KeyCode::Char('x')));
        assert_eq!(p.key(&key(KeyCode::Enter)), Edit::Submit);
        assert_eq!(p.key(&key(KeyCode::Esc)), Edit::Cancel);
    }
}
