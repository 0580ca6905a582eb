//! The `[analysis]` config section: which rules run, their severities and rule parameters, and
//! [`Params`], the parameters the rule hooks read (part of the cache fingerprint).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::finding::Severity;

/// The `[analysis]` section of the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Rule ids or id prefixes to run (e.g. `PY1`, `RS101`); empty runs every rule.
    pub select: Vec<String>,
    /// Rule ids or id prefixes never to run; wins over `select`.
    pub ignore: Vec<String>,
    /// Cyclomatic complexity above which a function is reported (PY301).
    pub complexity_threshold: u32,
    /// Parameter count above which a function is reported (PY302).
    pub max_arguments: u32,
    /// Whether `print(...)` in library code is reported (PY402).
    pub print_in_library: bool,
    /// Path fragments marking test code (asserts and unwraps are fine there).
    pub test_paths: Vec<String>,
    /// Path fragments marking scripts and entry points (prints are fine there).
    pub script_paths: Vec<String>,
    /// Files larger than this are skipped with a note rather than analysed.
    pub max_file_bytes: u64,
    /// Per-rule overrides, keyed by rule id: `[analysis.rules.PY101] severity = "error"`.
    pub rules: BTreeMap<String, RuleOverride>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            select: Vec::new(),
            ignore: Vec::new(),
            complexity_threshold: 10,
            max_arguments: 5,
            print_in_library: true,
            test_paths: [
                "test_",
                "_test.",
                "tests/",
                "test/",
                "testing/",
                "conftest.py",
                ".test.",
                ".spec.",
                "benches/",
            ]
            .map(String::from)
            .to_vec(),
            script_paths: [
                "__main__.py",
                "scripts/",
                "bin/",
                "examples/",
                "tools/",
                "setup.py",
                "manage.py",
                "main.rs",
                "build.rs",
            ]
            .map(String::from)
            .to_vec(),
            max_file_bytes: 10 * 1024 * 1024,
            rules: BTreeMap::new(),
        }
    }
}

/// One rule's override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleOverride {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

/// Rule parameters from the config.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Params {
    pub complexity_threshold: u32,
    pub max_arguments: u32,
    pub print_in_library: bool,
}

impl Params {
    pub(crate) fn of(config: &AnalysisConfig) -> Self {
        Self {
            complexity_threshold: config.complexity_threshold,
            max_arguments: config.max_arguments,
            print_in_library: config.print_in_library,
        }
    }
}
