//! Suppression comments: `# kiln: ignore[PY101, PY102]` (or `// ...`) at the end of a line or
//! on the line just above silences those rules there; `kiln: ignore` without a list silences
//! every rule. `kiln: ignore-file[...]` anywhere in a comment line silences a file.

use super::language::Language;
use super::lines::LineIndex;

const MARK: &str = "kiln: ignore";

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Suppressions {
    /// `None` when the whole file is ignored; otherwise the rule ids ignored file-wide.
    file: Option<Vec<String>>,
    all_file: bool,
}

/// The rule list after a marker: `None` for no list (every rule).
fn rule_list(after: &str) -> Option<Vec<String>> {
    let rest = after.strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(
        rest[..end]
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

fn covers(list: Option<&Vec<String>>, id: &str) -> bool {
    list.is_none_or(|l| l.iter().any(|r| r == id || id.starts_with(r.as_str())))
}

impl Suppressions {
    pub(crate) fn scan(text: &str, lang: Language) -> Self {
        let marker = format!("{MARK}-file");
        let mut out = Self::default();
        let mut from = 0;
        while let Some(i) = text[from..].find(&marker) {
            let at = from + i;
            from = at + marker.len();
            let line_start = text[..at].rfind('\n').map_or(0, |p| p + 1);
            if !text[line_start..at].contains(lang.comment_marker()) {
                continue;
            }
            match rule_list(&text[from..]) {
                None => out.all_file = true,
                Some(l) => out.file.get_or_insert_with(Vec::new).extend(l),
            }
        }
        out
    }

    pub(crate) fn file_ignores(&self, id: &str) -> bool {
        self.all_file || self.file.as_ref().is_some_and(|l| covers(Some(l), id))
    }

    /// Whether a marker on `line` (or alone on the line above) silences `id`.
    pub(crate) fn line_ignores(
        text: &str,
        lines: &LineIndex,
        line: usize,
        id: &str,
        lang: Language,
    ) -> bool {
        let check = |l: usize, alone: bool| {
            let (s, e) = lines.line_span(text, l);
            let src = &text[s..e];
            let Some(c) = src.find(lang.comment_marker()) else {
                return false;
            };
            if alone && !src[..c].trim().is_empty() {
                return false;
            }
            let comment = &src[c..];
            let Some(m) = comment.find(MARK) else {
                return false;
            };
            let after = &comment[m + MARK.len()..];
            if after.starts_with("-file") {
                return false;
            }
            covers(rule_list(after).as_ref(), id)
        };
        check(line, false) || (line > 0 && check(line - 1, true))
    }
}
