//! The languages kiln parses, and how a file's language is detected.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A parser kiln knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Rust,
    JavaScript,
    TypeScript,
    Tsx,
}

impl Language {
    pub const ALL: [Self; 5] = [
        Self::Python,
        Self::Rust,
        Self::JavaScript,
        Self::TypeScript,
        Self::Tsx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Rust => "rust",
            Self::JavaScript => "javascript",
            Self::TypeScript => "typescript",
            Self::Tsx => "tsx",
        }
    }

    /// Parses a name as given to `--language` (`py`, `python`, `ts`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "py" => Some(Self::Python),
            "rust" | "rs" => Some(Self::Rust),
            "javascript" | "js" | "jsx" | "node" => Some(Self::JavaScript),
            "typescript" | "ts" => Some(Self::TypeScript),
            "tsx" => Some(Self::Tsx),
            _ => None,
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "py" | "pyi" | "pyw" => Some(Self::Python),
            "rs" => Some(Self::Rust),
            "js" | "mjs" | "cjs" | "jsx" => Some(Self::JavaScript),
            "ts" | "mts" | "cts" => Some(Self::TypeScript),
            "tsx" => Some(Self::Tsx),
            _ => None,
        }
    }

    /// From the extension, else from a `#!` line naming an interpreter.
    pub fn detect(path: &Path, head: &[u8]) -> Option<Self> {
        if let Some(lang) = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Self::from_extension)
        {
            return Some(lang);
        }
        Self::from_shebang(head)
    }

    pub fn from_shebang(head: &[u8]) -> Option<Self> {
        let line = head.strip_prefix(b"#!")?;
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_whitespace();
        let mut prog = words.next()?.rsplit('/').next()?;
        if prog == "env" {
            prog = words.find(|w| !w.starts_with('-'))?;
        }
        if prog.starts_with("python") || prog == "pypy" || prog == "pypy3" {
            Some(Self::Python)
        } else if prog == "node" || prog == "deno" || prog == "bun" {
            Some(Self::JavaScript)
        } else if prog == "ts-node" || prog == "tsx" {
            Some(Self::TypeScript)
        } else {
            None
        }
    }

    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Self::Python => tree_sitter_python::LANGUAGE.into(),
            Self::Rust => tree_sitter_rust::LANGUAGE.into(),
            Self::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Self::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Self::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        }
    }

    /// Whether rules written for `family` apply to this language.
    pub fn is_in(self, family: Family) -> bool {
        match family {
            Family::Python => self == Self::Python,
            Family::Rust => self == Self::Rust,
            Family::JavaScript => matches!(self, Self::JavaScript | Self::TypeScript | Self::Tsx),
            Family::TypeScript => matches!(self, Self::TypeScript | Self::Tsx),
        }
    }

    /// The line-comment marker used in suppressions.
    pub fn comment_marker(self) -> &'static str {
        if self == Self::Python { "#" } else { "//" }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which languages a rule is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Python,
    Rust,
    /// JavaScript, TypeScript and TSX.
    JavaScript,
    /// TypeScript and TSX only.
    TypeScript,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Rust => "rust",
            Self::JavaScript => "javascript",
            Self::TypeScript => "typescript",
        }
    }
}
