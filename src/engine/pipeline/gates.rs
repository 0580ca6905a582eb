//! Gates: what must hold before a run's code is done. Each verdict says why in `detail`.

use serde::{Deserialize, Serialize};

use super::config::GatesConfig;
use super::integrity;
use super::state::RunState;
use crate::engine::analysis::Severity;

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub gate: String,
    pub passed: bool,
    pub detail: String,
}

/// Every enabled gate on the current state.
pub fn evaluate(config: &GatesConfig, state: &RunState) -> Vec<Verdict> {
    let mut out = Vec::new();
    let verdict = |gate: &str, passed: bool, detail: String| Verdict {
        gate: gate.to_owned(),
        passed,
        detail,
    };
    if config.syntax {
        let errors: Vec<String> = state
            .findings
            .iter()
            .filter(|f| f.message.starts_with("syntax error"))
            .map(|f| format!("{}:{}: {}", f.file, f.line, f.message))
            .collect();
        out.push(if errors.is_empty() {
            verdict("syntax", true, "no syntax errors".into())
        } else {
            verdict("syntax", false, errors.join("; "))
        });
    }
    if config.tests {
        out.push(match &state.report {
            None => verdict("tests", false, "the tests did not run".into()),
            Some(r) if r.passed == 0 && r.failed + r.errors == 0 => verdict(
                "tests",
                false,
                format!("no test ran (exit code {})", r.exit_code),
            ),
            Some(r) if r.failed + r.errors > 0 || r.exit_code != 0 => {
                let failing = r.failing();
                verdict(
                    "tests",
                    false,
                    format!(
                        "{} of {} failed{}",
                        r.failed + r.errors,
                        r.passed + r.failed + r.errors,
                        if failing.is_empty() {
                            format!(" (exit code {})", r.exit_code)
                        } else {
                            format!(": {}", failing.join(", "))
                        }
                    ),
                )
            }
            Some(r) => verdict("tests", true, format!("{} passed", r.passed)),
        });
    }
    if let Some(min) = Severity::parse(&config.findings) {
        let bad: Vec<String> = state
            .findings
            .iter()
            .filter(|f| Severity::parse(&f.severity).is_some_and(|s| s >= min))
            .map(|f| format!("{}:{}: [{}] {}", f.file, f.line, f.rule, f.message))
            .collect();
        out.push(if bad.is_empty() {
            verdict("findings", true, format!("no finding at or above {min}"))
        } else {
            verdict(
                "findings",
                false,
                format!("{} at or above {min}: {}", bad.len(), bad.join("; ")),
            )
        });
    }
    if config.review_score > 0 {
        out.push(match state.review.as_ref().and_then(|r| r.score) {
            Some(s) if s >= config.review_score => verdict(
                "review",
                true,
                format!("score {s} ≥ {}", config.review_score),
            ),
            Some(s) => verdict(
                "review",
                false,
                format!("score {s} < {}", config.review_score),
            ),
            None if state.review.is_some() => {
                verdict("review", false, "the review gave no score".into())
            }
            None => verdict("review", false, "no review".into()),
        });
    }
    if config.integrity {
        let v = integrity::check(
            state.language,
            &state.acceptance,
            &state.tests,
            &state.code,
            state.report.as_ref(),
        );
        out.push(if v.is_empty() {
            verdict(
                "integrity",
                true,
                format!("{} acceptance test file(s) intact", state.acceptance.len()),
            )
        } else {
            verdict(
                "integrity",
                false,
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        });
    }
    if let Some(r) = &state.smoke {
        out.push(verdict("smoke", r.passed(), r.summary()));
    }
    out
}

/// What the stuck detector compares between iterations: failing tests, findings, and the
/// failing gates.
pub fn signature(state: &RunState, verdicts: &[Verdict]) -> String {
    let mut parts: Vec<String> = state
        .report
        .as_ref()
        .map(super::state::TestReport::failing)
        .unwrap_or_default();
    parts.extend(
        state
            .findings
            .iter()
            .map(|f| format!("{}:{}:{}", f.file, f.rule, f.message)),
    );
    parts.extend(
        verdicts
            .iter()
            .filter(|v| !v.passed && v.gate != "review")
            .map(|v| v.detail.clone()),
    );
    parts.join("\n")
}
