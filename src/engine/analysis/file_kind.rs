//! What kind of file is analysed (test, script, package init): some rules only apply to
//! library code. Classified from the path alone, so the same file always gets the same kind.

use std::path::Path;

use super::registry::RuleSet;

/// What kind of file is analysed; some rules only apply to library code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileKind {
    /// Test code: asserts, unwraps and prints are fine.
    pub is_test: bool,
    /// A script or entry point: prints and exits are fine.
    pub is_script: bool,
    /// A package `__init__.py` (imports are re-exports).
    pub is_init: bool,
}

impl FileKind {
    /// Classifies a path with the rule set's `test_paths` / `script_paths` fragments.
    pub fn of_path(path: &Path, rules: &RuleSet) -> Self {
        let s = path.to_string_lossy().replace('\\', "/");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let hit = |frags: &[String]| {
            frags.iter().any(|f| {
                if f.ends_with('/') {
                    s.starts_with(f.as_str()) || s.contains(&format!("/{f}"))
                } else {
                    name.contains(f.as_str())
                }
            })
        };
        Self {
            is_test: hit(&rules.test_paths),
            is_script: hit(&rules.script_paths),
            is_init: name == "__init__.py",
        }
    }
}
