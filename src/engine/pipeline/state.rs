//! A run's working state and what each stage adds to it.
//!
//! Invariant: the state is a pure fold of the stages' outputs in order. Each stage's
//! [`StageOutput`] is stored as JSON in `stages.output`; resume and retry rebuild the state by
//! replaying the stored outputs of finished stages, so no finished model call is made again.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::language::Lang;

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    pub name: String,
    /// `passed | failed | error | skipped`.
    pub outcome: String,
    pub message: Option<String>,
}

/// What a test run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub errors: u32,
    pub tests: Vec<TestCase>,
    pub exit_code: u8,
    /// The last lines of the output (what the improve stage is shown).
    pub tail: String,
}

impl TestReport {
    /// Names of tests that did not pass or skip, sorted (the stuck detector compares these).
    pub fn failing(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tests
            .iter()
            .filter(|t| t.outcome == "failed" || t.outcome == "error")
            .map(|t| t.name.clone())
            .collect();
        v.sort();
        v
    }
}

/// One analysis finding, as the pipeline keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingBrief {
    pub file: String,
    pub line: u32,
    pub rule: String,
    pub severity: String,
    pub message: String,
}

/// The parsed review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewBrief {
    pub score: Option<u8>,
    /// `severity: file:line message`, one per issue.
    pub issues: Vec<String>,
    pub suggestions: Vec<String>,
    /// How it was read: json, repaired_json, fallback.
    pub source: String,
}

/// What one stage produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StageOutput {
    Spec {
        text: String,
    },
    /// Whole new contents of the files the stage wrote (generate, improve, docs, custom code).
    Files {
        files: BTreeMap<String, String>,
    },
    /// The acceptance tests.
    Tests {
        files: BTreeMap<String, String>,
    },
    Findings {
        findings: Vec<FindingBrief>,
    },
    TestRun {
        report: TestReport,
    },
    Review {
        review: ReviewBrief,
    },
    /// A custom stage's text, readable by later stages under its name.
    Note {
        name: String,
        text: String,
    },
    Exported {
        files: Vec<String>,
    },
    /// The smoke stage's HTTP checks.
    Smoke {
        report: super::smoke::SmokeReport,
    },
    /// Nothing to do (e.g. no model configured), with the reason.
    Skipped {
        reason: String,
    },
}

/// Everything the next stage may read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub request: String,
    pub language: Lang,
    pub spec: String,
    /// Code under test, by project-relative path.
    pub code: BTreeMap<String, String>,
    /// Test files, by path.
    pub tests: BTreeMap<String, String>,
    /// The tests as the `tests` stage wrote them: what `improve` may not weaken.
    pub acceptance: BTreeMap<String, String>,
    /// Files the user gave as context.
    pub context: BTreeMap<String, String>,
    pub docs: BTreeMap<String, String>,
    pub findings: Vec<FindingBrief>,
    pub report: Option<TestReport>,
    pub review: Option<ReviewBrief>,
    pub notes: BTreeMap<String, String>,
    pub exported: Vec<String>,
    /// The last smoke stage's checks (the `smoke` gate), when it ran.
    #[serde(default)]
    pub smoke: Option<super::smoke::SmokeReport>,
}

impl RunState {
    /// Folds one stage's output into the state.
    pub fn apply(&mut self, stage: &str, output: &StageOutput) {
        match output {
            StageOutput::Spec { text } => text.clone_into(&mut self.spec),
            StageOutput::Files { files } => {
                for (path, content) in files {
                    let markdown = std::path::Path::new(path)
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("md"));
                    if stage == "docs" || markdown && !self.code.contains_key(path) {
                        self.docs.insert(path.clone(), content.clone());
                    } else if self.tests.contains_key(path) || self.language.is_test_path(path) {
                        self.tests.insert(path.clone(), content.clone());
                    } else {
                        self.code.insert(path.clone(), content.clone());
                    }
                }
            }
            StageOutput::Tests { files } => {
                for (path, content) in files {
                    self.tests.insert(path.clone(), content.clone());
                    self.acceptance.insert(path.clone(), content.clone());
                }
            }
            StageOutput::Findings { findings } => findings.clone_into(&mut self.findings),
            StageOutput::TestRun { report } => self.report = Some(report.clone()),
            StageOutput::Review { review } => self.review = Some(review.clone()),
            StageOutput::Note { name, text } => {
                self.notes.insert(name.clone(), text.clone());
            }
            StageOutput::Exported { files } => files.clone_into(&mut self.exported),
            StageOutput::Smoke { report } => self.smoke = Some(report.clone()),
            StageOutput::Skipped { .. } => {}
        }
    }

    /// Code and tests together, by path: what check, test_run and export see.
    pub fn all_files(&self) -> BTreeMap<String, String> {
        let mut out = self.context.clone();
        out.extend(self.code.clone());
        out.extend(self.tests.clone());
        out
    }

    /// Files to give a model: each as a fenced block naming its path.
    pub fn render_files(files: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for (path, content) in files {
            out.push_str("```");
            out.push_str(path);
            out.push('\n');
            out.push_str(content);
            if !content.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("```\n\n");
        }
        out
    }

    /// The test results and findings as the review and improve prompts show them.
    pub fn render_results(&self) -> String {
        let mut out = String::new();
        match &self.report {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "{} passed, {} failed, {} errors, {} skipped",
                    r.passed, r.failed, r.errors, r.skipped
                );
                for t in r.tests.iter().filter(|t| t.outcome != "passed") {
                    let _ = writeln!(
                        out,
                        "{} {}: {}",
                        t.outcome.to_uppercase(),
                        t.name,
                        t.message.as_deref().unwrap_or("")
                    );
                }
                if r.failed + r.errors > 0 && !r.tail.is_empty() {
                    out.push_str("\nOutput:\n");
                    out.push_str(&r.tail);
                    out.push('\n');
                }
            }
            None => out.push_str("(the tests have not run)\n"),
        }
        if !self.findings.is_empty() {
            out.push_str("\nAnalysis findings:\n");
            for f in &self.findings {
                let _ = writeln!(
                    out,
                    "{}:{}: {} [{}] {}",
                    f.file, f.line, f.severity, f.rule, f.message
                );
            }
        }
        out
    }
}
