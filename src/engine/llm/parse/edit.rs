//! Edits for the improve stage: search/replace blocks and unified diffs, and applying them.
//!
//! Applying never writes: it returns the new contents so the caller can version them as
//! artifacts first. An edit that does not match the current file exactly is retried ignoring
//! trailing whitespace; one that still does not match, or matches twice, is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fence::path_from_label;
use super::{Error, FileOut, safe_path};

/// One edit to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Replace `search` with `replace`; an empty `search` creates the file.
    Replace {
        path: String,
        search: String,
        replace: String,
    },
    /// Unified-diff hunks: each replaces its old lines (context and removals) with its new lines.
    Diff { path: String, hunks: Vec<Hunk> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub old: Vec<String>,
    pub new: Vec<String>,
}

impl Edit {
    pub fn path(&self) -> &str {
        match self {
            Self::Replace { path, .. } | Self::Diff { path, .. } => path,
        }
    }
}

/// Every search/replace block and diff in `text`.
pub fn edits(text: &str) -> Result<Vec<Edit>, Error> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t.starts_with("<<<<<<<") {
            let path = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty() && !l.starts_with("```") && !l.starts_with("~~~"))
                .and_then(path_from_label);
            let (search, after_search) = collect(&lines, i + 1, |l| l.starts_with("======="));
            let (replace, after_replace) =
                collect(&lines, after_search + 1, |l| l.starts_with(">>>>>>>"));
            if let Some(path) = path {
                out.push(Edit::Replace {
                    path,
                    search,
                    replace,
                });
            }
            i = after_replace + 1;
            continue;
        }
        if let (Some(old), Some(new)) = (
            t.strip_prefix("--- "),
            lines.get(i + 1).and_then(|l| l.trim().strip_prefix("+++ ")),
        ) {
            let path = diff_path(new).or_else(|| diff_path(old));
            let mut hunks = Vec::new();
            let mut j = i + 2;
            while j < lines.len() && lines[j].starts_with("@@") {
                let mut hunk = Hunk {
                    old: Vec::new(),
                    new: Vec::new(),
                };
                j += 1;
                while j < lines.len() {
                    let l = lines[j];
                    if l.starts_with("@@")
                        || l.starts_with("--- ")
                        || l.starts_with("diff ")
                        || l.starts_with("```")
                    {
                        break;
                    }
                    if let Some(rest) = l.strip_prefix('+') {
                        hunk.new.push(rest.to_owned());
                    } else if let Some(rest) = l.strip_prefix('-') {
                        hunk.old.push(rest.to_owned());
                    } else if let Some(rest) = l.strip_prefix(' ') {
                        hunk.old.push(rest.to_owned());
                        hunk.new.push(rest.to_owned());
                    } else if l.is_empty() {
                        hunk.old.push(String::new());
                        hunk.new.push(String::new());
                    } else if !l.starts_with('\\') {
                        break;
                    }
                    j += 1;
                }
                trim_trailing_blank_context(&mut hunk);
                hunks.push(hunk);
            }
            if let Some(path) = path.filter(|_| !hunks.is_empty()) {
                out.push(Edit::Diff { path, hunks });
            }
            i = j;
            continue;
        }
        i += 1;
    }
    if out.is_empty() {
        return Err(Error::Unparseable {
            what: "search/replace block or unified diff",
            raw: text.to_owned(),
        });
    }
    Ok(out)
}

fn collect(lines: &[&str], from: usize, end: impl Fn(&str) -> bool) -> (String, usize) {
    let mut j = from;
    let mut body = Vec::new();
    while j < lines.len() && !end(lines[j].trim()) {
        body.push(lines[j]);
        j += 1;
    }
    let mut text = body.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    (text, j)
}

/// Blank lines a model left after a hunk are not context.
fn trim_trailing_blank_context(h: &mut Hunk) {
    while h.old.last().is_some_and(String::is_empty) && h.new.last().is_some_and(String::is_empty) {
        h.old.pop();
        h.new.pop();
    }
}

fn diff_path(spec: &str) -> Option<String> {
    let p = spec.split('\t').next()?.trim();
    if p == "/dev/null" {
        return None;
    }
    let p = p
        .strip_prefix("a/")
        .or_else(|| p.strip_prefix("b/"))
        .unwrap_or(p);
    Some(p.to_owned())
}

/// The new content of every file the edits touch, in path order. Nothing is written.
pub fn apply_edits(root: &Path, edits: &[Edit], max_bytes: usize) -> Result<Vec<FileOut>, Error> {
    let mut files: BTreeMap<PathBuf, (PathBuf, String)> = BTreeMap::new();
    for edit in edits {
        let rel = edit.path();
        let full = safe_path(root, rel)?;
        let key = full.strip_prefix(root).unwrap_or(&full).to_path_buf();
        let current = match files.get(&key) {
            Some((_, c)) => c.clone(),
            None => match std::fs::read_to_string(&full) {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => {
                    return Err(Error::Read {
                        path: rel.to_owned(),
                        reason: e.to_string(),
                    });
                }
            },
        };
        let updated = match edit {
            Edit::Replace {
                search, replace, ..
            } => apply_replace(rel, &current, search, replace)?,
            Edit::Diff { hunks, .. } => apply_hunks(rel, &current, hunks)?,
        };
        if updated.len() > max_bytes {
            return Err(Error::TooLarge {
                path: rel.to_owned(),
                size: updated.len(),
                max: max_bytes,
            });
        }
        files.insert(key, (full, updated));
    }
    Ok(files
        .into_iter()
        .map(|(rel, (path, content))| FileOut {
            rel,
            path,
            lang: None,
            content,
        })
        .collect())
}

fn mismatch(path: &str, why: impl Into<String>) -> Error {
    Error::EditMismatch {
        path: path.to_owned(),
        why: why.into(),
    }
}

fn apply_replace(path: &str, current: &str, search: &str, replace: &str) -> Result<String, Error> {
    if search.is_empty() {
        if current.is_empty() {
            return Ok(replace.to_owned());
        }
        return Err(mismatch(
            path,
            "an empty SEARCH only creates new files, and this one exists",
        ));
    }
    match current.matches(search).count() {
        1 => return Ok(current.replacen(search, replace, 1)),
        0 => {}
        n => {
            return Err(mismatch(
                path,
                format!("the SEARCH text appears {n} times; include more lines to make it unique"),
            ));
        }
    }
    let old: Vec<String> = search.lines().map(str::to_owned).collect();
    let new: Vec<String> = replace.lines().map(str::to_owned).collect();
    replace_lines(path, current, &old, &new, 0).map(|(s, _)| s)
}

fn apply_hunks(path: &str, current: &str, hunks: &[Hunk]) -> Result<String, Error> {
    let mut text = current.to_owned();
    let mut from = 0;
    for hunk in hunks {
        if hunk.old.is_empty() {
            // Pure addition with no context: append (new files arrive this way).
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            for l in &hunk.new {
                text.push_str(l);
                text.push('\n');
            }
            continue;
        }
        let (updated, next) = replace_lines(path, &text, &hunk.old, &hunk.new, from)?;
        text = updated;
        from = next;
    }
    Ok(text)
}

/// Replaces the unique run of lines equal to `old` (ignoring trailing whitespace), searching
/// from line `from`; returns the new text and the line after the replacement.
fn replace_lines(
    path: &str,
    current: &str,
    old: &[String],
    new: &[String],
    from: usize,
) -> Result<(String, usize), Error> {
    let lines: Vec<&str> = current.lines().collect();
    let matches_at = |at: usize| {
        old.iter()
            .zip(&lines[at..at + old.len()])
            .all(|(a, b)| a.trim_end() == b.trim_end())
    };
    let last_start = lines.len().checked_sub(old.len());
    // Several matches: the first after the previous hunk, as patch does.
    let found = last_start.and_then(|last| (from.min(last + 1)..=last).find(|&at| matches_at(at)));
    let Some(at) = found else {
        return Err(mismatch(
            path,
            format!("these lines are not in the file:\n{}", old.join("\n")),
        ));
    };
    let mut out: Vec<&str> = lines[..at].to_vec();
    out.extend(new.iter().map(String::as_str));
    out.extend_from_slice(&lines[at + old.len()..]);
    let mut text = out.join("\n");
    if current.ends_with('\n') || current.is_empty() {
        text.push('\n');
    }
    Ok((text, at + new.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_replace_blocks_apply_and_mismatches_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.py"),
            "def f():\n    return 1   \n\nx = f()\n",
        )
        .unwrap();
        let answer = "Fix:\n\n```python\na.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n```\n\nnew.py\n<<<<<<< SEARCH\n=======\nprint('hi')\n>>>>>>> REPLACE\n";
        let e = edits(answer).unwrap();
        assert_eq!(e.len(), 2);
        let out = apply_edits(dir.path(), &e, 1_000).unwrap();
        assert_eq!(out[0].rel, PathBuf::from("a.py"));
        assert_eq!(out[0].content, "def f():\n    return 2\n\nx = f()\n");
        assert_eq!(out[1].content, "print('hi')\n");

        let bad = edits("a.py\n<<<<<<< SEARCH\nnot there\n=======\nx\n>>>>>>> REPLACE\n").unwrap();
        assert!(matches!(
            apply_edits(dir.path(), &bad, 1_000),
            Err(Error::EditMismatch { .. })
        ));
        let evil = edits("../a.py\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n").unwrap();
        assert!(matches!(
            apply_edits(dir.path(), &evil, 1_000),
            Err(Error::UnsafePath { .. })
        ));
    }

    #[test]
    fn unified_diffs_apply_hunk_by_hunk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("m.rs"),
            "fn a() {\n    1\n}\n\nfn b() {\n    2\n}\n",
        )
        .unwrap();
        let diff = "```diff\n--- a/m.rs\n+++ b/m.rs\n@@ -1,3 +1,3 @@\n fn a() {\n-    1\n+    10\n }\n@@ -5,3 +5,3 @@\n fn b() {\n-    2\n+    20\n }\n```\n";
        let e = edits(diff).unwrap();
        let out = apply_edits(dir.path(), &e, 1_000).unwrap();
        assert_eq!(
            out[0].content,
            "fn a() {\n    10\n}\n\nfn b() {\n    20\n}\n"
        );
        let new_file = "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n";
        let out = apply_edits(dir.path(), &edits(new_file).unwrap(), 1_000).unwrap();
        assert_eq!(out[0].content, "one\ntwo\n");
        assert!(edits("no edits here").unwrap_err().raw().is_some());
    }
}
