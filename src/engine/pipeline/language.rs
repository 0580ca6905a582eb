//! The languages the loop supports and what differs between them: which files are tests,
//! the fence language, and the analysis language.

use serde::{Deserialize, Serialize};

use crate::engine::analysis::Language;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Python,
    Rust,
    Javascript,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Rust => "rust",
            Self::Javascript => "javascript",
        }
    }

    /// Parses a user's name for a language (`py`, `rs`, `js`, `node` too).
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_lowercase().as_str() {
            "python" | "py" | "python3" => Some(Self::Python),
            "rust" | "rs" => Some(Self::Rust),
            "javascript" | "js" | "node" | "nodejs" => Some(Self::Javascript),
            _ => None,
        }
    }

    /// The language of a file path, by extension.
    pub fn of_path(path: &str) -> Option<Self> {
        match path.rsplit_once('.').map(|(_, e)| e) {
            Some("py") => Some(Self::Python),
            Some("rs") => Some(Self::Rust),
            Some("js" | "mjs" | "cjs") => Some(Self::Javascript),
            _ => None,
        }
    }

    /// Whether `path` is a test file in this language's conventions.
    #[allow(clippy::case_sensitive_file_extension_comparisons)] // the test runners' own rules are case-sensitive
    pub fn is_test_path(self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        let in_tests_dir = path.starts_with("tests/") || path.contains("/tests/");
        match self {
            Self::Python => {
                name.ends_with(".py")
                    && (name.starts_with("test_") || name.ends_with("_test.py") || in_tests_dir)
                    && name != "conftest.py"
            }
            Self::Rust => name.ends_with(".rs") && in_tests_dir,
            Self::Javascript => {
                (name.ends_with(".js") || name.ends_with(".mjs") || name.ends_with(".cjs"))
                    && (name.contains(".test.")
                        || name.contains(".spec.")
                        || in_tests_dir
                        || path.starts_with("test/"))
            }
        }
    }

    /// The analysis engine's language for a path of this run, if it analyses it.
    pub fn analysis_language(path: &str) -> Option<Language> {
        Language::from_extension(path.rsplit_once('.')?.1)
    }
}
