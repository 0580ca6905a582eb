//! Fenced code blocks and multi-file answers.
//!
//! A block's path comes from its fence line (```` ```rust src/lib.rs ````, ```` ```src/lib.rs ````,
//! `path=`/`file=`/`title=` attributes) or from the line just before it when that line names a
//! path (a heading, bold text, backticks, or `File: path`). A final fence left open runs to the
//! end of the answer.

use std::path::{Path, PathBuf};

use super::{Error, safe_path};

/// One fenced block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    pub lang: Option<String>,
    pub path: Option<String>,
    pub body: String,
    /// The closing fence was missing.
    pub unterminated: bool,
}

/// A file the model wrote, with its path checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOut {
    /// Relative to the project root, cleaned.
    pub rel: PathBuf,
    /// `root` joined with `rel`.
    pub path: PathBuf,
    pub lang: Option<String>,
    pub content: String,
}

/// Every fenced block in `text`, in order.
pub fn code_blocks(text: &str) -> Vec<CodeBlock> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((fence, info)) = opening(lines[i]) else {
            i += 1;
            continue;
        };
        let (lang, mut path) = parse_info(info);
        if path.is_none() && i > 0 {
            path = path_from_label(lines[i - 1]).or_else(|| {
                // One blank line between the label and the fence is common.
                (i > 1 && lines[i - 1].trim().is_empty())
                    .then(|| path_from_label(lines[i - 2]))
                    .flatten()
            });
        }
        let mut body = Vec::new();
        let mut j = i + 1;
        let mut closed = false;
        while j < lines.len() {
            if is_closing(lines[j], fence) {
                closed = true;
                break;
            }
            body.push(lines[j]);
            j += 1;
        }
        let mut body = body.join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        out.push(CodeBlock {
            lang,
            path,
            body,
            unterminated: !closed,
        });
        i = j + 1;
    }
    out
}

/// The files of a multi-file answer: every block that names a path, checked against `root` and
/// `max_bytes`. A later block for the same path replaces an earlier one.
pub fn files(text: &str, root: &Path, max_bytes: usize) -> Result<Vec<FileOut>, Error> {
    let mut out: Vec<FileOut> = Vec::new();
    for block in code_blocks(text) {
        let Some(rel) = block.path else { continue };
        let path = safe_path(root, &rel)?;
        if block.body.len() > max_bytes {
            return Err(Error::TooLarge {
                path: rel,
                size: block.body.len(),
                max: max_bytes,
            });
        }
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let file = FileOut {
            rel,
            path,
            lang: block.lang,
            content: block.body,
        };
        match out.iter_mut().find(|f| f.rel == file.rel) {
            Some(existing) => *existing = file,
            None => out.push(file),
        }
    }
    if out.is_empty() {
        return Err(Error::Unparseable {
            what: "code block naming a file path",
            raw: text.to_owned(),
        });
    }
    Ok(out)
}

/// A line of only the fence's character, at least as many as opened it.
fn is_closing(line: &str, fence: &str) -> bool {
    let t = line.trim();
    let ch = fence.chars().next().unwrap_or('`');
    t.len() >= fence.len() && t.chars().all(|c| c == ch)
}

/// A fence opening: three or more backticks or tildes, then the info string.
fn opening(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    for ch in ['`', '~'] {
        let n = t.chars().take_while(|c| *c == ch).count();
        if n >= 3 {
            let (fence, info) = t.split_at(n);
            if ch == '`' && info.contains('`') {
                return None; // inline code such as ```x``` on one line
            }
            return Some((fence, info.trim()));
        }
    }
    None
}

fn parse_info(info: &str) -> (Option<String>, Option<String>) {
    let mut lang = None;
    let mut path = None;
    for (i, word) in info.split_whitespace().enumerate() {
        if let Some((key, value)) = word.split_once('=') {
            if matches!(key, "path" | "file" | "filename" | "title") {
                path = Some(value.trim_matches(['"', '\'']).to_owned());
            }
            continue;
        }
        if let Some((l, p)) = word
            .split_once(':')
            .filter(|(l, p)| !l.is_empty() && looks_like_path(p))
        {
            lang = Some(l.to_owned());
            path = Some(p.to_owned());
        } else if looks_like_path(word) {
            path = Some(word.to_owned());
        } else if i == 0 {
            lang = Some(word.to_lowercase());
        }
    }
    (lang, path)
}

/// A path named by a label line: `### src/lib.rs`, `**src/lib.rs**`, `` `src/lib.rs` ``,
/// `File: src/lib.rs`, `src/lib.rs:`.
pub(super) fn path_from_label(line: &str) -> Option<String> {
    let mut t = line.trim();
    t = t.trim_start_matches('#').trim();
    for prefix in ["File:", "file:", "Filename:", "filename:", "Path:", "path:"] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.trim();
        }
    }
    let t = t
        .trim_matches(|c| matches!(c, '*' | '`' | '_' | '"' | '\''))
        .trim_end_matches(':')
        .trim_matches(|c| matches!(c, '*' | '`' | '_'));
    (looks_like_path(t) && !t.contains(' ')).then(|| t.to_owned())
}

/// Has a file name with an extension (or a known extension-less name) and no spaces.
fn looks_like_path(s: &str) -> bool {
    if s.is_empty() || s.contains(char::is_whitespace) || s.len() > 255 {
        return false;
    }
    let name = s.rsplit('/').next().unwrap_or(s);
    let known = matches!(name, "Makefile" | "Dockerfile" | "LICENSE" | "Cargo.lock");
    let ext = name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric())
    });
    known || ext || s.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_with_languages_and_paths_in_every_style() {
        let text = "Here you go:\n\n```rust src/lib.rs\npub fn a() {}\n```\n\n### `src/main.rs`\n\n```rust\nfn main() {}\n```\n**tests/t.py**\n~~~python\nassert 1\n~~~\n```python path=b.py\nx = 1\n```\n```js\nno path\n```\n```go:cmd/x.go\npackage main\n```\n";
        let blocks = code_blocks(text);
        let got: Vec<(Option<&str>, Option<&str>)> = blocks
            .iter()
            .map(|b| (b.lang.as_deref(), b.path.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("rust"), Some("src/lib.rs")),
                (Some("rust"), Some("src/main.rs")),
                (Some("python"), Some("tests/t.py")),
                (Some("python"), Some("b.py")),
                (Some("js"), None),
                (Some("go"), Some("cmd/x.go")),
            ]
        );
        assert_eq!(blocks[0].body, "pub fn a() {}\n");
    }

    #[test]
    fn an_unclosed_last_fence_runs_to_the_end() {
        let blocks = code_blocks("```python a.py\nprint(1)\n");
        assert!(blocks[0].unterminated);
        assert_eq!(blocks[0].body, "print(1)\n");
    }

    #[test]
    fn files_are_checked_and_unparseable_keeps_raw() {
        let dir = tempfile::tempdir().unwrap();
        let ok = files("```py a/b.py\nx\n```", dir.path(), 100).unwrap();
        assert_eq!(ok[0].rel, PathBuf::from("a/b.py"));
        assert!(matches!(
            files("```py ../evil.py\nx\n```", dir.path(), 100),
            Err(Error::UnsafePath { .. })
        ));
        assert!(matches!(
            files("```py /etc/x.py\nx\n```", dir.path(), 100),
            Err(Error::UnsafePath { .. })
        ));
        assert!(matches!(
            files("```py big.py\nxxxxxxxx\n```", dir.path(), 4),
            Err(Error::TooLarge { .. })
        ));
        let err = files("just prose", dir.path(), 100).unwrap_err();
        assert_eq!(err.raw(), Some("just prose"));
    }
}
