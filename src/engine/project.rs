//! What a project directory is: its main language, detected from its files, for `kiln project
//! add` and any front-end that registers a project (the dashboard, the language server).
//!
//! Reads only: files are counted by extension, bounded by a file count, so a huge tree costs
//! a bounded walk; nothing is written.

use std::path::Path;

/// Directories that hold other people's code or build output, never the project's language.
const VENDORED: &[&str] = &[
    "node_modules",
    "target",
    "vendor",
    "venv",
    "__pycache__",
    "dist",
    "build",
    "site-packages",
    "third_party",
];

/// Files looked at before the count is called good enough: bounds the time on huge trees.
const MAX_FILES: usize = 50_000;

/// The language most of the project's source files are in: files counted by extension, skipping
/// what git ignores, hidden directories (`.git`, `.venv`, ...) and vendored or built code; the
/// manifest files decide when there is no source yet.
pub fn detect_language(root: &Path) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&'static str, usize> =
        std::collections::BTreeMap::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .parents(false)
        .filter_entry(|e| {
            !(e.file_type().is_some_and(|t| t.is_dir())
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| VENDORED.contains(&n)))
        })
        .build();
    for entry in walker.flatten().take(MAX_FILES) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let language = entry
            .path()
            .extension()
            .and_then(|e| e.to_str())
            .and_then(language_of_extension);
        if let Some(language) = language {
            *counts.entry(language).or_default() += 1;
        }
    }
    // Most files wins; a tie goes to the name first in order, so the result is stable.
    let best = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(l, _)| (*l).to_owned());
    best.or_else(|| language_of_manifests(root))
}

fn language_of_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "py" | "pyi" | "pyw" => "python",
        "rs" => "rust",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "mts" | "cts" | "tsx" => "typescript",
        "go" => "go",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "c++",
        "cs" => "c#",
        "rb" => "ruby",
        "php" => "php",
        "swift" => "swift",
        "scala" => "scala",
        "lua" => "lua",
        "sh" | "bash" => "shell",
        "zig" => "zig",
        "hs" => "haskell",
        "ex" | "exs" => "elixir",
        _ => return None,
    })
}

/// A language guess from well-known manifest files.
fn language_of_manifests(root: &Path) -> Option<String> {
    let has = |f: &str| root.join(f).exists();
    let lang = if has("Cargo.toml") {
        "rust"
    } else if has("tsconfig.json") {
        "typescript"
    } else if has("package.json") {
        "javascript"
    } else if has("pyproject.toml") || has("setup.py") || has("requirements.txt") {
        "python"
    } else {
        return None;
    };
    Some(lang.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn most_files_win_vendored_and_ignored_code_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.py"), "").unwrap();
        std::fs::write(root.join("b.py"), "").unwrap();
        std::fs::write(root.join("c.rs"), "").unwrap();
        std::fs::create_dir(root.join("node_modules")).unwrap();
        for i in 0..5 {
            std::fs::write(root.join(format!("node_modules/{i}.js")), "").unwrap();
        }
        assert_eq!(detect_language(root).as_deref(), Some("python"));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(detect_language(empty.path()), None);
        std::fs::write(empty.path().join("Cargo.toml"), "").unwrap();
        assert_eq!(detect_language(empty.path()).as_deref(), Some("rust"));
    }
}
