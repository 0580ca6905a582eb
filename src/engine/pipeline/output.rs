//! Reading a stage's model reply with the parsers of `llm::parse`: files (a fence naming the
//! path, or a `# file: path` first line), edits for improve (search/replace blocks and unified
//! diffs, applied to the run's current files in a scratch directory), and the review.
//!
//! Every path is checked against the project root; a reply that yields nothing usable is a
//! parse error that keeps the raw text.

use std::collections::BTreeMap;
use std::path::Path;

use crate::engine::llm::parse::{self, CodeBlock, DEFAULT_MAX_FILE_BYTES, Error};

use super::state::ReviewBrief;

/// The files of a multi-file answer, by cleaned relative path.
pub fn files(text: &str, root: &Path) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for block in parse::code_blocks(text) {
        let Some((rel, body)) = named(&block) else {
            continue;
        };
        let path = parse::safe_path(root, &rel)?;
        if body.len() > DEFAULT_MAX_FILE_BYTES {
            return Err(Error::TooLarge {
                path: rel,
                size: body.len(),
                max: DEFAULT_MAX_FILE_BYTES,
            });
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        out.insert(rel, body);
    }
    if out.is_empty() {
        return Err(Error::Unparseable {
            what: "code block naming a file path",
            raw: text.to_owned(),
        });
    }
    Ok(out)
}

/// A block's path and body: from the fence line or the line before it, else from a first line
/// `# file: path` / `// file: path` (which is then dropped from the body).
fn named(block: &CodeBlock) -> Option<(String, String)> {
    if let Some(path) = &block.path {
        return Some((path.clone(), block.body.clone()));
    }
    let (first, rest) = block.body.split_once('\n').unwrap_or((&block.body, ""));
    let t = first.trim();
    let label = ["#", "//", "--", "<!--"]
        .iter()
        .find_map(|p| t.strip_prefix(p))?
        .trim()
        .trim_end_matches("-->")
        .trim();
    let path = ["file:", "File:", "path:", "filename:"]
        .iter()
        .find_map(|p| label.strip_prefix(p))?
        .trim();
    (!path.is_empty() && !path.contains(' ')).then(|| (path.to_owned(), rest.to_owned()))
}

/// An improve reply applied to `current`: edits if it has any, else whole files. Returns the
/// new contents of every file it changed.
pub fn improve(
    text: &str,
    current: &BTreeMap<String, String>,
    root: &Path,
) -> Result<BTreeMap<String, String>, Error> {
    let edits = match parse::edits(text) {
        Ok(e) if !e.is_empty() => e,
        // No edits: whole files, then (a fence naming the path, or a `# file:` first line).
        Ok(_) | Err(Error::Unparseable { .. }) => {
            return files(text, root).map_err(|e| match e {
                Error::Unparseable { raw, .. } => Error::Unparseable {
                    what: "search/replace block, unified diff or whole file naming its path",
                    raw,
                },
                other => other,
            });
        }
        Err(e) => return Err(e),
    };
    let scratch = tempfile::Builder::new()
        .prefix("kiln-improve-")
        .tempdir()
        .map_err(|e| Error::Read {
            path: "(scratch directory)".into(),
            reason: e.to_string(),
        })?;
    for (path, content) in current {
        let p = parse::safe_path(scratch.path(), path)?;
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&p, content).map_err(|e| Error::Read {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    }
    for edit in &edits {
        // Paths are checked against the real root too (symlinks there lead out).
        parse::safe_path(root, edit.path())?;
    }
    let applied = parse::apply_edits(scratch.path(), &edits, DEFAULT_MAX_FILE_BYTES)?;
    Ok(applied
        .into_iter()
        .map(|f| (f.rel.to_string_lossy().into_owned(), f.content))
        .collect())
}

/// The review, normalised.
pub fn review(text: &str) -> Result<ReviewBrief, Error> {
    let r = parse::review(text)?;
    Ok(ReviewBrief {
        score: r.score,
        issues: r
            .issues
            .iter()
            .map(|i| {
                let severity = serde_json::to_value(i.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let at = match (&i.file, i.line) {
                    (Some(f), Some(l)) => format!(" {f}:{l}"),
                    (Some(f), None) => format!(" {f}"),
                    _ => String::new(),
                };
                format!("{severity}:{at} {}", i.message)
            })
            .collect(),
        suggestions: r.suggestions,
        source: serde_json::to_value(r.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_and_first_line_paths_are_read_and_unsafe_ones_refused() {
        let root = tempfile::tempdir().unwrap();
        let text = "Here:\n```python calc.py\ndef f(): pass\n```\n```python\n# file: test_calc.py\nimport calc\n```\n";
        let got = files(text, root.path()).unwrap();
        assert_eq!(got["calc.py"], "def f(): pass\n");
        assert_eq!(got["test_calc.py"], "import calc\n");
        let err = files("```python ../evil.py\nx\n```\n", root.path()).unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err}");
        let err = files("no code at all", root.path()).unwrap_err();
        assert_eq!(err.raw(), Some("no code at all"));
    }

    #[test]
    fn improve_applies_edits_to_current_files_and_names_a_mismatch() {
        let root = tempfile::tempdir().unwrap();
        let current: BTreeMap<String, String> = [(
            "calc.py".to_owned(),
            "def add(a, b):\n    return a - b\n".to_owned(),
        )]
        .into();
        let reply = "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n";
        let got = improve(reply, &current, root.path()).unwrap();
        assert_eq!(got["calc.py"], "def add(a, b):\n    return a + b\n");
        let bad =
            "calc.py\n<<<<<<< SEARCH\n    return a * b\n=======\n    return 0\n>>>>>>> REPLACE\n";
        let err = improve(bad, &current, root.path()).unwrap_err();
        assert!(matches!(err, Error::EditMismatch { .. }), "{err}");
        let whole = "```python calc.py\ndef add(a, b):\n    return b + a\n```\n";
        assert_eq!(
            improve(whole, &current, root.path()).unwrap()["calc.py"],
            "def add(a, b):\n    return b + a\n"
        );
    }
}
