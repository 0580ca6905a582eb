//! Scripted model replies for pipeline tests: one [`Reply`] per model stage, in the order the
//! pipeline calls them (spec, generate, tests, review, improve, review, docs), for a small
//! request in each language whose first code has a bug the tests catch and the improve fixes.
//! Also a kiln world whose config points every stage at the local test server.

use super::kiln::Kiln;
use super::llm_server::{LlmServer, Reply};

/// One language's story.
pub struct Story {
    pub lang: &'static str,
    pub spec: String,
    /// Generate: the buggy first code.
    pub generate: String,
    pub tests: String,
    /// Review of the buggy code: low score, asks for the fix.
    pub review_bad: String,
    /// Improve: the fix as a search/replace edit.
    pub improve: String,
    pub review_good: String,
    pub docs: String,
    /// Files export writes, relative to the root.
    pub files: Vec<&'static str>,
}

impl Story {
    /// The replies of a run where improve fixes the bug and every gate passes.
    pub fn happy(&self) -> Vec<Reply> {
        [
            &self.spec,
            &self.generate,
            &self.tests,
            &self.review_bad,
            &self.improve,
            &self.review_good,
            &self.docs,
        ]
        .into_iter()
        .map(|t| Reply::text(t).usage(200, 100))
        .collect()
    }
}

fn review(score: u8, issue: &str) -> String {
    if issue.is_empty() {
        return format!(
            "Looks good.\n```json\n{{\"issues\": [], \"suggestions\": [], \"score\": {score}}}\n```\n"
        );
    }
    // Prose around a fence, "high" for a severity and "title" for the message: what models send.
    format!(
        "Here is my review.\n```json\n{{\"issues\": [{{\"severity\": \"high\", \"title\": \"{issue}\"}}], \"suggestions\": [\"fix it\"], \"score\": {score}}}\n```\nThanks.\n"
    )
}

pub fn python() -> Story {
    Story {
        lang: "python",
        spec: "# Spec\nadd(a, b) returns the sum of two integers.\n1. add(2, 3) == 5\n".into(),
        generate: "Here is the code:\n```python calc.py\ndef add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a - b\n```\n".into(),
        tests: "```python test_calc.py\nfrom calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n```\n".into(),
        review_bad: review(3, "add subtracts instead of adding"),
        improve: "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n".into(),
        review_good: review(9, ""),
        docs: "```markdown docs/calc.md\n# calc\n\n`add(a, b)` returns the sum.\n```\n".into(),
        files: vec!["calc.py", "test_calc.py", "docs/calc.md"],
    }
}

pub fn javascript() -> Story {
    Story {
        lang: "javascript",
        spec: "# Spec\nadd(a, b) returns the sum.\n".into(),
        generate: "```javascript add.js\n'use strict';\nfunction add(a, b) {\n  return a - b;\n}\nmodule.exports = { add };\n```\n".into(),
        tests: "```javascript test/add.test.js\n'use strict';\nconst test = require('node:test');\nconst assert = require('node:assert');\nconst { add } = require('../add.js');\n\ntest('adds', () => {\n  assert.strictEqual(add(2, 3), 5);\n});\n\ntest('zero', () => {\n  assert.strictEqual(add(0, 0), 0);\n});\n```\n".into(),
        review_bad: review(2, "add subtracts"),
        improve: "add.js\n<<<<<<< SEARCH\n  return a - b;\n=======\n  return a + b;\n>>>>>>> REPLACE\n".into(),
        review_good: review(8, ""),
        docs: "```markdown docs/add.md\n# add\n```\n".into(),
        files: vec!["add.js", "test/add.test.js", "docs/add.md"],
    }
}

pub fn rust() -> Story {
    Story {
        lang: "rust",
        spec: "# Spec\nadd(a, b) returns the sum.\n".into(),
        generate: "```toml Cargo.toml\n[package]\nname = \"adder\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n```\n```rust src/lib.rs\n/// The sum of `a` and `b`.\npub fn add(a: i64, b: i64) -> i64 {\n    a - b\n}\n```\n".into(),
        tests: "```rust tests/add.rs\nuse adder::add;\n\n#[test]\nfn adds() {\n    assert_eq!(add(2, 3), 5);\n}\n\n#[test]\nfn zero() {\n    assert_eq!(add(0, 0), 0);\n}\n```\n".into(),
        review_bad: review(2, "add subtracts"),
        improve: "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,4 +1,4 @@\n /// The sum of `a` and `b`.\n pub fn add(a: i64, b: i64) -> i64 {\n-    a - b\n+    a + b\n }\n".into(),
        review_good: review(9, ""),
        docs: "```markdown docs/add.md\n# add\n```\n".into(),
        files: vec!["Cargo.toml", "src/lib.rs", "tests/add.rs", "docs/add.md"],
    }
}

/// A kiln world whose every stage uses the test server (priced, fast retries).
pub fn kiln_with_model(server: &LlmServer, extra_toml: &str) -> Kiln {
    let mut k = Kiln::new();
    k.env("KILN_TEST_KEY", "sk-pipeline-test");
    k.config(&format!(
        r#"
[models]
detect_ollama = false
default = "local"
[models.retry]
initial_backoff_ms = 10
max_backoff_ms = 50
[models.named.local]
base_url = "{}"
model = "test-model"
api_key_env = "KILN_TEST_KEY"
price_in_per_mtok = 3.0
price_out_per_mtok = 15.0
timeout_ms = 3000
{extra_toml}
"#,
        server.base_url()
    ));
    k
}
